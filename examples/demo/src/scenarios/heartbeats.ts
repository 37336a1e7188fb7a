import { heartbeatStatus, heartbeatsTask } from "@upkeep/core";
import type { DemoScenario } from "../scenario.ts";

/** Agent tokens with a heartbeat period; the task suspends those whose heartbeat is overdue. */
export const heartbeats: DemoScenario = {
  title: "heartbeats: suspend agent tokens whose heartbeat is overdue",
  async seed(db, now) {
    await db.schema.createTable("agent_tokens", (table) => {
      table.increments("id");
      table.string("name").notNullable();
      table.string("token_hash").notNullable();
      table.string("status").notNullable();
      table.integer("heartbeat_required_every").nullable();
      table.timestamp("last_heartbeat_at").nullable();
      table.timestamp("created_at").notNullable();
      table.timestamp("suspended_at").nullable();
      table.string("suspended_reason").nullable();
    });
    const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);
    const token = (name: string, every: number | null, last: Date | null, status = "ACTIVE") => ({
      name,
      token_hash: `demo-hash-${name}`,
      status,
      heartbeat_required_every: every,
      last_heartbeat_at: last,
      created_at: ago(86_400),
    });
    await db("agent_tokens").insert([
      token("scanner-eu", 60, ago(20)),
      token("scanner-us", 60, ago(400)),
      token("backup-agent", 3600, ago(1800)),
      token("never-beat", 300, null),
      token("ci-runner", null, null),
      token("old-laptop", 60, ago(9000), "REVOKED"),
    ]);
  },
  tasks: () => [{ task: heartbeatsTask() }],
  async show(db) {
    const now = new Date();
    const rows = await db("agent_tokens").orderBy("id");
    for (const row of rows) {
      const reason = row.suspended_reason ? ` ${row.suspended_reason}` : "";
      console.log(`  ${String(row.name).padEnd(14)} ${String(row.status).padEnd(10)} ${heartbeatStatus(row, now)}${reason}`);
    }
  },
};
