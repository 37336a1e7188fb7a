// Benchmark: the training task's SQL aggregation against pulling the raw rows into the process and
// aggregating there (time and peak RSS, each in its own process), and training time on the result.
// UPKEEP_BENCH_TRAINING_ROWS (default 1,000,000) sets the row count; UPKEEP_BENCH_DIALECT
// (sqlite, postgres or mariadb; default sqlite) the database.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createTestDatabase, type Dialect, knexConfig } from "@upkeep/testkit";
import knex, { type Knex } from "knex";
import { silentLogger } from "../../../packages/core/src/logger.ts";
import { aggregateTelemetry } from "../../../packages/core/src/tasks/training/aggregate.ts";
import { threatClassifier } from "../../../packages/core/src/tasks/training/classifier.ts";
import { slaForecaster } from "../../../packages/core/src/tasks/training/forecaster.ts";
import { type TrainingInput, trainingInputSchema } from "../../../packages/core/src/tasks/training/options.ts";
import { createTelemetryTable, insertTelemetry, syntheticTelemetry, type TelemetryRow } from "../../fixtures/telemetry.ts";
import { bench, peakRssGrowthMb, timed } from "../lib.ts";

const HOUR = 3_600_000;
const END = Date.UTC(2026, 2, 10, 1);
const HOURS = 96;
const range = { historyFrom: END - HOURS * HOUR, from: END - 24 * HOUR, to: END };
const input: TrainingInput = trainingInputSchema.parse({ telemetry: { columns: { timestamp: "ts", label: "is_threat" } }, history: "3d" });

/** Aggregates in SQL, as the task does. */
async function viaSql(db: Knex) {
  const { dataset } = await aggregateTelemetry(db, input, range, "bench-secret-0123456789", new AbortController().signal);
  return dataset;
}

/** The baseline: every raw row of the history pulled into the process, then aggregated in JS. */
async function viaProcess(db: Knex) {
  const rows = (await db("telemetry")
    .select("ts", "tenant_id", "endpoint", "latency_ms", "status", "client_ip", "is_threat")
    .where("ts", ">=", range.historyFrom)
    .andWhere("ts", "<", range.to)) as TelemetryRow[];
  const series = new Map<string, { tenants: Set<string>; latencies: number[]; errors: number }>();
  const clients = new Map<string, { requests: number; errors: number; endpoints: Set<string>; label: number }>();
  for (const row of rows) {
    const hour = Math.floor(Number(row.ts) / HOUR);
    for (const key of [`${hour}|platform`, `${hour}|${row.endpoint}`]) {
      const entry = series.get(key) ?? { tenants: new Set<string>(), latencies: [], errors: 0 };
      series.set(key, entry);
      entry.tenants.add(row.tenant_id);
      entry.latencies.push(row.latency_ms);
      if (row.status >= 500) entry.errors++;
    }
    if (Number(row.ts) >= range.from) {
      const key = `${hour}|${row.client_ip}`;
      const entry = clients.get(key) ?? { requests: 0, errors: 0, endpoints: new Set<string>(), label: 0 };
      clients.set(key, entry);
      entry.requests++;
      if (row.status >= 400) entry.errors++;
      entry.endpoints.add(row.endpoint);
      entry.label = Math.max(entry.label, Number(row.is_threat));
    }
  }
  let kept = 0;
  for (const entry of series.values()) {
    if (entry.tenants.size < input.minTenants) continue;
    entry.latencies.sort((a, b) => a - b);
    kept += entry.latencies[Math.floor(entry.latencies.length * 0.95)] === undefined ? 0 : 1;
  }
  return { kept, clients: clients.size };
}

async function measure(mode: string, dialect: Dialect, target: string) {
  const db = knex(knexConfig(dialect, target));
  globalThis.gc?.();
  const { mb, value } = await peakRssGrowthMb(() => timed<unknown>(() => (mode === "sql" ? viaSql(db) : viaProcess(db))));
  const out: Record<string, number> = { ms: value.ms, mb };
  if (mode === "sql") {
    const dataset = value.value as Awaited<ReturnType<typeof viaSql>>;
    const context = { signal: new AbortController().signal, seed: 42, holdout: 0.25, logger: silentLogger };
    out.clientHours = dataset.clients.length;
    out.seriesPoints = dataset.series.length;
    const classifier = await timed(() => threatClassifier().train(dataset, context));
    const forecaster = await timed(() => slaForecaster().train(dataset, context));
    out.classifierMs = classifier.ms;
    out.forecasterMs = forecaster.ms;
    // The same training with yesterday's champion handed in (here: the model just trained), which
    // each built-in trainer scores on the same hold-out; the difference is the re-scoring.
    const champion = (result: typeof classifier.value) => ("artifact" in result ? { champion: result.artifact } : {});
    out.classifierWithChampionMs = (await timed(() => threatClassifier().train(dataset, { ...context, ...champion(classifier.value) }))).ms;
    out.forecasterWithChampionMs = (await timed(() => slaForecaster().train(dataset, { ...context, ...champion(forecaster.value) }))).ms;
  }
  await db.destroy();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function child(mode: string, dialect: Dialect, target: string): Record<string, number> {
  const result = spawnSync(
    process.execPath,
    [
      "--expose-gc",
      "--max-old-space-size=8192",
      "--conditions=dev-source",
      "--import",
      "tsx",
      fileURLToPath(import.meta.url),
      "measure",
      mode,
      dialect,
      target,
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  if (result.status !== 0) throw new Error(`${mode} measurement failed`);
  return JSON.parse(result.stdout.trim().split("\n").pop() as string) as Record<string, number>;
}

async function main() {
  const [command, mode, dialectArg, target] = process.argv.slice(2);
  if (command === "measure") return measure(mode as string, dialectArg as Dialect, target as string);
  const count = Number(process.env.UPKEEP_BENCH_TRAINING_ROWS ?? 1_000_000);
  const dialect = (process.env.UPKEEP_BENCH_DIALECT ?? "sqlite") as Dialect;
  const database = await createTestDatabase(dialect);
  try {
    await createTelemetryTable(database.knex);
    const seeded = await timed(() =>
      insertTelemetry(
        database.knex,
        syntheticTelemetry({
          end: END,
          hours: HOURS,
          clientsPerTenant: Math.max(2, Math.min(60, Math.floor(count / HOURS / 40))),
          threatsPerHour: 6,
          rowsPerHour: Math.ceil(count / HOURS),
          seed: 5,
        }),
      ),
    );
    console.log(`seeded ${seeded.value} rows on ${dialect} in ${Math.round(seeded.ms / 1000)} s`);
    const sql = child("sql", dialect, database.target);
    const raw = child("process", dialect, database.target);
    const report = bench("training");
    report.report({
      metric: `aggregate ${seeded.value} rows (SQL vs raw rows in process) on ${dialect}`,
      ours: sql.ms as number,
      baseline: raw.ms as number,
      unit: "ms",
    });
    report.report({
      metric: `peak RSS growth of the aggregation on ${dialect}`,
      ours: sql.mb as number,
      baseline: raw.mb as number,
      unit: "MB",
    });
    report.report({
      metric: `train classifier on ${sql.clientHours} client-hours (vs the SQL aggregation)`,
      ours: sql.classifierMs as number,
      baseline: sql.ms as number,
      unit: "ms",
    });
    report.report({
      metric: `train forecaster on ${sql.seriesPoints} series-hours (vs the SQL aggregation)`,
      ours: sql.forecasterMs as number,
      baseline: sql.ms as number,
      unit: "ms",
    });
    const runMs = (sql.ms as number) + (sql.classifierMs as number) + (sql.forecasterMs as number);
    const rescoreMs =
      Math.max(0, (sql.classifierWithChampionMs as number) - (sql.classifierMs as number)) +
      Math.max(0, (sql.forecasterWithChampionMs as number) - (sql.forecasterMs as number));
    report.report({
      metric: "re-score both champions on the same hold-out (vs the run's aggregation and training)",
      ours: rescoreMs,
      baseline: runMs,
      unit: "ms",
    });
    report.write();
  } finally {
    await database.destroy();
  }
}

await main();
