// The cost of one run through the runner (claim, overlap check, lease, record) against calling the
// task function directly, on SQLite and PostgreSQL. The task is a small real unit of work: one
// indexed query, so the ratio shows what the runner adds to a typical short task.
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
  const upkeep = registerTasks(manualAdapter(), { tasks: [task], db, logger: silentLogger, historyRetention: 0 });
  await upkeep.migrate();
  for (let i = 0; i < 50; i++) {
    await work({ db });
    await upkeep.run("bench");
  }
  const direct = await timed(async () => {
    for (let i = 0; i < RUNS; i++) await work({ db });
  });
  const runner = await timed(async () => {
    for (let i = 0; i < RUNS; i++) await upkeep.run("bench");
  });
  const oursRate = RUNS / (runner.ms / 1000);
  const baseRate = RUNS / (direct.ms / 1000);
  result.report({ metric: `${dialect}.throughput`, ours: oursRate, baseline: baseRate, unit: "runs/s" });
  result.report({ metric: `${dialect}.per_run`, ours: runner.ms / RUNS, baseline: direct.ms / RUNS, unit: "ms" });
  await upkeep.stop();
}

await onEachDialect(["sqlite", "postgres"], measure);
result.write();
