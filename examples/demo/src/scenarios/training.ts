import { listModels, trainingTask } from "@upkeep/core";
import type { DemoScenario } from "../scenario.ts";

const HOUR = 3_600_000;
const TENANTS = ["acme", "globex", "initech", "umbrella", "hooli"];

export const training: DemoScenario = {
  title: "training: anonymised telemetry → SLA forecaster and threat classifier",
  async seed(db, now) {
    await db.schema.createTable("demo_telemetry", (table) => {
      table.bigInteger("ts").notNullable();
      table.string("tenant_id").notNullable();
      table.string("endpoint").notNullable();
      table.integer("latency_ms");
      table.integer("status").notNullable();
      table.string("client_ip");
      table.integer("is_threat").notNullable();
    });
    let state = 42;
    const random = () => {
      state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
      return state / 2_147_483_648;
    };
    const rows = [];
    const end = Math.floor(now.getTime() / HOUR) * HOUR;
    // Four days: the forecaster fits three and backtests the last; the classifier trains on the last.
    for (let h = 96; h >= 1; h--) {
      const hour = end - h * HOUR;
      const daily = Math.sin(((new Date(hour).getUTCHours() - 9) / 24) * 2 * Math.PI);
      for (const [t, tenant] of TENANTS.entries()) {
        for (let client = 0; client < 2; client++) {
          for (let i = 0; i < 1 + Math.floor(random() * 4); i++) {
            rows.push({
              ts: hour + Math.floor(random() * HOUR),
              tenant_id: tenant,
              endpoint: ["/api/orders", "/api/search"][i % 2] as string,
              latency_ms: Math.round((90 + 40 * daily) * (0.7 + random() * 0.6)),
              status: random() < 0.02 ? 500 : 200,
              client_ip: `198.51.100.${t * 10 + client}`,
              is_threat: 0,
            });
          }
        }
      }
      for (let i = 0; i < 8 + Math.floor(random() * 10); i++) {
        rows.push({
          ts: hour + Math.floor(random() * HOUR),
          tenant_id: TENANTS[h % TENANTS.length] as string,
          endpoint: `/probe/${i}`,
          latency_ms: 15,
          status: random() < 0.7 ? 403 : 200,
          client_ip: `203.0.113.${h % 7}`,
          is_threat: 1,
        });
      }
    }
    for (let i = 0; i < rows.length; i += 400) await db("demo_telemetry").insert(rows.slice(i, i + 400));
  },
  tasks: () => [
    {
      task: trainingTask({
        telemetry: { table: "demo_telemetry", columns: { timestamp: "ts", label: "is_threat" } },
        history: "3d",
        ipHashSecret: "demo-secret-never-stored-0123456789",
      }),
    },
  ],
  async show(db) {
    const telemetry = await db("demo_telemetry").count({ n: "*" }).first();
    console.log(`  ${telemetry?.n} telemetry rows from ${TENANTS.length} tenants; champions:`);
    for (const name of ["sla-forecaster", "threat-classifier"]) {
      const champion = (await listModels(db, name)).find((model) => model.champion);
      const metrics = Object.entries(champion?.metrics ?? {})
        .map(([key, value]) => `${key}=${Number(value.toPrecision(3))}`)
        .join(" ");
      console.log(`    ${name.padEnd(18)} v${champion?.version ?? "-"}  ${metrics}`);
    }
  },
};
