import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createTestDatabase, type Dialect, probeDialects, type TestDatabase } from "@upkeep/testkit";

/** One measured figure, against a baseline measured in the same run. */
export interface BenchFigure {
  metric: string;
  ours: number;
  baseline: number;
  /** `ms`, `MB`, `s` are lower-is-better; `rows/s`, `ops/s`, `runs/s` higher-is-better. */
  unit: string;
}

const round = (value: number) => (Math.abs(value) >= 100 ? Math.round(value) : Number(value.toPrecision(4)));

/**
 * Collects a benchmark's figures: prints each as `BENCH <name> <metric> ours=… baseline=… ratio=…
 * unit=…` and, on `write()`, stores them in test/bench/results/<name>.json.
 */
export function bench(name: string) {
  const figures: Array<BenchFigure & { ratio: number }> = [];
  return {
    report(figure: BenchFigure) {
      const ratio = figure.baseline === 0 ? Number.NaN : figure.ours / figure.baseline;
      figures.push({ ...figure, ratio });
      console.log(
        `BENCH ${name} ${figure.metric} ours=${round(figure.ours)} baseline=${round(figure.baseline)} ratio=${round(ratio)} unit=${figure.unit}`,
      );
    },
    write() {
      const dir = fileURLToPath(new URL("results/", import.meta.url));
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        `${dir}${name}.json`,
        `${JSON.stringify({ name, at: new Date().toISOString(), node: process.version, figures }, null, 2)}\n`,
      );
    },
  };
}

/** Wall time of `work` in milliseconds. */
export async function timed<T>(work: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await work();
  return { ms: performance.now() - start, value };
}

/** Samples the process's RSS while `work` runs; returns the peak growth in MB over the start. */
export async function peakRssGrowthMb<T>(work: () => Promise<T>, everyMs = 5): Promise<{ mb: number; value: T }> {
  globalThis.gc?.();
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, everyMs);
  try {
    const value = await work();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { mb: (peak - start) / 1024 / 1024, value };
  } finally {
    clearInterval(timer);
  }
}

/** Runs `measure` on each available dialect, with a fresh test database dropped afterwards. */
export async function onEachDialect(dialects: Dialect[], measure: (database: TestDatabase) => Promise<void>): Promise<void> {
  for (const status of await probeDialects(dialects)) {
    if (!status.available) continue;
    const database = await createTestDatabase(status.dialect);
    try {
      await measure(database);
    } finally {
      await database.destroy();
    }
  }
}

/**
 * Row `n` of a synthetic run history: one scheduled run a minute from `first` (epoch ms, on a
 * minute), round robin over `task0` … `task<tasks - 1>`, every tenth one failed, each 500 ms long.
 */
export function historyRow(n: number, first: number, tasks: number, result?: unknown) {
  const at = first + n * 60_000;
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    task_id: `task${n % tasks}`,
    claim_key: `tick:${at}`,
    scheduled_for: at,
    trigger: "schedule",
    status: n % 10 === 0 ? "failed" : "succeeded",
    attempt: 1,
    dry_run: false,
    claimed_at: at,
    finished_at: at + 500,
    duration_ms: 500,
    ...(result === undefined ? {} : { result: JSON.stringify(result) }),
    host: "bench",
    pid: 1,
  };
}
