// Trains a model with an external Python program and prints what the registry holds.
import { listModels } from "@upkeep/core";
import knex from "knex";
import { host, seed } from "./host.ts";

const db = knex({ client: "better-sqlite3", connection: { filename: ":memory:" }, useNullAsDefault: true });
const now = new Date();
await seed(db, now.getTime());
const upkeep = host(db, now);
await upkeep.start();
const run = await upkeep.run("training");
console.log(`training: ${run.status}`, JSON.stringify(run.result ?? run.reason ?? run.errorMessage));
for (const model of await listModels(db, "python-threat-model")) {
  console.log(`v${model.version} champion=${model.champion} metrics=${JSON.stringify(model.metrics)}`);
}
await upkeep.stop();
await db.destroy();
