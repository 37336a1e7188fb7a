import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import {
  type HeartbeatsOptions,
  heartbeatStatus,
  heartbeatsTask,
  type LogFields,
  type Logger,
  manualAdapter,
  memoryStore,
  type RunRecord,
  recordHeartbeat,
  registerTasks,
  type TaskEvent,
} from "@upkeep/core";
import { createTestDatabase, type Dialect, probeDialects, type TestDatabase } from "@upkeep/testkit";
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runHeartbeatPass } from "../../packages/core/src/tasks/heartbeats/pass.ts";

const NOW = new Date("2026-03-01T12:00:00.000Z");
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const SECRET = "th_9f8e7d6c5b4a39281706f5e4d3c2b1a0";

/** How a host may type its time columns, and how a test writes and reads them back independently of the task. */
interface Variant {
  name: string;
  column(table: Knex.CreateTableBuilder, name: string): Knex.ColumnBuilder;
  value(db: Knex, moment: Date): unknown;
  /** SQL giving the column as epoch ms, or undefined to read the raw value (SQLite). */
  readMs?: (quoted: string) => string;
}

const VARIANTS: Record<Dialect, Variant[]> = {
  postgres: [
    {
      name: "timestamptz",
      column: (t, n) => t.timestamp(n, { useTz: true, precision: 3 }),
      value: (_db, m) => m,
      readMs: (c) => `(extract(epoch from ${c}) * 1000)::float8`,
    },
    {
      name: "timestamp without time zone holding UTC",
      column: (t, n) => t.timestamp(n, { useTz: false, precision: 3 }),
      value: (_db, m) => m.toISOString().replace("T", " ").replace("Z", ""),
      readMs: (c) => `(extract(epoch from ${c} AT TIME ZONE 'UTC') * 1000)::float8`,
    },
    { name: "bigint epoch ms", column: (t, n) => t.bigInteger(n), value: (_db, m) => m.getTime(), readMs: (c) => `${c}::float8` },
  ],
  mariadb: [
    {
      name: "DATETIME(3) holding UTC",
      column: (t, n) => t.datetime(n, { precision: 3 }),
      value: (_db, m) => m.toISOString().replace("T", " ").replace("Z", ""),
      readMs: (c) => `TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ${c}) DIV 1000`,
    },
    {
      name: "TIMESTAMP(3)",
      column: (t, n) => t.timestamp(n, { precision: 3 }).nullable().defaultTo(null),
      value: (db, m) => db.raw("FROM_UNIXTIME(? / 1000)", [m.getTime()]),
      readMs: (c) => `ROUND(UNIX_TIMESTAMP(${c}) * 1000)`,
    },
    { name: "BIGINT epoch ms", column: (t, n) => t.bigInteger(n), value: (_db, m) => m.getTime(), readMs: (c) => c },
  ],
  sqlite: [
    { name: "datetime written from a Date (epoch ms)", column: (t, n) => t.timestamp(n), value: (_db, m) => m },
    { name: "text holding ISO-8601", column: (t, n) => t.text(n), value: (_db, m) => m.toISOString() },
  ],
};

interface TokenSeed {
  every: number | null;
  last?: Date | null;
  created?: Date;
  status?: string;
  expires?: Date | null;
}

interface Captured {
  events: TaskEvent[];
  logs: Array<{ level: string; fields: LogFields; msg: string }>;
}

function capture(): Captured & { logger: Logger } {
  const captured: Captured = { events: [], logs: [] };
  const at = (level: string) => (fields: LogFields, msg: string) => captured.logs.push({ level, fields, msg });
  return { ...captured, logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } };
}

/** Waits until `check` is true, polling; for waiting on another connection's lock state, not for time. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Sessions of this test database waiting for a row lock (other suites share the server, so scope to it). */
async function lockWaits(watcher: Knex): Promise<number> {
  if (watcher.client.config.client === "pg") {
    const { rows } = await watcher.raw(
      "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
    );
    return rows[0].n;
  }
  // MariaDB: innodb_trx does not reliably list a waiting locking read, so count this database's
  // statements on the token table still running after 200 ms (each finishes in well under a
  // millisecond unless it waits for a row lock).
  const [rows] = await watcher.raw(
    "select count(*) as n from information_schema.processlist where db = database() and command = 'Query' " +
      "and time_ms > 200 and info like '%agent_tokens%'",
  );
  return Number(rows[0].n);
}

let tables = 0;

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`heartbeats on ${dialect}`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
    });
    afterAll(async () => {
      await database?.destroy();
    });

    const natural = VARIANTS[dialect][0] as Variant;

    /** A fresh agent-token table typed as the variant says, with a secret column. */
    async function tokenTable(variant: Variant = natural, withExpiry = false, table = `agent_tokens_${++tables}`) {
      const db = database.knex;
      await db.schema.createTable(table, (t) => {
        t.increments("id");
        t.string("token_hash", 80).notNullable();
        t.string("status", 20).notNullable();
        t.integer("heartbeat_required_every").nullable();
        variant.column(t, "last_heartbeat_at").nullable();
        variant.column(t, "created_at").notNullable();
        variant.column(t, "suspended_at").nullable();
        t.string("suspended_reason", 40).nullable();
        if (withExpiry) variant.column(t, "expires_at").nullable();
      });
      const quote = (name: string) => (dialect === "mariadb" ? `\`${name}\`` : `"${name}"`);
      return {
        table,
        async insert(seed: TokenSeed): Promise<number> {
          const row: Record<string, unknown> = {
            token_hash: SECRET,
            status: seed.status ?? "ACTIVE",
            heartbeat_required_every: seed.every,
            last_heartbeat_at: seed.last ? variant.value(db, seed.last) : null,
            created_at: variant.value(db, seed.created ?? ago(86_400_000)),
          };
          if (withExpiry) row.expires_at = seed.expires ? variant.value(db, seed.expires) : null;
          const [inserted] = dialect === "mariadb" ? await db(table).insert(row) : await db(table).insert(row, ["id"]);
          return Number(typeof inserted === "object" ? (inserted as { id: number }).id : inserted);
        },
        async row(id: number): Promise<Record<string, unknown>> {
          return (await db(table).where("id", id).first()) as Record<string, unknown>;
        },
        /** A time column as epoch ms, read by the test's own SQL, or the raw SQLite value. */
        async timeOf(id: number, column: string): Promise<unknown> {
          if (!variant.readMs) return (await db(table).where("id", id).first(column))?.[column];
          const row = await db(table)
            .where("id", id)
            .first(db.raw(`${variant.readMs(quote(column))} as v`));
          return row?.v === null || row?.v === undefined ? null : Number(row.v);
        },
        async statuses(): Promise<Record<number, string>> {
          const rows = (await db(table).select("id", "status").orderBy("id")) as Array<{ id: number; status: string }>;
          return Object.fromEntries(rows.map((r) => [Number(r.id), r.status]));
        },
      };
    }

    async function runTask(options: HeartbeatsOptions, extra: { db?: Knex; dryRun?: boolean } = {}) {
      const { logger, events, logs } = capture();
      const upkeep = registerTasks(manualAdapter(), {
        tasks: [heartbeatsTask(options)],
        db: extra.db ?? database.knex,
        store: memoryStore(),
        logger,
        clock: () => NOW,
        on: { event: ({ event }) => void events.push(event) },
      });
      const run: RunRecord = await upkeep.run("heartbeats", { dryRun: extra.dryRun });
      await upkeep.stop();
      return { run, result: run.result as Record<string, unknown>, events, logs };
    }

    for (const variant of VARIANTS[dialect]) {
      it(`suspends a token just over its period, not one just under or exactly at it (${variant.name})`, async () => {
        const t = await tokenTable(variant);
        const under = await t.insert({ every: 60, last: ago(59_999) });
        const exactly = await t.insert({ every: 60, last: ago(60_000) });
        const over = await t.insert({ every: 60, last: ago(60_001) });
        const { run, result } = await runTask({ table: t.table });
        expect(run.status).toBe("succeeded");
        expect(result.suspendedIds).toEqual([over]);
        expect(await t.statuses()).toEqual({ [under]: "ACTIVE", [exactly]: "ACTIVE", [over]: "SUSPENDED" });
        const suspended = await t.row(over);
        expect(suspended.suspended_reason).toBe("HEARTBEAT_MISSING");
        const expected = variant.readMs ? NOW.getTime() : variant.name.startsWith("text") ? NOW.toISOString() : NOW.getTime();
        expect(await t.timeOf(over, "suspended_at")).toEqual(expected);
        expect(await t.timeOf(under, "suspended_at")).toBeNull();
      });

      it(`records a heartbeat that keeps the token active at the next pass (${variant.name})`, async () => {
        const t = await tokenTable(variant);
        const id = await t.insert({ every: 30, last: ago(3_600_000) });
        expect(await recordHeartbeat(database.knex, id, { table: t.table, now: ago(10_000) })).toBe(true);
        const expected = variant.name.startsWith("text") ? ago(10_000).toISOString() : ago(10_000).getTime();
        expect(await t.timeOf(id, "last_heartbeat_at")).toEqual(expected);
        const { result } = await runTask({ table: t.table });
        expect(result.suspended).toBe(0);
        expect(heartbeatStatus(await t.row(id), NOW)).toBe("up");
      });
    }

    it("counts from created_at when the token never sent a heartbeat", async () => {
      const t = await tokenTable();
      const young = await t.insert({ every: 300, last: null, created: ago(299_000) });
      const old = await t.insert({ every: 300, last: null, created: ago(301_000) });
      const { result, events } = await runTask({ table: t.table });
      expect(result.suspendedIds).toEqual([old]);
      expect(await t.statuses()).toMatchObject({ [young]: "ACTIVE", [old]: "SUSPENDED" });
      expect(events[0]?.data).toMatchObject({ tokenId: old, lastHeartbeatAt: null, lateMs: 1000, periodSeconds: 300 });
    });

    it("leaves tokens that need no heartbeat and tokens that are not active untouched", async () => {
      const t = await tokenTable();
      const noHeartbeat = await t.insert({ every: null, last: ago(86_400_000) });
      const zeroPeriod = await t.insert({ every: 0, last: ago(86_400_000) });
      const revoked = await t.insert({ every: 60, last: ago(86_400_000), status: "REVOKED" });
      const suspended = await t.insert({ every: 60, last: ago(86_400_000), status: "SUSPENDED" });
      const { result, events } = await runTask({ table: t.table });
      expect(result).toMatchObject({ suspended: 0, suspendedIds: [] });
      expect(events).toEqual([]);
      expect(await t.statuses()).toEqual({
        [noHeartbeat]: "ACTIVE",
        [zeroPeriod]: "ACTIVE",
        [revoked]: "REVOKED",
        [suspended]: "SUSPENDED",
      });
      expect((await t.row(suspended)).suspended_at).toBeNull();
    });

    it("waits out the grace past the period before suspending", async () => {
      const t = await tokenTable();
      const within = await t.insert({ every: 60, last: ago(60_000 + 29_000) });
      const beyond = await t.insert({ every: 60, last: ago(60_000 + 30_001) });
      const { result } = await runTask({ table: t.table, grace: "30s" });
      expect(result.suspendedIds).toEqual([beyond]);
      const row = await t.row(within);
      expect(row.status).toBe("ACTIVE");
      expect(heartbeatStatus(row, NOW, { grace: "30s" })).toBe("late");
      expect(heartbeatStatus(await t.row(beyond), NOW, { grace: "30s" })).toBe("down");
    });

    it("marks an overdue token already past its expiry EXPIRED instead of suspended", async () => {
      const t = await tokenTable(natural, true);
      const expired = await t.insert({ every: 60, last: ago(120_000), expires: ago(1) });
      const live = await t.insert({ every: 60, last: ago(120_000), expires: new Date(NOW.getTime() + 86_400_000) });
      const noExpiry = await t.insert({ every: 60, last: ago(120_000), expires: null });
      const expiredButBeating = await t.insert({ every: 60, last: ago(1000), expires: ago(1) });
      const { result, events } = await runTask({ table: t.table, columns: { expiresAt: "expires_at" } });
      expect(result).toMatchObject({ suspended: 2, expired: 1, expiredIds: [expired], suspendedIds: [live, noExpiry] });
      expect(await t.statuses()).toEqual({
        [expired]: "EXPIRED",
        [live]: "SUSPENDED",
        [noExpiry]: "SUSPENDED",
        [expiredButBeating]: "ACTIVE",
      });
      const row = await t.row(expired);
      expect(row.suspended_at).toBeNull();
      expect(row.suspended_reason).toBeNull();
      expect(events.map((e) => [e.type, e.data?.tokenId])).toEqual([
        ["agent.expired", expired],
        ["agent.suspended", live],
        ["agent.suspended", noExpiry],
      ]);
    });

    it("emits one security event per suspended token, logs one warning with the count, and leaks no token secret", async () => {
      const t = await tokenTable();
      const a = await t.insert({ every: 60, last: ago(90_000) });
      const b = await t.insert({ every: 600, last: ago(3_600_000) });
      await t.insert({ every: 60, last: ago(1000) });
      const { run, result, events, logs } = await runTask({ table: t.table });
      expect(result).toEqual({
        dryRun: false,
        suspended: 2,
        expired: 0,
        suspendedIds: [a, b],
        expiredIds: [],
        idsTruncated: false,
        stopped: false,
      });
      expect(events).toEqual([
        {
          id: expect.stringMatching(/^[0-9A-Z]{26}$/),
          task: "heartbeats",
          runId: run.id,
          createdAt: NOW,
          type: "agent.suspended",
          security: true,
          severity: "warning",
          data: {
            tokenId: a,
            reason: "HEARTBEAT_MISSING",
            lateMs: 30_000,
            dueAt: ago(30_000).toISOString(),
            lastHeartbeatAt: ago(90_000).toISOString(),
            periodSeconds: 60,
            graceMs: 0,
          },
        },
        expect.objectContaining({ type: "agent.suspended", data: expect.objectContaining({ tokenId: b, lateMs: 3_000_000 }) }),
      ]);
      const warnings = logs.filter((line) => line.level === "warn");
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.fields).toMatchObject({ suspended: 2 });
      for (const text of [JSON.stringify(events), JSON.stringify(logs), JSON.stringify(run)]) expect(text).not.toContain(SECRET);
    });

    it("in a dry run lists the overdue tokens and changes nothing", async () => {
      const t = await tokenTable();
      const over = await t.insert({ every: 60, last: ago(120_000) });
      const { result, events } = await runTask({ table: t.table }, { dryRun: true });
      expect(result).toMatchObject({ dryRun: true, suspended: 1, suspendedIds: [over] });
      expect(events).toEqual([]);
      expect(await t.statuses()).toEqual({ [over]: "ACTIVE" });
    });

    it("works through more overdue tokens than one batch holds and caps the ids in the result", async () => {
      const t = await tokenTable();
      const ids: number[] = [];
      for (let i = 0; i < 7; i++) ids.push(await t.insert({ every: 60, last: ago(120_000 + i) }));
      const { result, events } = await runTask({ table: t.table, batchSize: 3, resultIdLimit: 5 });
      expect(result).toMatchObject({ suspended: 7, suspendedIds: ids.slice(0, 5), idsTruncated: true });
      expect(events.map((e) => e.data?.tokenId).sort()).toEqual([...ids].sort());
      expect(Object.values(await t.statuses())).toEqual(Array(7).fill("SUSPENDED"));
    });

    it("works with custom table, column and status names", async () => {
      const db = database.knex;
      const table = `agents_custom_${++tables}`;
      await db.schema.createTable(table, (t) => {
        t.increments("token_id");
        t.string("state", 20);
        t.integer("beat_every_s");
        natural.column(t, "seen_at").nullable();
        natural.column(t, "inserted_at");
        natural.column(t, "paused_at").nullable();
        t.string("paused_why", 40).nullable();
      });
      await db(table).insert([
        { state: "on", beat_every_s: 60, seen_at: natural.value(db, ago(61_000)), inserted_at: natural.value(db, ago(90_000_000)) },
        { state: "on", beat_every_s: 60, seen_at: natural.value(db, ago(1000)), inserted_at: natural.value(db, ago(90_000_000)) },
      ]);
      const options = {
        table,
        columns: {
          id: "token_id",
          status: "state",
          heartbeatRequiredEvery: "beat_every_s",
          lastHeartbeatAt: "seen_at",
          createdAt: "inserted_at",
          suspendedAt: "paused_at",
          suspendedReason: "paused_why",
        },
        statuses: { active: "on", suspended: "paused" },
        reason: "NO_BEAT",
      };
      const { result } = await runTask(options);
      expect(result.suspendedIds).toEqual([1]);
      const rows = await db(table).select("token_id", "state", "paused_why").orderBy("token_id");
      expect(rows.map((r) => [Number(r.token_id), r.state, r.paused_why])).toEqual([
        [1, "paused", "NO_BEAT"],
        [2, "on", null],
      ]);
    });

    it("reads the time columns' types afresh each pass: a table retyped between passes is written in its new type", async () => {
      const before = await tokenTable(natural);
      const first = await before.insert({ every: 60, last: ago(120_000) });
      expect((await runTask({ table: before.table })).result.suspendedIds).toEqual([first]);
      await database.knex.schema.dropTable(before.table);
      const retyped = VARIANTS[dialect].at(-1) as Variant;
      const after = await tokenTable(retyped, false, before.table);
      const id = await after.insert({ every: 60, last: ago(120_000) });
      const fresh = await after.insert({ every: 60, last: ago(1000) });
      const { run, result } = await runTask({ table: after.table });
      expect(run.status).toBe("succeeded");
      expect(result.suspendedIds).toEqual([id]);
      expect(await after.statuses()).toEqual({ [id]: "SUSPENDED", [fresh]: "ACTIVE" });
      expect(await after.timeOf(id, "suspended_at")).toEqual(retyped.name.startsWith("text") ? NOW.toISOString() : NOW.getTime());
    });

    // SQLite alone lets one column hold numbers and text side by side.
    it.skipIf(dialect !== "sqlite")("on SQLite reads each row by how it is stored: epoch ms and ISO text mixed in one column", async () => {
      const db = database.knex;
      const t = await tokenTable(natural);
      const wall = (moment: Date) => moment.toISOString().replace("T", " ").slice(0, 19); // CURRENT_TIMESTAMP's form
      const rows = [
        { last: ago(61_000).getTime(), created: ago(86_400_000).getTime() }, // integer, overdue
        { last: ago(59_000).getTime(), created: ago(86_400_000).getTime() }, // integer, on time
        { last: ago(61_000).toISOString(), created: ago(86_400_000).getTime() }, // text, overdue
        { last: ago(59_000).toISOString(), created: ago(86_400_000).getTime() }, // text, on time
        { last: null, created: wall(ago(62_000)) }, // never beat, created as text, overdue
        { last: null, created: wall(ago(58_000)) }, // never beat, created as text, on time
      ];
      const ids: number[] = [];
      for (const row of rows) {
        const [id] = await db(t.table).insert(
          { token_hash: SECRET, status: "ACTIVE", heartbeat_required_every: 60, last_heartbeat_at: row.last, created_at: row.created },
          ["id"],
        );
        ids.push(Number((id as { id: number }).id));
      }
      const { result } = await runTask({ table: t.table });
      expect(result.suspendedIds).toEqual([ids[0], ids[2], ids[4]]);
    });

    // SQLite reads every row by its storage class, so no declared type is refused there.
    // SQLite columns have no type to refuse: its values are read row by row instead (test above).
    it.skipIf(dialect === "sqlite")("fails with HEARTBEAT_TABLE_INVALID naming a time column of a type it cannot compare", async () => {
      const db = database.knex;
      const table = `agents_bad_${++tables}`;
      await db.schema.createTable(table, (t) => {
        t.increments("id");
        t.string("status", 20);
        t.integer("heartbeat_required_every");
        t.date("last_heartbeat_at").nullable();
        natural.column(t, "created_at");
        natural.column(t, "suspended_at").nullable();
        t.string("suspended_reason", 40).nullable();
      });
      const { run } = await runTask({ table });
      expect(run.status).toBe("failed");
      expect(run.reason).toBe("HEARTBEAT_TABLE_INVALID");
      expect(run.errorMessage).toContain(`column ${table}.last_heartbeat_at has type date`);
      const missing = await runTask({ table, columns: { lastHeartbeatAt: "seen_at" } });
      expect(missing.run.errorMessage).toContain(`column ${table}.seen_at not found`);
    });

    // Schemas inside one database are PostgreSQL's; MariaDB's "schema" is the database itself.
    it.skipIf(dialect !== "postgres")("finds a schema-qualified table and its column types in that schema", async () => {
      const db = database.knex;
      await db.raw('create schema if not exists "fleet"');
      const t = await tokenTable(natural, false, `fleet.agent_tokens_${++tables}`);
      const over = await t.insert({ every: 60, last: ago(61_000) });
      const { run, result } = await runTask({ table: t.table });
      expect(run.status).toBe("succeeded");
      expect(result.suspendedIds).toEqual([over]);
    });

    it("recordHeartbeat never reactivates a suspended token", async () => {
      const t = await tokenTable();
      const id = await t.insert({ every: 60, last: ago(120_000) });
      await runTask({ table: t.table });
      expect(await recordHeartbeat(database.knex, id, { table: t.table, now: NOW })).toBe(false);
      const row = await t.row(id);
      expect(row.status).toBe("SUSPENDED");
      expect(await t.timeOf(id, "last_heartbeat_at")).toEqual(ago(120_000).getTime());
      expect(heartbeatStatus(row, NOW)).toBe("down");
      expect(await recordHeartbeat(database.knex, 999_999, { table: t.table })).toBe(false);
    });

    it("does not suspend a token whose heartbeat lands while the pass waits for its row", async () => {
      const t = await tokenTable();
      const rescued = await t.insert({ every: 60, last: ago(120_000) });
      const lost = await t.insert({ every: 60, last: ago(120_000) });
      const input = { table: t.table };
      if (dialect === "sqlite") {
        // Another process holds SQLite's write lock with the heartbeat uncommitted; the pass, started
        // while it is held, waits (busy_timeout) and then sees the committed heartbeat.
        const child = spawn(
          process.execPath,
          [
            "-e",
            `const D=require(${JSON.stringify(createRequire(import.meta.url).resolve("better-sqlite3"))});` +
              `const d=new D(${JSON.stringify(database.target)});d.pragma("busy_timeout = 10000");` +
              `d.exec("BEGIN IMMEDIATE");d.prepare("UPDATE ${t.table} SET last_heartbeat_at = ? WHERE id = ?").run(${ago(5000).getTime()}, ${rescued});` +
              `process.stdout.write("locked\\n");setTimeout(()=>{d.exec("COMMIT");d.close();},400);`,
          ],
          { stdio: ["ignore", "pipe", "inherit"] },
        );
        const exited = new Promise((resolve) => child.on("exit", resolve));
        await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
        const { result } = await runTask(input);
        await exited;
        expect(result.suspendedIds).toEqual([lost]);
      } else {
        const other = database.connect();
        const trx = await other.transaction();
        await trx(t.table)
          .where("id", rescued)
          .update({ last_heartbeat_at: natural.value(trx, ago(5000)) });
        const pass = runTask(input);
        const watcher = database.connect();
        try {
          await until(async () => (await lockWaits(watcher)) > 0, "the pass to wait for the heartbeat's row lock");
          await trx.commit();
        } finally {
          if (!trx.isCompleted()) await trx.rollback();
        }
        const { result } = await pass;
        expect(result.suspendedIds).toEqual([lost]);
      }
      expect(await t.statuses()).toEqual({ [rescued]: "ACTIVE", [lost]: "SUSPENDED" });
    });

    it("two passes at once suspend and report each token once", async () => {
      const t = await tokenTable();
      const ids: number[] = [];
      for (let i = 0; i < 6; i++) ids.push(await t.insert({ every: 60, last: ago(120_000) }));
      const input = { table: t.table, batchSize: 2 };
      let passes: ReturnType<typeof runTask>[];
      if (dialect === "sqlite") {
        passes = [runTask(input), runTask(input, { db: database.connect() })];
      } else {
        // A third connection locks the last token so both passes are in flight together before either finishes.
        const holder = database.connect();
        const trx = await holder.transaction();
        await trx(t.table).where("id", ids[5]).forUpdate().first();
        passes = [runTask(input), runTask(input, { db: database.connect() })];
        let settled = 0;
        for (const pass of passes) void pass.finally(() => settled++).catch(() => {});
        const watcher = database.connect();
        try {
          // Either both passes wait on the held row, or one found its batch taken by the other and
          // ended early (the documented behaviour) while the other waits: both are "at once".
          await until(async () => settled > 0 || (await lockWaits(watcher)) >= 2, "both passes to be in flight together");
          await trx.commit();
        } finally {
          if (!trx.isCompleted()) await trx.rollback();
        }
      }
      const results = await Promise.all(passes);
      for (const { run } of results) expect(run.status).toBe("succeeded");
      const reported = results.flatMap(({ result }) => result.suspendedIds as number[]);
      expect([...reported].sort((x, y) => x - y)).toEqual(ids);
      const evented = results.flatMap(({ events }) => events.map((e) => e.data?.tokenId as number));
      expect([...evented].sort((x, y) => x - y)).toEqual(ids);
    });

    if (dialect === "mariadb") {
      it("refuses a heartbeat that arrives between the pass's lock and its update, without reactivating", async () => {
        const t = await tokenTable();
        const id = await t.insert({ every: 60, last: ago(120_000) });
        const other = database.connect();
        const watcher = database.connect();
        let heartbeat: Promise<boolean> | undefined;
        const { tokens } = await runHeartbeatPass(
          database.knex,
          { ...defaults(t.table) },
          {
            now: NOW,
            afterLock: async () => {
              heartbeat = recordHeartbeat(other, id, { table: t.table, now: NOW });
              await until(async () => (await lockWaits(watcher)) > 0, "the heartbeat to wait for the pass's lock");
            },
          },
        );
        expect(tokens.map((token) => token.id)).toEqual([id]);
        expect(await heartbeat).toBe(false);
        expect((await t.row(id)).status).toBe("SUSPENDED");
      });
    }
  });
}

function defaults(table: string) {
  return {
    table,
    columns: {
      id: "id",
      status: "status",
      heartbeatRequiredEvery: "heartbeat_required_every",
      lastHeartbeatAt: "last_heartbeat_at",
      createdAt: "created_at",
      suspendedAt: "suspended_at",
      suspendedReason: "suspended_reason",
    },
    statuses: { active: "ACTIVE", suspended: "SUSPENDED", revoked: "REVOKED", expired: "EXPIRED" },
    grace: 0,
    sqliteTimeFormat: "auto" as const,
    reason: "HEARTBEAT_MISSING",
    resultIdLimit: 1000,
  };
}
