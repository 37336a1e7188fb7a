import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import knex from "knex";
import { createApp } from "./app.ts";
import { createUpkeep } from "./upkeep.ts";

const file = process.env.DATABASE_FILE ?? ".upkeep/express.sqlite";
mkdirSync(dirname(file), { recursive: true });
const db = knex({ client: "better-sqlite3", connection: { filename: file }, useNullAsDefault: true });
const app = await createApp(db);

const upkeep = createUpkeep(db);
await upkeep.start();
app.get("/upkeep", async (_req, res) => {
  res.json(await upkeep.list());
});

const server = app.listen(Number(process.env.PORT ?? 3000), () => {
  const address = server.address();
  console.log(`listening on http://localhost:${typeof address === "object" && address ? address.port : ""}`);
});

// SIGTERM or Ctrl-C: stop upkeep (a run in flight is recorded interrupted), close the server and
// the database, exit.
upkeep.stopOnSignals({
  timeout: 10_000,
  close: async () => {
    server.close();
    await db.destroy();
  },
});
