// The task set the crontab lines run. Each line starts a short process that loads this file.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, defineTask } from "@upkeep/core";
import knex from "knex";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const file = process.env.DATABASE_FILE ?? join(root, ".upkeep", "cron.sqlite");
mkdirSync(dirname(file), { recursive: true });

const stamp = defineTask({
  id: "stamp",
  description: "Writes the tick it served to .upkeep/last-stamp",
  schedule: "* * * * *",
  run: (ctx) => {
    writeFileSync(join(dirname(file), "last-stamp"), `${ctx.scheduledFor.toISOString()}\n`);
    return { stamped: ctx.scheduledFor.toISOString() };
  },
});

const nightly = defineTask({
  id: "nightly-report",
  description: "A daily task in Berlin time; catches up if the machine was off at 04:15",
  schedule: "15 4 * * *",
  timezone: "Europe/Berlin",
  catchUp: true,
  run: () => ({ reported: true }),
});

export default defineConfig({
  db: knex({ client: "better-sqlite3", connection: { filename: file }, useNullAsDefault: true }),
  tasks: [stamp, nightly],
});
