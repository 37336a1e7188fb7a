import { defineTask, manualAdapter, memoryStore, registerTasks, silentLogger } from "@upkeep/core";
import { createTestDatabase, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The memory store keeps events in the process; a task's transaction is on the host's own database.
// Events emitted with that transaction must follow it: seen only once it commits, never if it rolls back.
describe("memory store outbox with the host's transaction", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    await database.knex.schema.createTable("mem_outbox_items", (table) => {
      table.increments("id");
      table.string("name");
    });
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it("keeps an event written with a transaction only once it commits, and drops it when it rolls back", async () => {
    const db = database.knex;
    const seenInside: string[][] = [];
    const store = memoryStore();
    const task = defineTask({
      id: "mem-outbox",
      schedule: "0 0 * * *",
      run: async (ctx) => {
        const types = async () => (await upkeep.events.list()).map((event) => event.type);
        await db.transaction(async (trx) => {
          await trx("mem_outbox_items").insert({ name: "kept" });
          await ctx.emit({ type: "item.kept", data: { name: "kept" } }, { trx });
          seenInside.push(await types());
        });
        await db
          .transaction(async (trx) => {
            await trx("mem_outbox_items").insert({ name: "undone" });
            await ctx.emit({ type: "item.undone", data: { name: "undone" } }, { trx });
            seenInside.push(await types());
            throw new Error("roll back");
          })
          .catch(() => undefined);
      },
    });
    const upkeep = registerTasks(manualAdapter(), { tasks: [task], store, logger: silentLogger });
    const heard: string[] = [];
    upkeep.on("event", ({ event }) => {
      heard.push(event.type);
    });
    await upkeep.start();
    try {
      const run = await upkeep.run("mem-outbox");
      expect(run.status).toBe("succeeded");
      // Not visible before its transaction committed: the first one was not there inside its own.
      expect(seenInside).toEqual([[], ["item.kept"]]);
      expect((await db("mem_outbox_items").select("name")).map((row) => row.name)).toEqual(["kept"]);
      const events = await upkeep.events.list();
      expect(events.map((event) => [event.type, event.state])).toEqual([["item.kept", "delivered"]]);
      expect(heard).toEqual(["item.kept"]);
    } finally {
      await upkeep.stop();
    }
  });
});
