import {
  type CleanupOptions,
  type CleanupResult,
  ConfigError,
  checkCleanupPolicies,
  cleanupTask,
  type LogFields,
  type Logger,
  manualAdapter,
  registerTasks,
  type TaskEntry,
  type Upkeep,
} from "@upkeep/core";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killHard, startFixture, untilOutput } from "../fixtures/child.ts";
import { unusedDb } from "../fixtures/unused-db.ts";

const NOW = new Date("2026-03-01T12:00:00.000Z");
const DAY = 86_400_000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** A moment relative to NOW: ago(90 * DAY + MINUTE) is just past a 90-day boundary. */
const ago = (ms: number) => new Date(NOW.getTime() - ms);

let prefixes = 0;
const freshPrefix = () => `c${++prefixes}_`;

function captureLogger() {
  const lines: { level: string; fields: LogFields; msg: string }[] = [];
  const at = (level: string) => (fields: LogFields, msg: string) => lines.push({ level, fields, msg });
  const logger: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { logger, lines };
}

const ids = async (db: Knex, table: string) => (await db(table).select("id").orderBy("id")).map((row) => Number(row.id));
const range = (lo: number, hi: number) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`cleanup on ${dialect}`, () => {
    let database: TestDatabase;
    let db: Knex;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      db = database.knex;
    });
    afterAll(async () => {
      await database?.destroy();
    });

    function host(tasks: TaskEntry["task"][] | TaskEntry[], options: { on?: Parameters<typeof registerTasks>[1]["on"] } = {}) {
      const { logger, lines } = captureLogger();
      const adapter = manualAdapter();
      const upkeep = registerTasks(adapter, {
        tasks: tasks as TaskEntry[],
        db,
        tablePrefix: freshPrefix(),
        logger,
        clock: () => NOW,
        abortGrace: 2000,
        on: options.on,
      });
      return { upkeep, adapter, lines };
    }

    async function runCleanup(options: CleanupOptions, runOptions: { dryRun?: boolean } = {}) {
      const { upkeep, lines } = host([cleanupTask(options)]);
      const run = await upkeep.run("cleanup", runOptions);
      await upkeep.stop();
      return { run, result: run.result as CleanupResult, lines };
    }

    /**
     * Runs `body` with a cleanup on a knex of one connection, so checks after the run see the
     * connection its batches used; then stops the instance and closes the knex.
     */
    async function onOneConnection(options: CleanupOptions, body: (single: Knex, upkeep: Upkeep) => Promise<void>) {
      const single = (await import("knex")).default({ ...db.client.config, pool: { min: 1, max: 1 } });
      const upkeep = registerTasks(manualAdapter(), {
        db: single,
        tablePrefix: freshPrefix(),
        logger: captureLogger().logger,
        clock: () => NOW,
        tasks: [cleanupTask(options)],
      });
      try {
        await body(single, upkeep);
      } finally {
        await upkeep.stop();
        await single.destroy();
      }
    }

    /** Runs one cleanup and records the rows done after each batch, as `run:progress` reports them. */
    async function runTracked(options: CleanupOptions) {
      const progress: number[] = [];
      const { upkeep } = host([cleanupTask(options)], { on: { "run:progress": ({ progress: p }) => void progress.push(p.done) } });
      const run = await upkeep.run("cleanup");
      await upkeep.stop();
      return { run, progress };
    }

    /** A table of (id, created_at, note) rows, with an index on created_at unless told otherwise. */
    async function eventsTable(name: string, ages: number[], options: { index?: boolean } = {}) {
      await db.schema.dropTableIfExists(name);
      await db.schema.createTable(name, (table) => {
        table.increments("id");
        table.datetime("created_at", { precision: 3 }).notNullable();
        table.string("note", 64);
        if (options.index ?? true) table.index(["created_at"]);
      });
      if (ages.length > 0) {
        for (let i = 0; i < ages.length; i += 500) {
          await db(name).insert(ages.slice(i, i + 500).map((age, j) => ({ created_at: ago(age), note: `row ${i + j + 1}` })));
        }
      }
    }

    async function tokensTable(name: string, extra?: "used_at" | "revoked_at") {
      await db.schema.createTable(name, (table) => {
        table.increments("id");
        table.datetime("expires_at", { precision: 3 }).notNullable().index();
        if (extra) table.datetime(extra, { precision: 3 }).nullable();
      });
    }

    it("auth preset removes exactly the rows past each boundary and keeps the rest", async () => {
      for (const table of ["blacklisted_tokens", "magic_links"]) {
        await tokensTable(table);
        // 1 expired a minute ago, 2 expires in a minute, 3 expired a week ago.
        await db(table).insert([{ expires_at: ago(MINUTE) }, { expires_at: ago(-MINUTE) }, { expires_at: ago(7 * DAY) }]);
      }
      await tokensTable("otp_codes", "used_at");
      await db("otp_codes").insert([
        { expires_at: ago(MINUTE), used_at: null }, // expired
        { expires_at: ago(-MINUTE), used_at: ago(MINUTE) }, // used, still valid
        { expires_at: ago(-MINUTE), used_at: null }, // live
      ]);
      await tokensTable("refresh_tokens", "revoked_at");
      await db("refresh_tokens").insert([
        { expires_at: ago(MINUTE), revoked_at: null }, // expired
        { expires_at: ago(-DAY), revoked_at: ago(MINUTE) }, // revoked
        { expires_at: ago(-DAY), revoked_at: null }, // live
      ]);
      await eventsTable("login_attempts", [90 * DAY + MINUTE, 90 * DAY - MINUTE, DAY]);
      await eventsTable("audit_logs", [365 * DAY + MINUTE, 365 * DAY - MINUTE, 100 * DAY]);

      const { run, result } = await runCleanup({ auth: true });
      expect(run.status).toBe("succeeded");
      expect(await ids(db, "blacklisted_tokens")).toEqual([2]);
      expect(await ids(db, "magic_links")).toEqual([2]);
      expect(await ids(db, "otp_codes")).toEqual([3]);
      expect(await ids(db, "refresh_tokens")).toEqual([3]);
      expect(await ids(db, "login_attempts")).toEqual([2, 3]);
      expect(await ids(db, "audit_logs")).toEqual([2, 3]);
      expect(result.policies.map((policy) => [policy.name, policy.status, policy.deleted])).toEqual([
        ["auth.blacklistedTokens", "done", 2],
        ["auth.magicLinks", "done", 2],
        ["auth.otpCodes", "done", 2],
        ["auth.refreshTokens", "done", 2],
        ["auth.loginAttempts", "done", 1],
        ["auth.auditLogs", "done", 1],
      ]);
      expect(result.totals).toEqual({ matched: 10, deleted: 10, archived: 0 });
      for (const table of ["blacklisted_tokens", "magic_links", "otp_codes", "refresh_tokens", "login_attempts", "audit_logs"]) {
        await db.schema.dropTable(table);
      }
    });

    it("platform preset deletes 30-day data, archives published outbox events, drops dead letters and duplicate intel", async () => {
      await eventsTable("endpoint_telemetry", [30 * DAY + MINUTE, 30 * DAY - MINUTE]);
      await eventsTable("audit_logs", [30 * DAY + MINUTE, 30 * DAY - MINUTE]);
      await eventsTable("cookie_consents", [30 * DAY + MINUTE, 30 * DAY - MINUTE]);
      for (const name of ["outbox_events", "outbox_events_archive"]) {
        await db.schema.createTable(name, (table) => {
          if (name === "outbox_events") table.increments("id");
          else table.integer("id").primary();
          table.datetime("created_at", { precision: 3 }).notNullable();
          table.datetime("published_at", { precision: 3 }).nullable().index();
          table.integer("attempts").notNullable().defaultTo(0);
        });
      }
      await db("outbox_events").insert([
        { created_at: ago(40 * DAY), published_at: ago(30 * DAY + MINUTE), attempts: 1 }, // 1 archived
        { created_at: ago(40 * DAY), published_at: ago(30 * DAY - MINUTE), attempts: 1 }, // 2 kept: published recently
        { created_at: ago(7 * DAY + MINUTE), published_at: null, attempts: 10 }, // 3 dead letter: deleted
        { created_at: ago(7 * DAY - MINUTE), published_at: null, attempts: 10 }, // 4 dead but recent: kept
        { created_at: ago(20 * DAY), published_at: null, attempts: 9 }, // 5 still retrying: kept
      ]);
      await db.schema.createTable("threat_indicators", (table) => {
        table.increments("id");
        table.string("type", 16).notNullable();
        table.string("value", 128).notNullable();
        table.index(["type", "value"]);
      });
      await db("threat_indicators").insert([
        { type: "ip", value: "192.0.2.1" },
        { type: "ip", value: "192.0.2.1" },
        { type: "domain", value: "example.test" },
        { type: "ip", value: "192.0.2.1" },
        { type: "domain", value: "example.test" },
        { type: "ip", value: "192.0.2.9" },
        { type: "domain", value: "192.0.2.1" },
      ]);

      const { run, result } = await runCleanup({ platform: true });
      expect(run.status).toBe("succeeded");
      for (const table of ["endpoint_telemetry", "audit_logs", "cookie_consents"]) expect(await ids(db, table)).toEqual([2]);
      expect(await ids(db, "outbox_events")).toEqual([2, 4, 5]);
      expect(await ids(db, "outbox_events_archive")).toEqual([1]);
      expect(await ids(db, "threat_indicators")).toEqual([1, 3, 6, 7]);
      const byName = Object.fromEntries(result.policies.map((policy) => [policy.name, policy]));
      expect(byName["platform.outboxPublished"]).toMatchObject({ action: "archive", archived: 1, deleted: 1 });
      expect(byName["platform.threatIntelDuplicates"]).toMatchObject({ action: "dedupe", deleted: 3 });
      for (const table of [
        "endpoint_telemetry",
        "audit_logs",
        "cookie_consents",
        "outbox_events",
        "outbox_events_archive",
        "threat_indicators",
      ]) {
        await db.schema.dropTable(table);
      }
    });

    it("dry run counts what each policy would touch, changes nothing and says so", async () => {
      await eventsTable("dry_events", [40 * DAY, 35 * DAY, 31 * DAY, DAY]);
      const { run, result } = await runCleanup(
        { policies: [{ table: "dry_events", column: "created_at", olderThan: "30d" }], batchSize: 2 },
        { dryRun: true },
      );
      expect(run.status).toBe("succeeded");
      expect(result.dryRun).toBe(true);
      expect(result.note).toBe("dry run: nothing was changed");
      expect(result.policies[0]).toMatchObject({ matched: 3, deleted: 0, batches: 0, reason: "dry run: nothing was changed" });
      expect(await ids(db, "dry_events")).toEqual([1, 2, 3, 4]);
    });

    it("olderThan 0 or null keeps rows forever and the policy says it was skipped", async () => {
      await eventsTable("forever_events", [400 * DAY, 2000 * DAY]);
      const { run, result } = await runCleanup({
        auth: {
          blacklistedTokens: false,
          magicLinks: false,
          otpCodes: false,
          refreshTokens: false,
          loginAttempts: { table: "forever_events", olderThan: 0 },
          auditLogs: { table: "forever_events", olderThan: null },
        },
      });
      expect(run.status).toBe("succeeded");
      expect(result.policies.map((policy) => [policy.name, policy.status, policy.reason])).toEqual([
        ["auth.loginAttempts", "skipped", "olderThan is 0 or null: rows are kept forever"],
        ["auth.auditLogs", "skipped", "olderThan is 0 or null: rows are kept forever"],
      ]);
      expect(await ids(db, "forever_events")).toEqual([1, 2]);
    });

    it("deletes in batches by key, reports progress per policy, and handles epoch columns and raw where", async () => {
      await db.schema.createTable("epoch_events", (table) => {
        table.increments("id");
        table.bigInteger("created_ms").notNullable().index();
        table.string("kind", 16).notNullable();
      });
      const rows = Array.from({ length: 25 }, (_, i) => ({
        created_ms: ago(i < 20 ? 10 * DAY : DAY).getTime(),
        kind: i % 2 === 0 ? "noise" : "keep",
      }));
      await db("epoch_events").insert(rows);
      const { run, progress } = await runTracked({
        batchSize: 4,
        batchTime: 0,
        policies: [
          {
            name: "noise",
            table: "epoch_events",
            column: "created_ms",
            olderThan: "7d",
            timeFormat: "epoch_ms",
            where: "kind = 'noise'",
          },
        ],
      });
      const result = run.result as CleanupResult;
      expect(result.policies[0]).toMatchObject({ status: "done", matched: 10, deleted: 10, batches: 3 });
      expect(progress).toEqual([4, 8, 10]);
      const left = await db("epoch_events").select("id", "kind", "created_ms").orderBy("id");
      expect(left).toHaveLength(15);
      expect(left.filter((row) => row.kind === "noise" && Number(row.created_ms) < ago(7 * DAY).getTime())).toEqual([]);
    });

    it("ends cleanly when the matching rows, spread between kept ones, fill the last batch exactly", async () => {
      await db.schema.createTable("exact_events", (table) => {
        table.increments("id");
        table.string("state", 8).notNullable();
      });
      // 12 rows, every third one kept: 8 matching rows, two full batches of 4 and no partial one.
      await db("exact_events").insert(Array.from({ length: 12 }, (_, i) => ({ state: i % 3 === 2 ? "live" : "done" })));
      const { upkeep } = host([
        cleanupTask({ batchSize: 4, batchTime: 0, policies: [{ name: "exact", table: "exact_events", where: "state = 'done'" }] }),
      ]);
      const run = await upkeep.run("cleanup");
      await upkeep.stop();
      expect((run.result as CleanupResult).policies[0]).toMatchObject({ status: "done", matched: 8, deleted: 8, batches: 2 });
      expect(await ids(db, "exact_events")).toEqual([3, 6, 9, 12]);
    });

    // PostgreSQL deletes a pure age cut by slices of the age index instead (tested below).
    it.runIf(dialect !== "postgres")(
      "cuts a pure age cut into key ranges up to the last expired key, skipping gaps in the keys",
      async () => {
        await db.schema.createTable("span_events", (table) => {
          table.integer("id").primary();
          table.bigInteger("created_ms").notNullable().index();
        });
        const at = (id: number, age: number) => ({ id, created_ms: ago(age).getTime() });
        // Expired keys 1-4 and 1001-1003 with nothing between, fresh rows around and after them.
        await db("span_events").insert([
          ...[1, 2, 3, 4, 1001, 1002, 1003].map((id) => at(id, 10 * DAY)),
          ...[5, 1004, 2000, 2001].map((id) => at(id, DAY)),
        ]);
        // One lane, so the batches come in key order (MariaDB would cut the span in two).
        const { run, progress } = await runTracked({
          batchSize: 4,
          batchTime: 0,
          concurrency: 1,
          policies: [{ name: "span", table: "span_events", column: "created_ms", olderThan: "7d", timeFormat: "epoch_ms" }],
        });
        // (0,4] takes 4; (4,8] holds only a fresh row; the next expired key is 1001: (1000,1003] takes 3.
        expect((run.result as CleanupResult).policies[0]).toMatchObject({ status: "done", matched: 7, deleted: 7, batches: 3 });
        expect(progress).toEqual([4, 4, 7]);
        expect(await ids(db, "span_events")).toEqual([5, 1004, 2000, 2001]);
      },
    );

    it("finds expired rows whose keys lie outside the span guessed from the age index's two ends", async () => {
      // Keys out of age order. The oldest expired row is 4 and the newest 6, so the first span is
      // [4, 6]; expired 2, 8 and 9 lie outside it and must be found by the exact read after it.
      const ages: Record<number, number> = {
        1: DAY,
        2: 20 * DAY,
        3: DAY,
        4: 40 * DAY,
        5: 15 * DAY,
        6: 8 * DAY,
        7: DAY,
        8: 12 * DAY,
        9: 25 * DAY,
        10: DAY,
      };
      const rows = Object.entries(ages).map(([id, age]) => ({ id: Number(id), created_at: ago(age), note: `row ${id}` }));
      for (const table of ["unordered_events", "unordered_archived"]) {
        await db.schema.createTable(table, (t) => {
          t.integer("id").primary();
          t.datetime("created_at", { precision: 3 }).notNullable().index();
          t.string("note", 64);
        });
        await db(table).insert(rows);
      }
      await db.schema.createTable("unordered_archive", (t) => {
        t.integer("id").notNullable();
        t.datetime("created_at", { precision: 3 }).notNullable();
        t.string("note", 64);
      });
      // The delete walks key spans on MariaDB and SQLite (PostgreSQL slices the age index instead);
      // the archive walks key spans everywhere.
      const { run, result } = await runCleanup({
        batchSize: 2,
        batchTime: 0,
        policies: [
          { table: "unordered_events", column: "created_at", olderThan: "7d" },
          {
            table: "unordered_archived",
            column: "created_at",
            olderThan: "7d",
            action: "archive",
            archive: { table: "unordered_archive" },
          },
        ],
      });
      expect(run.status).toBe("succeeded");
      expect(result.policies[0]).toMatchObject({ status: "done", deleted: 6 });
      expect(result.policies[1]).toMatchObject({ status: "done", archived: 6 });
      expect(await ids(db, "unordered_events")).toEqual([1, 3, 7, 10]);
      expect(await ids(db, "unordered_archived")).toEqual([1, 3, 7, 10]);
      expect(await ids(db, "unordered_archive")).toEqual([2, 4, 5, 6, 8, 9]);
    });

    it.runIf(dialect === "postgres")(
      "rolls a failing batch back whole and leaks no commit setting into its pooled connection (PostgreSQL)",
      async () => {
        // Oldest first, one minute apart: slices of two rows, the third holds the refused row.
        await eventsTable(
          "trip_events",
          Array.from({ length: 6 }, (_, i) => 40 * DAY - i * MINUTE),
        );
        await db.raw(`create or replace function trip_refuse() returns trigger language plpgsql as $$
          begin if old.id = 5 then raise exception 'row 5 is held'; end if; return old; end $$`);
        await db.raw("create trigger trip_refuse before delete on trip_events for each row execute function trip_refuse()");
        const options: CleanupOptions = {
          batchSize: 2,
          batchTime: 0,
          policies: [{ table: "trip_events", column: "created_at", olderThan: "30d" }],
        };
        await onOneConnection(options, async (single, upkeep) => {
          const run = await upkeep.run("cleanup");
          const result = run.result as CleanupResult;
          expect(run.status).toBe("failed");
          expect(result.policies[0]).toMatchObject({ status: "failed", deleted: 4, batches: 2 });
          expect(result.policies[0]?.error).toContain("row 5 is held");
          // The failed batch (5, 6) is whole, and the connection is back in autocommit with the
          // server's default commit mode: the batch's asynchronous commit held for it alone.
          expect(await ids(single, "trip_events")).toEqual([5, 6]);
          const shown = await single.raw("show synchronous_commit");
          expect(shown.rows[0].synchronous_commit).toBe("on");
          const open = await single.raw("select now() = statement_timestamp() as autocommit");
          expect(open.rows[0].autocommit).toBe(true);
        });
      },
    );

    it("cuts at the same instant whatever the process's time zone, and never early on a timestamp without zone", async () => {
      const saved = process.env.TZ;
      try {
        if (dialect !== "mariadb") {
          // A column that holds instants (timestamptz; knex's numbers on SQLite). East of UTC, a
          // cutoff written in local time without its offset would land 9 hours late.
          process.env.TZ = "Asia/Tokyo";
          await eventsTable("tz_events", [30 * DAY + MINUTE, 30 * DAY - MINUTE, 40 * DAY]);
          const { result } = await runCleanup({ batchSize: 2, policies: [{ table: "tz_events", column: "created_at", olderThan: "30d" }] });
          expect(result.policies[0]).toMatchObject({ status: "done", deleted: 2 });
          expect(await ids(db, "tz_events")).toEqual([2]);
        }
        if (dialect === "sqlite") return;
        // A column of wall time (timestamp without time zone, DATETIME) holding UTC, written by
        // another program. East of UTC the cutoff is read in UTC wall time (a Tokyo wall-time cutoff
        // would take the row a minute past 30 days as well as rows up to 9 hours short of it); west
        // of it, in local wall time, the earlier of the two, so a row goes only once it is old
        // enough under either reading (here kept up to 5 hours longer).
        const zones = [
          { zone: "Asia/Tokyo", left: [2] },
          { zone: "America/New_York", left: [1, 2] },
        ];
        for (const { zone, left } of zones) {
          process.env.TZ = zone;
          await db.schema.dropTableIfExists("tz_naive_events");
          await db.schema.createTable("tz_naive_events", (table) => {
            table.increments("id");
            table
              .specificType("created_at", dialect === "postgres" ? "timestamp(3)" : "datetime(3)")
              .notNullable()
              .index();
          });
          const wall = (ms: number) => ago(ms).toISOString().replace("T", " ").replace("Z", "");
          const ages = [30 * DAY + MINUTE, 30 * DAY - HOUR, 40 * DAY, 30 * DAY + 6 * HOUR];
          await db("tz_naive_events").insert(ages.map((ms) => ({ created_at: db.raw("?", [wall(ms)]) })));
          await runCleanup({ policies: [{ table: "tz_naive_events", column: "created_at", olderThan: "30d" }] });
          expect({ zone, left: await ids(db, "tz_naive_events") }).toEqual({ zone, left });
        }
      } finally {
        if (saved === undefined) delete process.env.TZ;
        else process.env.TZ = saved;
      }
    });

    it.runIf(dialect === "postgres")(
      "deletes a pure age cut by slices of the age index, any key type, bounds exact to the microsecond (PostgreSQL)",
      async () => {
        await db.schema.createTable("slice_events", (table) => {
          table.uuid("id").primary();
          table.specificType("created_at", "timestamptz(6)").notNullable().index();
        });
        // Five expired rows a microsecond apart: a bound rounded to the millisecond would cut an
        // empty first slice and shift every later one.
        const base = ago(10 * DAY)
          .toISOString()
          .replace("Z", "");
        const expired = [0, 1, 2, 3, 4].map((us) => ({
          id: `00000000-0000-4000-8000-00000000000${us}`,
          created_at: db.raw(`?::timestamp at time zone 'UTC'`, [`${base}00${us}`]),
        }));
        const fresh = { id: "00000000-0000-4000-8000-000000000009", created_at: ago(DAY) };
        await db("slice_events").insert([...expired, fresh]);
        const { run, progress } = await runTracked({
          batchSize: 2,
          batchTime: 0,
          policies: [{ name: "slices", table: "slice_events", column: "created_at", olderThan: "7d" }],
        });
        expect((run.result as CleanupResult).policies[0]).toMatchObject({ status: "done", matched: 5, deleted: 5, batches: 3 });
        expect(progress).toEqual([2, 4, 5]);
        expect((await db("slice_events").select("id")).map((row) => row.id)).toEqual([fresh.id]);
      },
    );

    it.runIf(dialect === "postgres")("slices an epoch-milliseconds column by its integer values (PostgreSQL)", async () => {
      await db.schema.createTable("epoch_slice_events", (table) => {
        table.increments("id");
        table.bigInteger("created_ms").notNullable().index();
      });
      // Expired rows one millisecond apart, inserted newest first so keys and times run opposite ways.
      const expired = [4, 3, 2, 1, 0].map((ms) => ({ created_ms: ago(10 * DAY).getTime() + ms }));
      await db("epoch_slice_events").insert([...expired, { created_ms: ago(DAY).getTime() }]);
      const { run, progress } = await runTracked({
        batchSize: 2,
        batchTime: 0,
        policies: [{ table: "epoch_slice_events", column: "created_ms", olderThan: "7d", timeFormat: "epoch_ms" }],
      });
      expect((run.result as CleanupResult).policies[0]).toMatchObject({ status: "done", deleted: 5, batches: 3 });
      expect(progress).toEqual([2, 4, 5]);
      expect(await ids(db, "epoch_slice_events")).toEqual([6]);
    });

    it.runIf(dialect === "postgres")(
      "removes more rows of one timestamp than a batch holds key by key, in batches of at most batchSize (PostgreSQL)",
      async () => {
        // One row older than the group, seven rows sharing a timestamp, one fresh row.
        await eventsTable("tie_events", [40 * DAY + MINUTE, ...Array.from({ length: 7 }, () => 40 * DAY), DAY]);
        const { run, progress } = await runTracked({
          batchSize: 3,
          batchTime: 0,
          policies: [{ table: "tie_events", column: "created_at", olderThan: "30d" }],
        });
        // The slice before the group, then the group three keys at a time.
        expect((run.result as CleanupResult).policies[0]).toMatchObject({ status: "done", deleted: 8, batches: 4 });
        expect(progress).toEqual([1, 4, 7, 8]);
        expect(await ids(db, "tie_events")).toEqual([9]);
      },
    );

    /** Counts the statements of a run by kind: finds of a slice bound, predicted slices, and statement timeouts. */
    function sliceStatements(on: Knex) {
      const counts = { finds: 0, predicted: 0, timeouts: 0 };
      const onQuery = (query: { sql: string }) => {
        if (query.sql.includes("upkeep_slice")) counts.finds++;
        if (query.sql.includes("upkeep_guard")) counts.predicted++;
      };
      const onError = (error: { code?: string }) => {
        if (error?.code === "57014") counts.timeouts++;
      };
      on.on("query", onQuery).on("query-error", onError);
      return { counts, stop: () => on.removeListener("query", onQuery).removeListener("query-error", onError) };
    }

    it.runIf(dialect === "postgres")(
      "predicts slice bounds from the last slice's density, exact through denser rows, a gap in time and any column kind (PostgreSQL)",
      async () => {
        // Twenty rows a minute apart, forty a second apart, a five-day gap, ten an hour apart, then
        // rows inside the retention: each change of density and the gap cross a predicted slice.
        const ages = [
          ...Array.from({ length: 20 }, (_, i) => 30 * DAY - i * MINUTE),
          ...Array.from({ length: 40 }, (_, i) => 29 * DAY - i * 1000),
          ...Array.from({ length: 10 }, (_, i) => 20 * DAY - i * HOUR),
          ...Array.from({ length: 5 }, (_, i) => DAY + i * MINUTE),
        ];
        const expired = ages.filter((age) => age > 7 * DAY).length;
        const kinds = [
          { table: "predict_tz", type: "timestamptz(6)", timeFormat: "date" as const, value: (age: number) => ago(age) },
          { table: "predict_wall", type: "timestamp(6)", timeFormat: "date" as const, value: (age: number) => ago(age) },
          { table: "predict_ms", type: "bigint", timeFormat: "epoch_ms" as const, value: (age: number) => ago(age).getTime() },
        ];
        for (const kind of kinds) {
          await db.schema.dropTableIfExists(kind.table);
          await db.schema.createTable(kind.table, (table) => {
            table.increments("id");
            table.specificType("created_at", kind.type).notNullable().index();
          });
          await db(kind.table).insert(ages.map((age) => ({ created_at: kind.value(age) })));
          const trace = sliceStatements(db);
          const { run, progress } = await runTracked({
            batchSize: 5,
            maxBatchSize: 5,
            batchTime: "10s",
            policies: [{ table: kind.table, column: "created_at", olderThan: "7d", timeFormat: kind.timeFormat }],
          });
          trace.stop();
          const result = (run.result as CleanupResult).policies[0];
          expect(result, kind.table).toMatchObject({ status: "done", matched: expired, deleted: expired });
          expect(await ids(db, kind.table), kind.table).toEqual([71, 72, 73, 74, 75]);
          // Most slices were predicted rather than found; every batch removed rows in order.
          expect(trace.counts.predicted, kind.table).toBeGreaterThan(trace.counts.finds);
          expect(progress.at(-1)).toBe(expired);
        }
      },
    );

    it.runIf(dialect === "postgres")(
      "rolls back a predicted slice that outlasts its guard and finds that batch instead, leaking no setting (PostgreSQL)",
      async () => {
        await eventsTable(
          "guard_events",
          Array.from({ length: 30 }, (_, i) => 40 * DAY - i * MINUTE),
        );
        // Row 13 lies in the third slice, the first predicted one: a lock on it outlasts the guard
        // (twice batchTime), so the predicted delete is cancelled and the batch is found and
        // deleted once the lock goes.
        const holder = await db.transaction();
        await holder.raw("select id from guard_events where id = 13 for update");
        const options: CleanupOptions = {
          batchSize: 5,
          maxBatchSize: 5,
          batchTime: "50ms",
          policies: [{ table: "guard_events", column: "created_at", olderThan: "30d" }],
        };
        try {
          await onOneConnection(options, async (single, upkeep) => {
            const trace = sliceStatements(single);
            const running = upkeep.run("cleanup");
            await new Promise((resolve) => setTimeout(resolve, 600));
            await holder.commit();
            const run = await running;
            trace.stop();
            expect((run.result as CleanupResult).policies[0]).toMatchObject({ status: "done", matched: 30, deleted: 30 });
            expect(await ids(single, "guard_events")).toEqual([]);
            expect(trace.counts.timeouts).toBeGreaterThanOrEqual(1);
            expect(trace.counts.predicted).toBeGreaterThan(1);
            // The guard and the commit mode held for the predicted slice's transaction alone.
            const shown = await single.raw("select current_setting('statement_timeout') as t, current_setting('synchronous_commit') as c");
            expect(shown.rows[0]).toEqual({ t: "0", c: "on" });
          });
        } finally {
          if (!holder.isCompleted()) await holder.rollback();
        }
      },
    );

    it.runIf(dialect !== "postgres")("walks key by key when the keys are not integers", async () => {
      await db.schema.createTable("keyed_events", (table) => {
        table.string("code", 8).primary();
        table.bigInteger("created_ms").notNullable().index();
      });
      const codes = ["a1", "b2", "c3", "d4", "e5", "f6", "g7"];
      await db("keyed_events").insert(codes.map((code, i) => ({ code, created_ms: ago(i % 2 === 0 ? 10 * DAY : DAY).getTime() })));
      const { upkeep } = host([
        cleanupTask({
          batchSize: 2,
          batchTime: 0,
          policies: [
            { name: "keyed", table: "keyed_events", primaryKey: "code", column: "created_ms", olderThan: "7d", timeFormat: "epoch_ms" },
          ],
        }),
      ]);
      const run = await upkeep.run("cleanup");
      await upkeep.stop();
      expect((run.result as CleanupResult).policies[0]).toMatchObject({ status: "done", matched: 4, deleted: 4, batches: 2 });
      const left = await db("keyed_events").select("code").orderBy("code");
      expect(left.map((row) => row.code)).toEqual(["b2", "d4", "f6"]);
    });

    it("archives to a table with nothing lost or duplicated when the process is killed between batches", async () => {
      await eventsTable("kill_events", [...Array.from({ length: 600 }, () => 40 * DAY), ...Array.from({ length: 100 }, () => DAY)]);
      await db.schema.createTable("kill_events_archive", (table) => {
        // No unique key on purpose: a duplicate would show up in the counts.
        table.integer("id").notNullable();
        table.datetime("created_at", { precision: 3 }).notNullable();
        table.string("note", 64);
      });
      const prefix = freshPrefix();
      const child = startFixture("cleanup-child", [dialect, database.target, prefix, NOW.toISOString()]);
      const output = await untilOutput(child, (text) => (text.match(/moved/g) ?? []).length >= 3);
      await killHard(child);
      expect(output).not.toContain("finished");

      const archivedAtKill = await ids(db, "kill_events_archive");
      expect(archivedAtKill.length).toBeGreaterThanOrEqual(150);
      expect(archivedAtKill.length).toBeLessThan(600);
      expect(new Set(archivedAtKill).size).toBe(archivedAtKill.length);
      const sourceAtKill = await ids(db, "kill_events");
      expect(sourceAtKill.length + archivedAtKill.length).toBe(700);
      expect(sourceAtKill.filter((id) => archivedAtKill.includes(id))).toEqual([]);

      const { run, result } = await runCleanup({
        batchSize: 50,
        policies: [
          { table: "kill_events", column: "created_at", olderThan: "30d", action: "archive", archive: { table: "kill_events_archive" } },
        ],
      });
      expect(run.status).toBe("succeeded");
      expect(result.policies[0]?.archived).toBe(600 - archivedAtKill.length);
      const archived = await ids(db, "kill_events_archive");
      expect(archived).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
      expect(await ids(db, "kill_events")).toEqual(Array.from({ length: 100 }, (_, i) => i + 601));
      const sample = await db("kill_events_archive").where({ id: 42 }).first();
      expect(sample.note).toBe("row 42");
    });

    // A trigger fails the batch holding row 7 with a deadlock's code, the first `failures` times it is
    // tried (counted by a sequence, which a rollback does not undo).
    async function deadlockOnce(table: string, failures: number) {
      await eventsTable(table, [...Array.from({ length: 20 }, (_, i) => 40 * DAY - i * MINUTE), DAY]);
      if (dialect === "mariadb") {
        await db.raw(`create sequence ${table}_tries nocache`);
        await db.raw(
          `create trigger ${table}_deadlock before delete on ${table} for each row
           begin if old.id = 7 then if nextval(${table}_tries) <= ${failures} then
             signal sqlstate '40001' set message_text = 'injected deadlock'; end if; end if; end`,
        );
      } else {
        await db.raw(`create sequence ${table}_tries`);
        await db.raw(
          `create or replace function ${table}_deadlock() returns trigger language plpgsql as
           $$ begin if old.id = 7 then if nextval('${table}_tries') <= ${failures} then
             raise exception 'injected deadlock' using errcode = '40P01'; end if; end if; return old; end $$`,
        );
        await db.raw(`create trigger ${table}_deadlock before delete on ${table} for each row execute function ${table}_deadlock()`);
      }
    }

    it.runIf(dialect === "postgres" || dialect === "mariadb")(
      "tries a batch a deadlock rolled back again, and fails the policy when it fails three times",
      async () => {
        const options = (table: string): CleanupOptions => ({
          batchSize: 5,
          batchTime: 0,
          concurrency: 1,
          policies: [{ table, column: "created_at", olderThan: "30d" }],
        });
        const retried = (lines: { level: string; msg: string }[]) =>
          lines.filter((line) => line.level === "warn" && line.msg.includes("trying it again"));

        await deadlockOnce("deadlock_once", 1);
        const once = await runCleanup(options("deadlock_once"));
        expect(once.run.status).toBe("succeeded");
        expect(once.result.policies[0]).toMatchObject({ status: "done", deleted: 20, batches: 4 });
        expect(await ids(db, "deadlock_once")).toEqual([21]);
        expect(retried(once.lines)).toHaveLength(1);

        await deadlockOnce("deadlock_always", 1000);
        const always = await runCleanup(options("deadlock_always"));
        expect(always.run.status).toBe("failed");
        expect(always.result.policies[0]).toMatchObject({ status: "failed", deleted: 5, batches: 1 });
        expect(always.result.policies[0]?.error).toContain("injected deadlock");
        // Three tries of the batch holding row 7, each rolled back whole.
        expect(retried(always.lines)).toHaveLength(2);
        expect(await ids(db, "deadlock_always")).toEqual(range(6, 21));
      },
    );

    it("a sink that throws stops its policy with nothing deleted for that batch while the other policies run", async () => {
      await eventsTable(
        "sink_events",
        Array.from({ length: 10 }, () => 40 * DAY),
      );
      await eventsTable("other_events", [40 * DAY, DAY]);
      const received: number[] = [];
      let calls = 0;
      const { run, result } = await runCleanup({
        batchSize: 4,
        policies: [
          {
            table: "sink_events",
            column: "created_at",
            olderThan: "30d",
            action: "archive",
            archive: {
              sink: async (rows) => {
                calls++;
                // Coded like a dropped connection: a database batch would be tried again, a sink's is not.
                if (received.length >= 4) throw Object.assign(new Error("warehouse unavailable"), { code: "ECONNRESET" });
                received.push(...rows.map((row) => Number(row.id)));
              },
            },
          },
          { table: "other_events", column: "created_at", olderThan: "30d" },
        ],
      });
      expect(run.status).toBe("failed");
      expect(run.errorMessage).toContain("sink_events: warehouse unavailable");
      expect(received).toEqual([1, 2, 3, 4]);
      expect(calls).toBe(2);
      expect(await ids(db, "sink_events")).toEqual([5, 6, 7, 8, 9, 10]);
      expect(result.policies[0]).toMatchObject({ status: "failed", archived: 4, batches: 1, error: "warehouse unavailable" });
      expect(result.policies[1]).toMatchObject({ status: "done", deleted: 1 });
      expect(await ids(db, "other_events")).toEqual([2]);
    });

    it("deletes only the rows a sink acknowledged", async () => {
      await eventsTable(
        "ack_events",
        Array.from({ length: 6 }, () => 40 * DAY),
      );
      const { result } = await runCleanup({
        batchSize: 3,
        policies: [
          {
            table: "ack_events",
            column: "created_at",
            olderThan: "30d",
            action: "archive",
            // Acknowledges odd ids only, plus a key that is not in the batch, which must be ignored.
            archive: { sink: async (rows) => [...rows.map((row) => row.id).filter((id) => Number(id) % 2 === 1), 999] },
          },
        ],
      });
      expect(result.policies[0]).toMatchObject({ status: "done", matched: 6, archived: 3, batches: 2 });
      expect(await ids(db, "ack_events")).toEqual([2, 4, 6]);
    });

    // With two lanes (MariaDB cuts keys 1-30 into 1-15 and 16-30), each lane stops between batches.
    for (const concurrency of [1, 2]) {
      it(`an abort mid-policy leaves every finished batch committed and the rerun finishes (concurrency ${concurrency})`, async () => {
        await eventsTable("abort_events", [...Array.from({ length: 30 }, () => 40 * DAY), DAY]);
        await eventsTable("later_events", [40 * DAY]);
        const options: CleanupOptions = {
          batchSize: 5,
          batchTime: 0,
          concurrency,
          policies: [
            { table: "abort_events", column: "created_at", olderThan: "30d" },
            { table: "later_events", column: "created_at", olderThan: "30d" },
          ],
        };
        const first = host([cleanupTask(options)]);
        first.upkeep.on("run:progress", ({ progress }) => {
          if (progress.done >= 10) void first.upkeep.stop({ timeout: 5000 });
        });
        const run = await first.upkeep.run("cleanup");
        expect(run.status).toBe("interrupted");
        const partial = run.result as CleanupResult;
        // stop() aborts between batches: every finished batch is whole and committed, the rest untouched.
        const done = partial.policies[0]?.deleted ?? 0;
        expect(partial.policies[0]).toMatchObject({ status: "stopped", stoppedEarly: true, batches: done / 5 });
        expect(done).toBeGreaterThanOrEqual(10);
        expect(done).toBeLessThan(30);
        expect(partial.policies[1]).toMatchObject({ status: "not_started", deleted: 0 });
        const left = await ids(db, "abort_events");
        expect(left).toHaveLength(31 - done);
        // Each lane removed whole batches from the start of its keys and nothing after its stop.
        const lanes =
          dialect === "mariadb" && concurrency === 2
            ? [
                [1, 15],
                [16, 30],
              ]
            : [[1, 30]];
        for (const [lo, hi] of lanes as [number, number][]) {
          const keys = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
          const removed = keys.filter((id) => !left.includes(id));
          expect(removed).toEqual(keys.slice(0, removed.length));
          expect(removed.length % 5).toBe(0);
        }
        expect(await ids(db, "later_events")).toEqual([1]);

        const { run: rerun, result } = await runCleanup(options);
        expect(rerun.status).toBe("succeeded");
        expect(result.policies.map((policy) => policy.deleted)).toEqual([30 - done, 1]);
        expect(await ids(db, "abort_events")).toEqual([31]);
        expect(await ids(db, "later_events")).toEqual([]);
      });
    }

    /** Keys 1-200 expired and 201 fresh: MariaDB's two lanes take keys 1-100 and 101-200. */
    async function laneTable(name: string) {
      await eventsTable(name, [...Array.from({ length: 200 }, () => 40 * DAY), DAY]);
    }

    it.runIf(dialect === "mariadb")("deletes a MariaDB key span in two lanes that do not wait for each other", async () => {
      await laneTable("lane_events");
      // Another transaction holds key 50, in the first lane's keys: only that lane waits.
      const holder = await db.transaction();
      try {
        await holder("lane_events").where("id", 50).forUpdate();
        const { upkeep } = host([
          cleanupTask({ batchSize: 10, batchTime: 0, policies: [{ table: "lane_events", column: "created_at", olderThan: "30d" }] }),
        ]);
        let settled = false;
        const running = upkeep.run("cleanup").finally(() => {
          settled = true;
        });
        await expect.poll(async () => (await ids(db, "lane_events")).filter((id) => id > 100), { timeout: 10_000 }).toEqual([201]);
        expect(settled).toBe(false);
        // The first lane finished its batches before key 50 and waits at the one holding it.
        expect((await ids(db, "lane_events")).filter((id) => id <= 100)).toEqual(range(41, 100));
        await holder.commit();
        const run = await running;
        await upkeep.stop();
        expect(run.status).toBe("succeeded");
        expect((run.result as CleanupResult).policies[0]).toMatchObject({ status: "done", deleted: 200, batches: 20 });
        expect(await ids(db, "lane_events")).toEqual([201]);
      } finally {
        if (!holder.isCompleted()) await holder.rollback();
      }
    });

    it.runIf(dialect === "mariadb")("runs its two lanes on a pool of one connection, taking turns", async () => {
      await laneTable("pooled_lanes");
      const options: CleanupOptions = {
        batchSize: 10,
        batchTime: 0,
        policies: [{ table: "pooled_lanes", column: "created_at", olderThan: "30d" }],
      };
      await onOneConnection(options, async (_single, upkeep) => {
        const run = await upkeep.run("cleanup");
        expect(run.status).toBe("succeeded");
        expect((run.result as CleanupResult).policies[0]).toMatchObject({ status: "done", deleted: 200, batches: 20 });
        expect(await ids(db, "pooled_lanes")).toEqual([201]);
      });
    });

    it.runIf(dialect === "mariadb")("stops every lane when one fails, before the policy's result is written", async () => {
      await laneTable("failing_lanes");
      // The second lane's first batch, keys 101-110, fails on key 101; the first lane is paused between batches.
      await db.raw(
        `create trigger failing_lanes_guard before delete on failing_lanes for each row
         begin if old.id = 101 then signal sqlstate '45000' set message_text = 'lane guard'; end if; end`,
      );
      const { run, result } = await runCleanup({
        batchSize: 10,
        batchTime: 0,
        pause: "100ms",
        policies: [{ table: "failing_lanes", column: "created_at", olderThan: "30d" }],
      });
      expect(run.status).toBe("failed");
      expect(result.policies[0]).toMatchObject({ status: "failed" });
      expect(result.policies[0]?.error).toContain("lane guard");
      const left = await ids(db, "failing_lanes");
      const removed = range(1, 100).filter((id) => !left.includes(id));
      // The first lane removed whole batches from its start, stopped early, and its rows are counted.
      expect(removed).toEqual(range(1, removed.length));
      expect(removed.length % 10).toBe(0);
      expect(removed.length).toBeLessThan(100);
      expect(result.policies[0]?.deleted).toBe(removed.length);
      // The failed batch rolled back whole; nothing of the second lane's keys went.
      expect(left.filter((id) => id > 100)).toEqual(range(101, 201));
      // And no lane goes on deleting after the run has returned.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await ids(db, "failing_lanes")).toEqual(left);
    });

    // An index a plain age filter cannot walk in order counts as none. MariaDB has neither kind.
    const unordered = [
      { kind: "partial", on: ["postgres", "sqlite"], ddl: "(created_at) where note is not null" },
      { kind: "brin", on: ["postgres"], ddl: "using brin (created_at)" },
    ];
    for (const { kind, on, ddl } of unordered) {
      it.runIf(on.includes(dialect))(`counts a ${kind} index on the age column as no index: warned, and not walked through`, async () => {
        const table = `${kind}_events`;
        await eventsTable(table, [40 * DAY, 40 * DAY - MINUTE, 40 * DAY - 2 * MINUTE, DAY], { index: false });
        await db.raw(`create index ${table}_created on ${table} ${ddl}`);
        const options: CleanupOptions = { batchSize: 2, batchTime: 0, policies: [{ table, column: "created_at", olderThan: "30d" }] };
        expect((await checkCleanupPolicies(db, options)).warnings).toEqual([
          `policy "${table}": column "${table}.created_at" has no index; the cleanup will scan the table`,
        ]);
        const { result } = await runCleanup(options);
        expect(result.policies[0]).toMatchObject({ status: "done", deleted: 3, batches: 2 });
        expect(await ids(db, table)).toEqual([4]);
      });
    }

    it("start() fails naming an unknown column; a run fails only that policy; unindexed columns are warned about", async () => {
      await eventsTable("known_events", [40 * DAY, DAY]);
      await eventsTable("slow_events", [40 * DAY], { index: false });
      const bad: CleanupOptions = {
        policies: [
          { table: "known_events", column: "creatd_at", olderThan: "30d" },
          { table: "slow_events", column: "created_at", olderThan: "30d" },
        ],
      };
      const { upkeep } = host([cleanupTask(bad)]);
      const error = await upkeep.start().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain(
        'tasks.cleanup.input.policies.0.column: column "creatd_at" does not exist in table "known_events"',
      );

      const check = await checkCleanupPolicies(db, { policies: [{ table: "no_such_table", column: "created_at", olderThan: "30d" }] });
      expect(check.issues).toEqual([{ path: "policies.0.table", message: 'table "no_such_table" does not exist' }]);

      const { run, result, lines } = await runCleanup(bad);
      expect(run.status).toBe("failed");
      expect(result.policies[0]).toMatchObject({ status: "failed", error: 'column "creatd_at" does not exist in table "known_events"' });
      expect(result.policies[1]).toMatchObject({ status: "done", deleted: 1 });
      expect(lines.some((line) => line.level === "warn" && line.msg.includes('"slow_events.created_at" has no index'))).toBe(true);
      expect(lines.some((line) => line.level === "warn" && line.msg.includes("known_events"))).toBe(false);
      expect(await ids(db, "known_events")).toEqual([1, 2]);
    });
  });
}

describe("cleanup registration", () => {
  const register = (options: CleanupOptions) => () => registerTasks(manualAdapter(), { db: unusedDb, tasks: [cleanupTask(options)] });

  it("refuses a policy on a protected table, naming the field", () => {
    expect(register({ protectedTables: ["accounts"], policies: [{ table: "accounts", column: "created_at", olderThan: "30d" }] })).toThrow(
      'tasks.cleanup.input.policies.0.table: table "accounts" is protected',
    );
    expect(register({ platform: true, policies: [{ table: "invoices", column: "created_at", olderThan: "30d" }] })).toThrow(
      /policies\.0\.table: table "invoices" is protected/,
    );
  });

  it("refuses a policy that would delete before a retention floor", () => {
    expect(register({ platform: true, floors: { audit_logs: "90d" } })).toThrow(
      /tasks\.cleanup\.input\.platform\.auditLogs\.olderThan: below the minimum retention of 90d for table "audit_logs"/,
    );
    expect(register({ floors: { audit_logs: "90d" }, policies: [{ table: "audit_logs", where: "level = 'debug'" }] })).toThrow(
      /policies\.0\.olderThan: table "audit_logs" has a minimum retention of 90d/,
    );
    expect(register({ auth: true, floors: { audit_logs: "90d" } })).not.toThrow();
  });
});
