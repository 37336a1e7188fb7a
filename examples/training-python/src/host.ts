import { fileURLToPath } from "node:url";
import { commandTrainer, manualAdapter, registerTasks, silentLogger, trainingTask } from "@upkeep/core";
import type { Knex } from "knex";

const HOUR = 3_600_000;

/** The external trainer: python3 running train.py beside this package. */
export const pythonTrainer = () =>
  commandTrainer({
    name: "python-threat-model",
    command: process.env.PYTHON ?? "python3",
    args: [fileURLToPath(new URL("../train.py", import.meta.url))],
    metric: { name: "auc", higherIsBetter: true },
  });

/** A small telemetry table: three tenants' clients, plus a few noisy clients labelled as threats. */
export async function seed(db: Knex, now: number): Promise<void> {
  await db.schema.createTable("telemetry", (t) => {
    t.bigInteger("ts");
    t.string("tenant_id");
    t.string("endpoint");
    t.integer("latency_ms");
    t.integer("status");
    t.string("client_ip");
    t.integer("is_threat");
  });
  let state = 7;
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
  const rows = [];
  for (let h = 24; h >= 1; h--) {
    const hour = Math.floor(now / HOUR) * HOUR - h * HOUR;
    for (let tenant = 0; tenant < 3; tenant++) {
      for (let client = 0; client < 4; client++) {
        for (let i = 0; i < 1 + Math.floor(random() * 4); i++) {
          rows.push({
            ts: hour + Math.floor(random() * HOUR),
            tenant_id: `t${tenant}`,
            endpoint: `/api/${i % 2}`,
            latency_ms: 40,
            status: 200,
            client_ip: `10.0.${tenant}.${client}`,
            is_threat: 0,
          });
        }
      }
    }
    for (let i = 0; i < 25; i++) {
      rows.push({
        ts: hour + Math.floor(random() * HOUR),
        // Rows of an endpoint-hour fewer than 3 tenants use are suppressed before any trainer sees
        // them, so the attacker here hits the shared routes of every tenant.
        tenant_id: `t${i % 3}`,
        endpoint: `/api/${i % 2}`,
        latency_ms: 20,
        status: 403,
        client_ip: `192.0.2.${h % 5}`,
        is_threat: 1,
      });
    }
  }
  for (let i = 0; i < rows.length; i += 200) await db("telemetry").insert(rows.slice(i, i + 200));
}

/** The upkeep host: only the training task, with the Python trainer. */
export function host(db: Knex, now: Date) {
  return registerTasks(manualAdapter(), {
    db,
    clock: () => now,
    logger: silentLogger,
    tasks: [trainingTask({ telemetry: { columns: { timestamp: "ts", label: "is_threat" } }, trainers: [pythonTrainer()] })],
  });
}
