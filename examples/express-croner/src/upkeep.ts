// The few lines that add upkeep: a task, the croner adapter, and the app's own knex.
import { defineTask, registerTasks } from "@upkeep/core";
import { cronerAdapter } from "@upkeep/croner";
import type { Knex } from "knex";

const expireSessions = defineTask({
  id: "expire-sessions",
  description: "Deletes sessions that expired",
  schedule: "*/5 * * * *",
  catchUp: true,
  run: async (ctx) => {
    const deleted = ctx.dryRun ? 0 : await ctx.db?.("sessions").where("expires_at", "<", ctx.now().getTime()).delete();
    return { deleted };
  },
});

export const createUpkeep = (db: Knex) => registerTasks(cronerAdapter(), { db, tasks: [expireSessions] });
