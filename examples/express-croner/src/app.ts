// The host's existing Express app: nothing here knows about upkeep.
import express, { type Express } from "express";
import type { Knex } from "knex";

export async function createApp(db: Knex): Promise<Express> {
  if (!(await db.schema.hasTable("sessions"))) {
    await db.schema.createTable("sessions", (table) => {
      table.increments("id");
      table.string("user").notNullable();
      table.bigInteger("expires_at").notNullable();
    });
  }
  const app = express();
  app.use(express.json());
  app.post("/sessions", async (req, res) => {
    const user = typeof req.body?.user === "string" ? req.body.user : "anonymous";
    const [id] = await db("sessions").insert({ user, expires_at: Date.now() + 60 * 60 * 1000 });
    res.status(201).json({ id });
  });
  app.get("/health", (_req, res) => {
    res.json({ ok: true });
  });
  return app;
}
