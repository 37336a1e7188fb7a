// Tick-to-start latency of the croner and BullMQ adapters (the time from a tick to the task's first
// line, claim included) against the raw library firing a no-op on the same every-second pattern in
// the same run, and the runner's added cost per run (claim, lease, record on SQLite) against the
// least a persisted run log costs: one insert and one update of a row.
import { bullmqAdapter } from "@upkeep/bullmq";
import { type Adapter, defineTask, manualAdapter, registerTasks, SECOND_TICKS, silentLogger, type UpkeepConfig } from "@upkeep/core";
import { cronerAdapter } from "@upkeep/croner";
import { createTestDatabase } from "@upkeep/testkit";
import { Queue, Worker } from "bullmq";
import { Cron } from "croner";
import { Redis } from "ioredis";
import type { Knex } from "knex";
import { bench, timed } from "../lib.ts";

const SAMPLES = Number(process.env.BENCH_ADAPTER_SAMPLES ?? 15);
const PER_RUN = Number(process.env.BENCH_ADAPTER_RUNS ?? 300);
const EVERY_SECOND = "* * * * * *";
const result = bench("adapters");

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** Collects `SAMPLES` latencies; the first firing is a warm-up and not kept. */
function collector() {
  const samples: number[] = [];
  let seen = 0;
  let done = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  return {
    add(latencyMs: number) {
      if (seen++ === 0) return;
      if (samples.length < SAMPLES) samples.push(latencyMs);
      if (samples.length === SAMPLES) done();
    },
    finished,
    samples,
  };
}

async function ours(db: Knex, prefix: string, adapter: Adapter): Promise<number[]> {
  const latencies = collector();
  const task = defineTask({
    id: "noop",
    schedule: "* * * * *",
    run: (ctx) => latencies.add(Date.now() - ctx.scheduledFor.getTime()),
  });
  const config: UpkeepConfig = Object.assign(
    { tasks: [{ task, schedule: EVERY_SECOND }], db, tablePrefix: prefix, logger: silentLogger, historyRetention: 0 },
    { [SECOND_TICKS]: true },
  );
  const upkeep = registerTasks(adapter, config);
  await upkeep.start();
  await latencies.finished;
  await upkeep.stop({ timeout: 5000 });
  return latencies.samples;
}

async function rawCroner(): Promise<number[]> {
  const latencies = collector();
  const cron = new Cron(EVERY_SECOND, { protect: true, catch: true }, () => {
    latencies.add(Date.now() - Math.floor(Date.now() / 1000) * 1000);
  });
  await latencies.finished;
  cron.stop();
  return latencies.samples;
}

async function rawBullmq(connection: Redis, prefix: string): Promise<number[]> {
  const latencies = collector();
  const queue = new Queue("raw", { connection, prefix });
  await queue.upsertJobScheduler("noop", { pattern: EVERY_SECOND }, { name: "noop", opts: { removeOnComplete: 100 } });
  const worker = new Worker(
    "raw",
    async (job) => {
      latencies.add(Date.now() - (job.opts.prevMillis ?? job.timestamp));
    },
    { connection, prefix, concurrency: 8 },
  );
  await latencies.finished;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return latencies.samples;
}

function report(adapter: string, mine: number[], raw: number[]) {
  result.report({ metric: `${adapter}.tick-to-start.p50`, ours: quantile(mine, 0.5), baseline: quantile(raw, 0.5), unit: "ms" });
  result.report({ metric: `${adapter}.tick-to-start.p99`, ours: quantile(mine, 0.99), baseline: quantile(raw, 0.99), unit: "ms" });
}

const database = await createTestDatabase("sqlite");
const connection = new Redis(process.env.UPKEEP_TEST_REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: null });
const prefix = `upkbench${process.pid}`;
try {
  report("croner", await ours(database.knex, "c_", cronerAdapter()), await rawCroner());
  const mine = await ours(database.knex, "b_", bullmqAdapter({ connection, prefix }));
  const used = new Queue("upkeep", { connection, prefix });
  await used.obliterate({ force: true });
  await used.close();
  report("bullmq", mine, await rawBullmq(connection, `${prefix}raw`));

  // The runner's own cost per run: a no-op scheduled run on SQLite, tick after tick.
  const db = database.knex;
  const adapter = manualAdapter();
  const upkeep = registerTasks(adapter, {
    tasks: [defineTask({ id: "noop", schedule: "* * * * *", run: () => {} })],
    db,
    tablePrefix: "r_",
    logger: silentLogger,
    historyRetention: 0,
  });
  await upkeep.start();
  const base = Date.UTC(2030, 0, 1);
  await db.schema.createTable("bench_log", (table) => {
    table.increments("id");
    table.string("task_id");
    table.bigInteger("at");
    table.string("status");
  });
  const run = await timed(async () => {
    for (let i = 0; i < PER_RUN; i++) await adapter.fire("noop", new Date(base + i * 60_000));
  });
  const log = await timed(async () => {
    for (let i = 0; i < PER_RUN; i++) {
      const [id] = await db("bench_log").insert({ task_id: "noop", at: base + i, status: "running" });
      await db("bench_log").where({ id }).update({ status: "succeeded" });
    }
  });
  result.report({ metric: "runner.per-run", ours: run.ms / PER_RUN, baseline: log.ms / PER_RUN, unit: "ms" });
  await upkeep.stop();
  result.write();
} finally {
  await connection.quit();
  await database.destroy();
}
