import { cleanupTask } from "@upkeep/core";
import type { Knex } from "knex";
import type { DemoScenario } from "../scenario.ts";

const DAY = 86_400_000;
const TABLES = ["magic_links", "login_attempts", "outbox_events", "outbox_events_archive"] as const;

async function counts(db: Knex): Promise<string> {
  const parts: string[] = [];
  for (const table of TABLES) {
    const row = await db(table).count({ n: "*" }).first();
    parts.push(`${table}=${Number(row?.n ?? 0)}`);
  }
  return parts.join("  ");
}

let before = "";

/** Retention: expired magic links and old login attempts deleted, published outbox events archived. */
export const cleanup: DemoScenario = {
  title: "cleanup: retention policies (auth + platform presets)",
  async seed(db, now) {
    const at = (days: number) => new Date(now.getTime() - days * DAY);
    await db.schema.createTable("magic_links", (table) => {
      table.increments("id");
      table.datetime("expires_at").notNullable().index();
    });
    await db("magic_links").insert([{ expires_at: at(2) }, { expires_at: at(1) }, { expires_at: at(-1) }]);
    await db.schema.createTable("login_attempts", (table) => {
      table.increments("id");
      table.datetime("created_at").notNullable().index();
    });
    await db("login_attempts").insert([120, 95, 91, 30, 1].map((days) => ({ created_at: at(days) })));
    for (const name of ["outbox_events", "outbox_events_archive"]) {
      await db.schema.createTable(name, (table) => {
        if (name === "outbox_events") table.increments("id");
        else table.integer("id").primary();
        table.string("topic", 64).notNullable();
        table.datetime("published_at").nullable().index();
      });
    }
    await db("outbox_events").insert([
      { topic: "invoice.paid", published_at: at(45) },
      { topic: "user.created", published_at: at(31) },
      { topic: "user.updated", published_at: at(2) },
      { topic: "user.deleted", published_at: null },
    ]);
    before = await counts(db);
  },
  tasks: () => [
    {
      task: cleanupTask({
        auth: { blacklistedTokens: false, otpCodes: false, refreshTokens: false, auditLogs: false },
        platform: { telemetry: false, auditLogs: false, consentRecords: false, outboxDeadLetters: false, threatIntelDuplicates: false },
      }),
    },
  ],
  async show(db) {
    console.log(`  before: ${before}`);
    console.log(`  after:  ${await counts(db)}`);
  },
};
