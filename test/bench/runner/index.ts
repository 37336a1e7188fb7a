// The cost of one run through the runner (claim with its overlap check, lease, record) on SQLite,
// PostgreSQL and MariaDB, manual runs and scheduled ticks (whose claim also honours the pause flag),
// against two baselines measured in the same run: calling the task function directly,
// and the least a durable exactly-once run can cost, the task plus exactly one insert-on-conflict
// claim and one update of the outcome in the run history table itself. The task is a small
// real unit of work: one indexed query, so the ratios show what the runner adds to a short task.
import { randomUUID } from "node:crypto";
import { defineTask, manualAdapter, registerTasks, silentLogger, type TaskContext } from "@upkeep/core";
import type { TestDatabase } from "@upkeep/testkit";
import type { Knex } from "knex";
import { bench, onEachDialect, timed } from "../lib.ts";

const RUNS = Number(process.env.BENCH_RUNNER_RUNS ?? 1000);
const result = bench("runner");

async function measure(database: TestDatabase) {
  const { dialect } = database;
  const db: Knex = database.knex;
  await db.schema.createTable("bench_items", (table) => {
    table.increments("id");
    table.string("name");
  });
  await db("bench_items").insert(Array.from({ length: 100 }, (_, i) => ({ name: `item ${i}` })));
  const work = async (ctx: Pick<TaskContext, "db">) => {
    const row = await ctx.db?.("bench_items").where("id", "<", 10).count({ n: "*" }).first();
    return { n: Number(row?.n) };
  };
  const task = defineTask({ id: "bench", schedule: "* * * * *", run: (ctx) => work(ctx) });
  const adapter = manualAdapter();
  const upkeep = registerTasks(adapter, { tasks: [task], db, logger: silentLogger, historyRetention: 0, healthInterval: 0 });
  await upkeep.start();
  // Each scheduled run serves its own tick, a minute after the previous one.
  let tick = Date.UTC(2030, 0, 1);
  const scheduled = async () => {
    tick += 60_000;
    const run = await adapter.fire("bench", new Date(tick));
    if (run?.status !== "succeeded") throw new Error(`scheduled bench run ended ${run?.status}`);
  };
  for (let i = 0; i < 50; i++) {
    await work({ db });
    await upkeep.run("bench");
    await scheduled();
  }
  /**
   * The floor: claim the run (one insert-on-conflict into the run history, same table and
   * indexes), do the work, record the outcome (one update).
   */
  const logged = async () => {
    const id = randomUUID();
    const now = Date.now();
    await db("upkeep_runs")
      .insert({
        id,
        task_id: "floor",
        claim_key: `manual:${id}`,
        scheduled_for: now,
        trigger: "manual",
        status: "running",
        dry_run: false,
        claimed_at: now,
        lease_until: now + 30_000,
        host: "bench",
        pid: process.pid,
      })
      .onConflict(["task_id", "claim_key"])
      .ignore();
    const result = await work({ db });
    await db("upkeep_runs")
      .where({ id, status: "running" })
      .update({ status: "succeeded", finished_at: Date.now(), lease_until: null, result: JSON.stringify(result) });
  };
  for (let i = 0; i < 50; i++) await logged();
  // Interleaved in ten slices, so load from elsewhere on the machine falls on all four alike.
  const ms = { direct: 0, floor: 0, runner: 0, scheduled: 0 };
  const slice = Math.ceil(RUNS / 10);
  for (let done = 0; done < RUNS; done += slice) {
    const n = Math.min(slice, RUNS - done);
    ms.direct += (
      await timed(async () => {
        for (let i = 0; i < n; i++) await work({ db });
      })
    ).ms;
    ms.floor += (
      await timed(async () => {
        for (let i = 0; i < n; i++) await logged();
      })
    ).ms;
    ms.runner += (
      await timed(async () => {
        for (let i = 0; i < n; i++) await upkeep.run("bench");
      })
    ).ms;
    ms.scheduled += (
      await timed(async () => {
        for (let i = 0; i < n; i++) await scheduled();
      })
    ).ms;
  }
  const direct = { ms: ms.direct };
  const floor = { ms: ms.floor };
  const runner = { ms: ms.runner };
  const oursRate = RUNS / (runner.ms / 1000);
  const baseRate = RUNS / (direct.ms / 1000);
  result.report({ metric: `${dialect}.throughput`, ours: oursRate, baseline: baseRate, unit: "runs/s" });
  result.report({ metric: `${dialect}.per_run`, ours: runner.ms / RUNS, baseline: direct.ms / RUNS, unit: "ms" });
  result.report({ metric: `${dialect}.per_run_vs_claim_update`, ours: runner.ms / RUNS, baseline: floor.ms / RUNS, unit: "ms" });
  result.report({
    metric: `${dialect}.scheduled_per_run_vs_claim_update`,
    ours: ms.scheduled / RUNS,
    baseline: floor.ms / RUNS,
    unit: "ms",
  });
  await upkeep.stop();
}

await onEachDialect(["sqlite", "postgres", "mariadb"], measure);
result.write();
