// The SQLite hot path: the claim and the finish run on statements better-sqlite3 prepares once per
// knex connection. These tests hold it to what the knex path guarantees: the same rows, inside a
// transaction, across a destroy/reconnect of knex, on a file database and on :memory:, with knex's
// query events.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { knexStore, type NewRun, type RunOutcome } from "@upkeep/core";
import knex, { type Knex } from "knex";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "upkeep-sqlite-statements-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = new Date("2026-01-01T00:00:00Z");
let n = 0;
const newRun = (taskId: string, overrides: Partial<NewRun> = {}): NewRun => ({
  id: `run-${++n}`,
  taskId,
  scheduledFor: new Date(T0.getTime() + n * 60_000),
  trigger: "schedule",
  dryRun: false,
  claimedAt: T0,
  leaseUntil: new Date(T0.getTime() + 60_000),
  host: "h",
  pid: 1,
  ...overrides,
});
const succeeded: RunOutcome = {
  status: "succeeded",
  finishedAt: new Date(T0.getTime() + 1000),
  attempt: 1,
  durationMs: 3,
  result: '{"ok":true}',
  reason: null,
  errorMessage: null,
  errorStack: null,
};

const open = (filename: string): Knex => knex({ client: "better-sqlite3", connection: { filename }, useNullAsDefault: true });

describe.each([
  ["a file database", () => join(dir, `db-${++n}.sqlite`)],
  ["an in-memory database", () => ":memory:"],
])("the SQLite hot path on %s", (_name, filename) => {
  it("claims once, skips an overlapping run, finishes once, as a compare-and-set", async () => {
    const db = open(filename());
    try {
      const store = knexStore(db);
      await store.migrate();
      const first = newRun("t");
      const claimed = await store.claim(first, { overlap: "skip" });
      expect(claimed).toMatchObject({ claimed: true, run: { id: first.id, status: "running" } });
      // The same tick again: lost, and the holder is reported.
      expect(await store.claim({ ...first, id: "other" }, { overlap: "skip" })).toMatchObject({
        claimed: false,
        existing: { id: first.id },
      });
      // Another tick while the first holds a live lease: recorded skipped.
      const second = newRun("t");
      expect(await store.claim(second, { overlap: "skip" })).toMatchObject({ claimed: true, run: { status: "skipped" } });
      expect(await store.finish(first.id, succeeded)).toBe(true);
      expect(await store.finish(first.id, { ...succeeded, status: "failed" })).toBe(false);
      expect(await store.get(first.id)).toMatchObject({ status: "succeeded", result: { ok: true }, leaseUntil: null, durationMs: 3 });
      // A paused task's tick inserts nothing and reports the pause.
      await store.setPaused("t", { reason: "maintenance" }, T0);
      expect(await store.claim(newRun("t"), { overlap: "skip" })).toMatchObject({ claimed: false, paused: { reason: "maintenance" } });
    } finally {
      await db.destroy();
    }
  });

  it("prepares the claim and the finish once per connection, not once a run", async () => {
    const db = open(filename());
    try {
      const store = knexStore(db);
      await store.migrate();
      const connection = (await db.client.acquireConnection()) as { prepare(sql: string): unknown };
      const prepared: string[] = [];
      const prepare = connection.prepare.bind(connection);
      connection.prepare = (sql: string) => {
        prepared.push(sql);
        return prepare(sql);
      };
      await db.client.releaseConnection(connection);
      for (let i = 0; i < 3; i++) {
        const run = newRun("p");
        expect(await store.claim(run)).toMatchObject({ claimed: true });
        expect(await store.finish(run.id, succeeded)).toBe(true);
      }
      expect(prepared.filter((sql) => sql.startsWith("insert"))).toHaveLength(1);
      expect(prepared.filter((sql) => sql.startsWith("update"))).toHaveLength(1);
    } finally {
      await db.destroy();
    }
  });

  it("keeps working after knex is destroyed and initialised again (a new connection, statements prepared anew)", async () => {
    const path = filename();
    const db = open(path);
    try {
      const store = knexStore(db);
      await store.migrate();
      const before = newRun("r");
      await store.claim(before);
      await store.finish(before.id, succeeded);
      await db.destroy();
      db.initialize();
      if (path === ":memory:") await store.migrate(); // a new in-memory database
      const after = newRun("r");
      expect(await store.claim(after)).toMatchObject({ claimed: true, run: { id: after.id } });
      expect(await store.finish(after.id, succeeded)).toBe(true);
      expect(await store.get(after.id)).toMatchObject({ status: "succeeded" });
      if (path !== ":memory:") expect(await store.get(before.id)).toMatchObject({ status: "succeeded" });
    } finally {
      await db.destroy();
    }
  });

  it("runs inside a transaction on its connection: a rollback takes the claim and the finish back", async () => {
    const db = open(filename());
    try {
      await knexStore(db).migrate();
      const kept = newRun("x");
      const undone = newRun("x", { trigger: "manual" });
      await db.transaction(async (trx) => {
        const store = knexStore(trx);
        await store.claim(kept);
        expect(await store.finish(kept.id, succeeded)).toBe(true);
      });
      await expect(
        db.transaction(async (trx) => {
          const store = knexStore(trx);
          await store.claim(undone);
          expect(await store.finish(undone.id, succeeded)).toBe(true);
          expect(await store.get(undone.id)).toMatchObject({ status: "succeeded" });
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      const store = knexStore(db);
      expect(await store.get(kept.id)).toMatchObject({ status: "succeeded" });
      expect(await store.get(undone.id)).toBeUndefined();
      // A store on a finished transaction refuses, as knex does, instead of writing outside it.
      const trx = await db.transaction();
      await trx.commit();
      const late = newRun("x");
      await expect(knexStore(trx).claim(late)).rejects.toMatchObject({
        code: "STORE_FAILED",
        cause: { message: expect.stringContaining("Transaction query already complete") },
      });
      expect(await store.get(late.id)).toBeUndefined();
    } finally {
      await db.destroy();
    }
  });

  it("fires knex's query events for its statements, and names the statement in an error", async () => {
    const db = open(filename());
    try {
      const store = knexStore(db);
      await store.migrate();
      const sent: Array<{ sql: string; bindings: unknown[] }> = [];
      const responses: unknown[] = [];
      const record = (query: { sql: string; bindings: unknown[] }) => sent.push(query);
      const respond = (response: unknown) => responses.push(response);
      db.on("query", record).on("query-response", respond);
      const run = newRun("q");
      await store.claim(run);
      await store.finish(run.id, succeeded);
      db.removeListener("query", record).removeListener("query-response", respond);
      const mine = sent.filter(({ bindings }) => bindings.includes(run.id));
      expect(mine.map(({ sql }) => sql.split(" ")[0])).toEqual(["insert", "update"]);
      expect(responses).toContain(1);
      const errors: unknown[] = [];
      db.on("query-error", (error: unknown) => errors.push(error));
      await db.schema.dropTable("upkeep_runs");
      await expect(store.finish(run.id, succeeded)).rejects.toMatchObject({
        code: "STORE_FAILED",
        cause: { message: expect.stringContaining("no such table: upkeep_runs") },
      });
      expect(errors).toHaveLength(1);
    } finally {
      await db.destroy();
    }
  });
});
