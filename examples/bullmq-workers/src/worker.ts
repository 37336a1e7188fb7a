// A worker process: takes jobs off the queue and hands each to upkeep's runner, which claims the
// tick in PostgreSQL, so a job BullMQ delivers twice still runs once.
import { bullmqAdapter } from "@upkeep/bullmq";
import { registerTasks } from "@upkeep/core";
import { config, db, prefix } from "./config.ts";
import { connection } from "./connection.ts";

const upkeep = registerTasks(bullmqAdapter({ connection, prefix, scheduler: false }), config);
await upkeep.start();
console.log(`worker ${process.pid} ready`);
// SIGTERM or Ctrl-C: stop upkeep (closing BullMQ's worker within the timeout), then our own connections.
upkeep.stopOnSignals({
  timeout: 10_000,
  close: async () => {
    await db.destroy();
    await connection.quit();
  },
});
