import type { IncomingMessage, ServerResponse } from "node:http";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { HealthState, TaskHealth } from "../health.ts";
import type { Upkeep } from "../register.ts";
import type { RunRecord } from "../store/types.ts";
import { BUILT_IN_FIGURES, type FigureReader, type TaskFigure } from "./figures.ts";

/** Options of `upkeepMetrics`. */
export interface UpkeepMetricsOptions {
  /**
   * The registry the metrics join; pass the host's own to serve them beside its other metrics.
   * @default a new Registry
   */
  registry?: Registry;
  /**
   * Prefix of every metric name.
   * @default "upkeep_"
   */
  prefix?: string;
  /**
   * Figure readers by task id, merged over the built-in ones (cleanup, heartbeats, ioc-ingest,
   * key-rotation), for tasks of the host or built-ins registered under another id.
   * @default {}
   */
  figures?: Record<string, FigureReader>;
  /**
   * Buckets of the run duration histogram, in seconds.
   * @default [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600]
   */
  buckets?: number[];
}

/** What `upkeepMetrics` returns. */
export interface UpkeepMetrics {
  /** The registry holding the metrics (the host's own, when it passed one). */
  readonly registry: Registry;
  /** A `node:http` request handler that answers with the registry's text exposition (serve it at `/metrics`). */
  handler(request: IncomingMessage, response: ServerResponse): void;
  /** The exposition text, for frameworks that send responses themselves. */
  text(): Promise<string>;
  /** Unsubscribes from the instance's events and removes the metrics from the registry. */
  close(): void;
}

const STATES: readonly HealthState[] = ["new", "up", "running", "late", "missed", "failing", "paused", "disabled"];
const seconds = (date: Date | null | undefined) => (date ? date.getTime() / 1000 : undefined);

/**
 * Prometheus metrics of an upkeep instance through prom-client (an optional peer dependency):
 * runs by task, status and trigger and their durations (counted by this process), the last success
 * and last run time, the health state and the failure streak of every task (read from the shared
 * store at each scrape, so every process reports the cluster's view), and the figures the tasks
 * report (rows deleted per cleanup policy, tokens suspended, indicators listed, keys rotated).
 */
export function upkeepMetrics(upkeep: Upkeep, options: UpkeepMetricsOptions = {}): UpkeepMetrics {
  const registry = options.registry ?? new Registry();
  const prefix = options.prefix ?? "upkeep_";
  const readers = { ...BUILT_IN_FIGURES, ...options.figures };
  const registers = [registry];
  const names: string[] = [];
  const track = <T>(metric: T, name: string): T => {
    names.push(name);
    return metric;
  };

  // One health read per scrape, shared by the gauges that prom-client collects side by side.
  let snapshot: Promise<TaskHealth[]> | undefined;
  const health = () => {
    // prom-client collects every gauge before the read settles, so they share it; the next scrape reads afresh.
    snapshot ??= upkeep.health().finally(() => {
      snapshot = undefined;
    });
    return snapshot;
  };
  const healthGauge = (name: string, help: string, labelNames: string[], fill: (gauge: Gauge, all: TaskHealth[]) => void) =>
    track(
      new Gauge({
        name: prefix + name,
        help,
        labelNames,
        registers,
        async collect() {
          this.reset();
          fill(this, await health());
        },
      }),
      prefix + name,
    );

  const runs = track(
    new Counter({
      name: `${prefix}runs_total`,
      help: "Runs finished in this process, by task, status and trigger",
      labelNames: ["task", "status", "trigger"],
      registers,
    }),
    `${prefix}runs_total`,
  );
  const duration = track(
    new Histogram({
      name: `${prefix}run_duration_seconds`,
      help: "Duration of the runs finished in this process",
      labelNames: ["task", "status"],
      buckets: options.buckets ?? [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
      registers,
    }),
    `${prefix}run_duration_seconds`,
  );
  healthGauge(
    "task_last_success_timestamp_seconds",
    "When the task's latest succeeded tick run finished (Unix time)",
    ["task"],
    (gauge, all) => {
      for (const task of all) {
        const at = seconds(task.lastSuccess?.finishedAt);
        if (at !== undefined) gauge.set({ task: task.id }, at);
      }
    },
  );
  healthGauge("task_last_run_timestamp_seconds", "When the task's latest tick run started (Unix time)", ["task"], (gauge, all) => {
    for (const task of all) {
      const at = seconds(task.lastRun?.claimedAt);
      if (at !== undefined) gauge.set({ task: task.id }, at);
    }
  });
  healthGauge("task_health", "The task's health state: 1 for the current state, 0 for the others", ["task", "state"], (gauge, all) => {
    for (const task of all) for (const state of STATES) gauge.set({ task: task.id, state }, task.state === state ? 1 : 0);
  });
  healthGauge("task_consecutive_failures", "Failed tick runs in a row since the task's last success", ["task"], (gauge, all) => {
    for (const task of all) gauge.set({ task: task.id }, task.consecutiveFailures);
  });

  const figures = new Map<string, Counter | Gauge>();
  const record = (taskId: string, figure: TaskFigure) => {
    const name = prefix + figure.name;
    const labels = { task: taskId, ...figure.labels };
    let metric = figures.get(name);
    if (!metric) {
      const config = { name, help: figure.help, labelNames: Object.keys(labels), registers };
      metric = figure.kind === "counter" ? new Counter(config) : new Gauge(config);
      figures.set(name, track(metric, name));
    }
    if (metric instanceof Counter) metric.inc(labels, Math.max(0, figure.value));
    else metric.set(labels, figure.value);
  };
  const finished = ({ run }: { run: RunRecord }) => {
    runs.inc({ task: run.taskId, status: run.status, trigger: run.trigger });
    if (run.durationMs !== null) duration.observe({ task: run.taskId, status: run.status }, run.durationMs / 1000);
    const read = readers[run.taskId];
    if (!read || run.dryRun || run.result === null || run.result === undefined) return;
    for (const figure of read(run.result)) record(run.taskId, figure);
  };
  const unsubscribe = [upkeep.on("run:success", finished), upkeep.on("run:failure", finished), upkeep.on("run:skipped", finished)];

  const text = () => registry.metrics();
  return {
    registry,
    text,
    handler(_request, response) {
      text().then(
        (body) => {
          response.writeHead(200, { "content-type": registry.contentType });
          response.end(body);
        },
        () => {
          // The store could not be read: say so without the cause (it may name a host or a user).
          response.writeHead(503, { "content-type": "text/plain; charset=utf-8" });
          response.end("upkeep metrics unavailable: the run store could not be read\n");
        },
      );
    },
    close() {
      for (const off of unsubscribe) off();
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}
