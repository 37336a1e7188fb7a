// One dependency-audit run in its own process (from the built packages: build first), so its time and peak RSS are its own:
// child.ts <registry url> <lockfile> <sqlite file> <integrity: 1|0>. Prints the result's request counts as JSON.
import { dependencyAuditTask, manualAdapter, registerTasks, silentLogger } from "@upkeep/core";
import knex from "knex";

const [url, lockfile, sqlite, integrity] = process.argv.slice(2) as [string, string, string, string];
const db = knex({ client: "better-sqlite3", connection: { filename: sqlite }, useNullAsDefault: true });
const upkeep = registerTasks(manualAdapter(), {
  db,
  logger: silentLogger,
  tasks: [dependencyAuditTask({ registry: { url, allowHttp: true }, lockfiles: [lockfile], failOn: "none", integrity: integrity === "1" })],
});
const started = performance.now();
const run = await upkeep.run("dependency-audit");
const ms = performance.now() - started;
await db.destroy();
if (run.status !== "succeeded") {
  console.error(run.errorMessage);
  process.exit(1);
}
const result = run.result as { requests: Record<string, number>; counts: { open: number }; packages: number };
console.log(JSON.stringify({ requests: result.requests, open: result.counts.open, packages: result.packages, ms }));
