// The demo's tasks on the demo's SQLite file, for the `upkeep` command:
//   pnpm demo                                        # creates and seeds .upkeep/demo.sqlite
//   pnpm --filter @upkeep/example-demo upkeep list   # then list, run, status, migrate
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig } from "@upkeep/core";
import knex from "knex";
import { scenarios } from "./src/scenarios/index.ts";

const dir = fileURLToPath(new URL("./.upkeep/", import.meta.url));
mkdirSync(dir, { recursive: true });
const db = knex({ client: "better-sqlite3", connection: { filename: `${dir}demo.sqlite` }, useNullAsDefault: true });

export default defineConfig({
  db,
  tasks: scenarios.flatMap((scenario) => scenario.tasks(db)),
});
