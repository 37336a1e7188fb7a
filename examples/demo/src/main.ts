// The upkeep demo: every task on sample data in a fresh SQLite file, no other service needed.
// With --serve [--port N] it keeps the tasks scheduled and serves the dashboard on 127.0.0.1.
import { mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative } from "node:path";
import { type RunRecord, registerTasks } from "@upkeep/core";
import { cronerAdapter } from "@upkeep/croner";
import { createDashboard } from "@upkeep/dashboard";
import knex from "knex";
import { scenarios } from "./scenarios/index.ts";

const args = process.argv.slice(2);
const serve = args.includes("--serve");
const portArg = args.indexOf("--port");
const port = portArg >= 0 ? Number(args[portArg + 1]) : 4400;
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error("--port must be a port number (0 to 65535)");
  process.exit(2);
}

const dir = join(process.cwd(), ".upkeep");
const file = join(dir, "demo.sqlite");
mkdirSync(dir, { recursive: true });
rmSync(file, { force: true });
const db = knex({ client: "better-sqlite3", connection: { filename: file }, useNullAsDefault: true });

const now = new Date();
for (const scenario of scenarios) await scenario.seed(db, now);

// The embedded runtime: croner fires each task on its schedule while the process lives. The demo
// does not wait for the schedules; it runs each task once by hand through the same runner.
const adapter = cronerAdapter();
const upkeep = registerTasks(adapter, {
  db,
  tasks: scenarios.flatMap((scenario) => scenario.tasks(db)),
  logger: { debug() {}, info() {}, warn() {}, error: (fields, msg) => console.error(msg, fields) },
});
await upkeep.start();

console.log(`upkeep demo — SQLite at ${relative(process.cwd(), file)}\n`);
console.log("Registered tasks:");
for (const task of await upkeep.list()) {
  console.log(`  ${task.id.padEnd(16)} ${task.schedule.padEnd(14)} ${task.timezone.padEnd(6)} next ${task.nextRun?.toISOString() ?? "-"}`);
}

const summary = (run: RunRecord) => {
  const text = JSON.stringify(run.result ?? run.reason ?? run.errorMessage) ?? "";
  return text.length > 140 ? `${text.slice(0, 139)}…` : text;
};
for (const scenario of scenarios) {
  console.log(`\n== ${scenario.title}`);
  for (const entry of scenario.tasks(db)) {
    const run = await upkeep.run(entry.task.id);
    console.log(`  ${entry.task.id}: ${run.status} in ${run.durationMs} ms → ${summary(run)}`);
  }
  await scenario.show?.(db);
}

console.log("\nRun history (newest first):");
for (const run of await upkeep.runs({ limit: 20 })) {
  console.log(
    `  ${run.claimedAt.toISOString()}  ${run.taskId.padEnd(16)} ${run.trigger.padEnd(8)} ${run.status.padEnd(11)} ${run.durationMs ?? "-"} ms`,
  );
}

const close = async () => {
  await upkeep.stop();
  for (const scenario of scenarios) await scenario.close?.();
  await db.destroy();
};

if (!serve) {
  await close();
} else {
  // Local use only: the server listens on the loopback interface, so every request may view and act.
  const dashboard = createDashboard({ upkeep, db, authorize: () => true });
  const server = createServer(dashboard);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  console.log(`\nThe tasks stay scheduled. Dashboard: ${url}  (Ctrl-C stops)`);
  const shutdown = async () => {
    await dashboard.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await close();
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown());
  process.once("SIGTERM", () => void shutdown());
}
