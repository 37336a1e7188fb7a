// The task set every process loads: the scheduler keeps it in Redis, the workers run it.
import { defineConfig, defineTask } from "@upkeep/core";
import knex from "knex";

export const db = knex({ client: "pg", connection: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test" });

const reportQueueDepth = defineTask({
  id: "report-queue-depth",
  description: "Logs which worker ran it (and on which tick)",
  schedule: "* * * * *",
  run: (ctx) => {
    ctx.logger.info({ pid: process.pid, scheduledFor: ctx.scheduledFor.toISOString() }, "report-queue-depth ran");
    return { pid: process.pid };
  },
});

const vacuumAudit = defineTask({
  id: "vacuum-audit",
  description: "A nightly job, staggered away from the others",
  schedule: "30 3 * * *",
  timezone: "Europe/Berlin",
  run: () => ({ vacuumed: true }),
});

export const config = defineConfig({
  db,
  tablePrefix: process.env.UPKEEP_TABLE_PREFIX ?? "upkeep_",
  tasks: [reportQueueDepth, vacuumAudit],
});

/** The BullMQ key prefix: one per environment sharing a Redis. */
export const prefix = process.env.UPKEEP_BULL_PREFIX ?? "bull";
