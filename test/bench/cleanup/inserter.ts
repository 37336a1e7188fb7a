// Child process: inserts one fresh row at a time into the bench table until stdin closes, then
// prints the worst single-insert latency as JSON. A process of its own, so a synchronous SQLite
// DELETE in the benchmark process cannot hide the wait.
import { type Dialect, knexConfig } from "@upkeep/testkit";
import knex from "knex";

const [dialect, target, table] = process.argv.slice(2) as [Dialect, string, string];
const db = knex(knexConfig(dialect, target));
let stop = false;
process.stdin.on("end", () => {
  stop = true;
});
process.stdin.resume();
await db(table).insert({ created_at: new Date(), payload: "warm-up" });
process.stdout.write("ready\n");
let worst = 0;
let count = 0;
let errors = 0;
while (!stop) {
  const started = performance.now();
  try {
    await db(table).insert({ created_at: new Date(), payload: "concurrent insert" });
    count++;
  } catch {
    // A lock wait past the driver's timeout still counts, as the wait it was.
    errors++;
  }
  worst = Math.max(worst, performance.now() - started);
  // better-sqlite3 resolves in microtasks only: yield so stdin's end can be seen.
  await new Promise((resolve) => setImmediate(resolve));
}
await db.destroy();
process.stdout.write(`${JSON.stringify({ worst, count, errors })}\n`);
