// Keeps one BullMQ job scheduler per task (upserted when a pattern or timezone changed, removed when
// a task left the config). Runs no worker: start as many `worker` processes as you need.
import { bullmqAdapter } from "@upkeep/bullmq";
import { registerTasks } from "@upkeep/core";
import { config, db, prefix } from "./config.ts";
import { connection } from "./connection.ts";

const upkeep = registerTasks(bullmqAdapter({ connection, prefix, worker: false }), config);
await upkeep.start();
for (const task of await upkeep.list())
  console.log(`scheduled ${task.id} (${task.schedule} ${task.timezone}), next ${task.nextRun?.toISOString()}`);
console.log("scheduler ready");
// SIGTERM or Ctrl-C: stop upkeep (closing BullMQ's worker within the timeout), then our own connections.
upkeep.stopOnSignals({
  timeout: 10_000,
  close: async () => {
    await db.destroy();
    await connection.quit();
  },
});
