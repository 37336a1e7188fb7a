// Issue 18 items 1, 3 and 4: flag columns read as the catalog types them (Tenxyte's booleans), the
// OTP rule, and guards (protected tables, floors, raw where) that neither a name's case, a run's
// input nor a raw `where` can get past.
import {
  type AuthPresetOptions,
  type CleanupOptions,
  type CleanupResult,
  ConfigError,
  cleanupTask,
  manualAdapter,
  registerTasks,
  type Upkeep,
} from "@upkeep/core";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runDdl } from "../fixtures/schemas/ddl.ts";
import { djangoBool, djangoTime, tenxyteDdl } from "../fixtures/schemas/django-tenxyte.ts";
import { unusedDb } from "../fixtures/unused-db.ts";

const NOW = new Date("2026-03-01T12:00:00.000Z");
const DAY = 86_400_000;
const at = (ms: number) => new Date(NOW.getTime() + ms);
const silent = { debug() {}, info() {}, warn() {}, error() {} };

let prefixes = 0;
const ids = async (db: Knex, table: string) => (await db(table).select("id").orderBy("id")).map((row) => Number(row.id));

/** Every auth table off but the ones given. */
const only = (auth: AuthPresetOptions): AuthPresetOptions => ({
  blacklistedTokens: false,
  magicLinks: false,
  otpCodes: false,
  refreshTokens: false,
  loginAttempts: false,
  auditLogs: false,
  ...auth,
});

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`cleanup guards on ${dialect}`, () => {
    let database: TestDatabase;
    let db: Knex;
    // Django keeps SQLite times as text; every time below is days from the cutoff.
    const timeFormat = dialect === "sqlite" ? "iso" : "date";
    const time = (ms: number) => djangoTime(dialect, at(ms));
    const bool = (value: boolean) => djangoBool(dialect, value);

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      db = database.knex;
    });
    afterAll(async () => {
      await database?.destroy();
    });

    const host = (options: CleanupOptions): Upkeep =>
      registerTasks(manualAdapter(), {
        tasks: [cleanupTask(options)],
        db,
        tablePrefix: `g${++prefixes}_`,
        logger: silent,
        clock: () => NOW,
      });

    /** start() (which runs verify), one run, stop. */
    async function startAndRun(options: CleanupOptions) {
      const upkeep = host(options);
      try {
        await upkeep.start();
        const run = await upkeep.run("cleanup");
        return run.result as CleanupResult;
      } finally {
        await upkeep.stop();
      }
    }

    /** The message of the ConfigError start() throws. */
    async function startError(options: CleanupOptions): Promise<string> {
      const upkeep = host(options);
      const error = await upkeep.start().catch((caught: unknown) => caught);
      await upkeep.stop();
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).message;
    }

    async function tenxyteRows() {
      const tables = ["otp_codes", "refresh_tokens", "magic_link_tokens"];
      for (const table of tables) await db.schema.dropTableIfExists(table);
      await runDdl(db, tenxyteDdl(dialect, tables));
      const otp = (expires: number, used: boolean, attempts = 0) => ({
        code: "hash",
        otp_type: "login_2fa",
        is_used: bool(used),
        expires_at: time(expires),
        created_at: time(-DAY),
        attempts,
        max_attempts: 3,
        user_id: 1,
      });
      await db("otp_codes").insert([
        otp(-7 * DAY, false), // 1 expired
        otp(7 * DAY, true, 1), // 2 used, not expired
        otp(7 * DAY, false), // 3 live
        otp(-7 * DAY, true, 1), // 4 expired and used
      ]);
      const refresh = (n: number, expires: number, revoked: boolean) => ({
        token: `t${n}`,
        device_info: "",
        is_revoked: bool(revoked),
        expires_at: time(expires),
        created_at: time(-DAY),
        last_used_at: time(-DAY),
        user_id: 1,
        application_id: 1,
      });
      await db("refresh_tokens").insert([refresh(1, -7 * DAY, false), refresh(2, 30 * DAY, true), refresh(3, 30 * DAY, false)]);
      const link = (n: number, expires: number, usedAt: number | null) => ({
        token: `l${n}`,
        is_used: bool(usedAt !== null),
        used_at: usedAt === null ? null : time(usedAt),
        expires_at: time(expires),
        created_at: time(-DAY),
        user_id: 1,
      });
      await db("magic_link_tokens").insert([link(1, -7 * DAY, null), link(2, 7 * DAY, -DAY), link(3, 7 * DAY, null)]);
    }

    it("reads Tenxyte's boolean is_used and is_revoked as flags: only used or expired codes, revoked or expired tokens go (every row went before)", async () => {
      await tenxyteRows();
      const result = await startAndRun({
        auth: only({
          timeFormat,
          magicLinks: { table: "magic_link_tokens" },
          otpCodes: { usedColumn: "is_used" },
          refreshTokens: { revokedColumn: "is_revoked" },
        }),
      });
      expect(await ids(db, "otp_codes")).toEqual([3]);
      expect(await ids(db, "refresh_tokens")).toEqual([3]);
      // Magic links go when expired only, as Tenxyte's own cleanup does: a used, unexpired link stays.
      expect(await ids(db, "magic_link_tokens")).toEqual([2, 3]);
      expect(result.policies.map((policy) => [policy.name, policy.deleted])).toEqual([
        ["auth.magicLinks", 1],
        ["auth.otpCodes", 3],
        ["auth.refreshTokens", 2],
      ]);
    });

    it('otpCodes.delete "expired" keeps used codes until they expire, as Tenxyte\'s command does', async () => {
      await tenxyteRows();
      await startAndRun({ auth: only({ timeFormat, otpCodes: { usedColumn: "is_used", delete: "expired" } }) });
      expect(await ids(db, "otp_codes")).toEqual([2, 3]);
    });

    it("reads a nullable used_at timestamp as set when not null, detected or stated, and a stated flag on a boolean", async () => {
      for (const usedColumn of ["used_at", { column: "used_at", kind: "timestamp" }, { column: "is_used", kind: "flag" }] as const) {
        await tenxyteRows();
        await startAndRun({ auth: only({ timeFormat, otpCodes: { table: "magic_link_tokens", usedColumn } }) });
        expect(await ids(db, "magic_link_tokens")).toEqual([3]);
      }
    });

    it("refuses at start() a flag column that cannot be read safely, naming the field, and a run deletes nothing from it", async () => {
      await tenxyteRows();
      const refused = async (auth: AuthPresetOptions, path: string, message: string) => {
        const text = await startError({ auth: only({ timeFormat, ...auth }) });
        expect(text).toContain(`tasks.cleanup.input.auth.${path}: ${message}`);
      };
      await refused({ otpCodes: { usedColumn: "created_at" } }, "otpCodes.usedColumn", 'column "otp_codes.created_at" is a NOT NULL');
      await refused(
        { refreshTokens: { revokedColumn: "device_info" } },
        "refreshTokens.revokedColumn",
        'column "refresh_tokens.device_info" is',
      );
      await refused({ otpCodes: { usedColumn: "attempts" } }, "otpCodes.usedColumn", 'column "otp_codes.attempts" is int');
      await refused(
        { otpCodes: { usedColumn: { column: "is_used", kind: "timestamp" } } },
        "otpCodes.usedColumn",
        'column "otp_codes.is_used" is',
      );
      await refused({ otpCodes: { usedColumn: "no_such" } }, "otpCodes.usedColumn", 'column "no_such" does not exist in table "otp_codes"');
      await db("otp_codes").where("id", 3).update({ attempts: 2 });
      await refused(
        { otpCodes: { usedColumn: { column: "attempts", kind: "flag" } } },
        "otpCodes.usedColumn",
        'column "otp_codes.attempts" holds values other than 0 and 1',
      );

      if (dialect === "sqlite") {
        // SQLite keeps whatever is written: a bool column holding 'true' text is refused, not read as unset.
        await db("otp_codes").where("id", 3).update({ is_used: "true" });
        await refused(
          { otpCodes: { usedColumn: "is_used" } },
          "otpCodes.usedColumn",
          'column "otp_codes.is_used" holds values other than 0 and 1',
        );
        await db("otp_codes").where("id", 3).update({ is_used: 0 });
      }

      const upkeep = host({ auth: only({ timeFormat, otpCodes: { usedColumn: "created_at" } }) });
      const run = await upkeep.run("cleanup");
      await upkeep.stop();
      expect(run.status).toBe("failed");
      expect((run.result as CleanupResult).policies[0]).toMatchObject({ status: "failed", deleted: 0 });
      expect(await ids(db, "otp_codes")).toEqual([1, 2, 3, 4]);
    });

    it('reads an integer column as a flag only when stated, and only while it holds 0 and 1 (kind: "flag")', async () => {
      await tenxyteRows();
      await startAndRun({ auth: only({ timeFormat, otpCodes: { usedColumn: { column: "attempts", kind: "flag" } } }) });
      expect(await ids(db, "otp_codes")).toEqual([3]);
    });

    async function guardedTables() {
      for (const table of ["accounts", "audit_logs"]) {
        await db.schema.dropTableIfExists(table);
        await db.schema.createTable(table, (t) => {
          t.increments("id");
          t.datetime("created_at", { precision: 3 }).notNullable().index();
        });
        await db(table).insert([{ created_at: at(-400 * DAY) }, { created_at: at(-150 * DAY) }, { created_at: at(-DAY) }]);
      }
    }

    it('refuses a policy on "ACCOUNTS" when accounts is protected, before anything runs (SQLite emptied accounts)', async () => {
      await guardedTables();
      const attempt = Promise.resolve().then(() =>
        host({ protectedTables: ["accounts"], policies: [{ table: "ACCOUNTS", where: "1 = 1" }] }).run("cleanup"),
      );
      await expect(attempt).rejects.toThrow(/policies\.0\.table: table "ACCOUNTS" is protected \(as "accounts"\)/);
      await expect(
        Promise.resolve().then(() =>
          host({ floors: { AUDIT_LOGS: "365d" }, policies: [{ table: "audit_logs", column: "created_at", olderThan: "30d" }] }),
        ),
      ).rejects.toThrow(/policies\.0\.olderThan: below the minimum retention of 365d for table "AUDIT_LOGS"/);
      expect(await ids(db, "accounts")).toEqual([1, 2, 3]);
      expect(await ids(db, "audit_logs")).toEqual([1, 2, 3]);
    });

    it("a run's input adds protected tables and raises floors but can never remove or lower them", async () => {
      await guardedTables();
      const upkeep = host({
        protectedTables: ["accounts"],
        floors: { audit_logs: "90d" },
        platform: {
          telemetry: false,
          auditLogs: false,
          consentRecords: false,
          outboxPublished: false,
          outboxDeadLetters: false,
          threatIntelDuplicates: false,
        },
        policies: [{ table: "audit_logs", column: "created_at", olderThan: "100d" }],
      });
      try {
        const refused = async (input: Record<string, unknown>, message: RegExp) => {
          const error = await upkeep.run("cleanup", { input }).catch((caught: unknown) => caught);
          expect(error).toBeInstanceOf(ConfigError);
          expect((error as ConfigError).message).toMatch(message);
        };
        await refused({ protectedTables: [], policies: [{ table: "accounts", where: "1 = 1" }] }, /table "accounts" is protected/);
        await refused({ platform: false, policies: [{ table: "invoices", where: "1 = 1" }] }, /table "invoices" is protected/);
        await refused(
          { floors: {}, policies: [{ table: "audit_logs", column: "created_at", olderThan: "1d" }] },
          /below the minimum retention of 90d/,
        );
        await refused({ floors: { audit_logs: "1d" }, policies: [{ table: "audit_logs", column: "created_at", olderThan: "1d" }] }, /90d/);
        await refused({ protectedTables: ["audit_logs"] }, /table "audit_logs" is protected/);
        await refused({ floors: { audit_logs: "200d" } }, /below the minimum retention of 200d/);
        expect(await ids(db, "accounts")).toEqual([1, 2, 3]);
        expect(await ids(db, "audit_logs")).toEqual([1, 2, 3]);

        const run = await upkeep.run("cleanup", { input: { batchSize: 10 } });
        expect(run.status).toBe("succeeded");
        expect(await ids(db, "audit_logs")).toEqual([3]);
      } finally {
        await upkeep.stop();
      }
    });

    it("refuses a raw where that escapes its parentheses (`1=1) or (1=1` voided olderThan and the floor)", async () => {
      await guardedTables();
      const attempt = Promise.resolve().then(() =>
        host({
          floors: { audit_logs: "90d" },
          policies: [{ table: "audit_logs", column: "created_at", olderThan: "365d", where: "1=1) or (1=1" }],
        }).run("cleanup"),
      );
      await expect(attempt).rejects.toThrow(/policies\.0\.where: raw SQL closes a parenthesis it did not open/);
      expect(await ids(db, "audit_logs")).toEqual([1, 2, 3]);
    });
  });
}

describe("cleanup raw where", () => {
  const register = (where: string) => () =>
    registerTasks(manualAdapter(), {
      db: unusedDb,
      tasks: [cleanupTask({ policies: [{ table: "events", column: "created_at", olderThan: "30d", where }] })],
    });

  it("refuses unbalanced or multi-statement raw SQL at registration, naming the field and not the text", () => {
    for (const [where, message] of [
      ["1=1) or (1=1", "closes a parenthesis it did not open"],
      ["(level = 'debug'", "leaves a parenthesis unclosed"],
      ["level = 'debug", "has an unclosed ' quote"],
      ['"level = 1', 'has an unclosed " quote'],
      ["level = 1; delete from accounts", "may not contain ';'"],
      ["level = 1 -- and more", "may not contain a comment"],
      ["level = 1 /* x */", "may not contain a comment"],
      ["level = 1 # mysql", "may not contain a comment"],
      ["level = 'a\\') or (1=1 or (''='", "may not contain a backslash"],
      ["level = $$x$$", "may not contain '$'"],
    ] as const) {
      expect(register(where), where).toThrow(`tasks.cleanup.input.policies.0.where: raw SQL ${message}`);
      let text = "";
      try {
        register(where)();
      } catch (error) {
        text = (error as Error).message;
      }
      expect(text).not.toContain(where);
    }
  });

  it("accepts closed expressions, quotes with doubled quotes and parentheses inside strings", () => {
    for (const where of ["level = 'debug'", "(a = 1 or b = 2) and c <> 'it''s (not) closed'", 'note = "x;--y"', "`kind` in ('a', 'b')"]) {
      expect(register(where), where).not.toThrow();
    }
  });
});
