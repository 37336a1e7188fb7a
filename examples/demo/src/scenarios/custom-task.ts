import { defineTask } from "@upkeep/core";
import * as z from "zod";
import type { DemoScenario } from "../scenario.ts";

/** A host's own task, written with defineTask: it counts signups of the last day. */
const dailySignups = defineTask({
  id: "daily-signups",
  description: "Counts the accounts created in the last 24 hours",
  schedule: "0 6 * * *",
  input: z.object({ table: z.string().default("demo_users") }),
  defaultInput: {},
  run: async (ctx, input) => {
    const db = ctx.db;
    if (!db) throw new Error("this task needs the host's database");
    const since = ctx.now().getTime() - 86_400_000;
    const row = await db(input.table).where("created_at", ">=", since).count({ n: "*" }).first();
    const signups = Number(row?.n ?? 0);
    ctx.progress({ done: 1, total: 1, unit: "queries" });
    ctx.logger.info({ signups }, "counted signups");
    return { signups };
  },
});

export const customTask: DemoScenario = {
  title: "a host's own task (defineTask)",
  async seed(db, now) {
    await db.schema.createTable("demo_users", (table) => {
      table.increments("id");
      table.string("email").notNullable();
      table.bigInteger("created_at").notNullable();
    });
    const rows = Array.from({ length: 12 }, (_, i) => ({ email: `user${i}@example.com`, created_at: now.getTime() - i * 3 * 3_600_000 }));
    await db("demo_users").insert(rows);
  },
  tasks: () => [{ task: dailySignups }],
};
