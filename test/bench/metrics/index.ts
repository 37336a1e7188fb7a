// The cost of one Prometheus scrape of upkeepMetrics (it reads every task's health from the store,
// then serialises) against prom-client serialising a registry holding the same series already set,
// on SQLite and PostgreSQL, with seven tasks and 10,000 runs of history.
import { defineTask, manualAdapter, registerTasks, silentLogger } from "@upkeep/core";
import { upkeepMetrics } from "@upkeep/core/metrics";
import type { TestDatabase } from "@upkeep/testkit";
import { Gauge, Registry } from "prom-client";
import { bench, historyRow, onEachDialect, timed } from "../lib.ts";

const SCRAPES = Number(process.env.BENCH_METRICS_SCRAPES ?? 200);
const HISTORY = 10_000;
const TASKS = 7;
const result = bench("metrics");

async function measure(database: TestDatabase) {
  const dialect = database.dialect;
  const tasks = Array.from({ length: TASKS }, (_, i) => defineTask({ id: `task${i}`, schedule: "* * * * *", run: () => ({ i }) }));
  const upkeep = registerTasks(manualAdapter(), { tasks, db: database.knex, logger: silentLogger, healthInterval: 0 });
  await upkeep.start();
  const start = Date.now() - HISTORY * 60_000;
  const first = Math.floor(start / 60_000) * 60_000;
  const rows = Array.from({ length: HISTORY }, (_, n) => historyRow(n, first, TASKS));
  for (let i = 0; i < rows.length; i += 500) await database.knex("upkeep_runs").insert(rows.slice(i, i + 500));

  const metrics = upkeepMetrics(upkeep);
  // The baseline: the same gauges, already set, serialised by prom-client alone.
  const plain = new Registry();
  const health = new Gauge({ name: "upkeep_task_health", help: "h", labelNames: ["task", "state"], registers: [plain] });
  const success = new Gauge({ name: "upkeep_task_last_success_timestamp_seconds", help: "s", labelNames: ["task"], registers: [plain] });
  const last = new Gauge({ name: "upkeep_task_last_run_timestamp_seconds", help: "l", labelNames: ["task"], registers: [plain] });
  const failures = new Gauge({ name: "upkeep_task_consecutive_failures", help: "f", labelNames: ["task"], registers: [plain] });
  for (const task of tasks) {
    for (const state of ["new", "up", "running", "late", "missed", "failing", "paused", "disabled"])
      health.set({ task: task.id, state }, 0);
    success.set({ task: task.id }, 1);
    last.set({ task: task.id }, 1);
    failures.set({ task: task.id }, 0);
  }
  for (let i = 0; i < 20; i++) {
    await metrics.text();
    await plain.metrics();
  }
  const ours = await timed(async () => {
    for (let i = 0; i < SCRAPES; i++) await metrics.text();
  });
  const base = await timed(async () => {
    for (let i = 0; i < SCRAPES; i++) await plain.metrics();
  });
  result.report({ metric: `${dialect}.per_scrape`, ours: ours.ms / SCRAPES, baseline: base.ms / SCRAPES, unit: "ms" });
  metrics.close();
  await upkeep.stop();
}

await onEachDialect(["sqlite", "postgres"], measure);
result.write();
