// Starts the example on http://127.0.0.1:3000 with a SQLite file in .upkeep/.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import knex from "knex";
import { createApp } from "./app.ts";

mkdirSync(".upkeep", { recursive: true });
const db = knex({ client: "better-sqlite3", connection: { filename: join(".upkeep", "express.sqlite") }, useNullAsDefault: true });
const feed = pathToFileURL(new URL("../feeds/blocklist.txt", import.meta.url).pathname).href;
const { app } = await createApp(db, feed);
app.listen(3000, "127.0.0.1", () => {
  console.log("listening on http://127.0.0.1:3000 — try: curl -H 'X-Forwarded-For: 45.155.205.9' http://127.0.0.1:3000/");
});
