// The cleanup presets and the heartbeats task on the tables real frameworks create (see
// test/fixtures/schemas/), with rows in each framework's own storage form, run with the very
// configurations docs/tasks/cleanup.md and docs/tasks/heartbeats.md give ("Mapping your framework's
// tables"). Each case says exactly which rows survive, at the boundaries (expiring now, exactly at
// the age limit, a millisecond past it) and with the process in time zones east and west of UTC.
import { readFileSync } from "node:fs";
import {
  type CleanupOptions,
  type CleanupResult,
  checkCleanupPolicies,
  cleanupTask,
  type HeartbeatsOptions,
  type HeartbeatsResult,
  heartbeatsTask,
  type Logger,
  manualAdapter,
  registerTasks,
  type TaskEntry,
} from "@upkeep/core";
import { createTestDatabase, type Dialect, probeDialects, type TestDatabase } from "@upkeep/testkit";
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runDdl } from "../fixtures/schemas/ddl.ts";
import { DJANGO_SQLITE_TIME, djangoBool, djangoTime, tenxyteDdl } from "../fixtures/schemas/django-tenxyte.ts";
import { laravelCleanup } from "../fixtures/schemas/laravel.cleanup.ts";
import { laravelHeartbeats } from "../fixtures/schemas/laravel.heartbeats.ts";
import { laravelDdl, laravelTime } from "../fixtures/schemas/laravel.ts";
import { prismaCleanup } from "../fixtures/schemas/prisma.cleanup.ts";
import { prismaHeartbeats } from "../fixtures/schemas/prisma.heartbeats.ts";
import { type PrismaTimeForm, prismaDdl, prismaTime } from "../fixtures/schemas/prisma.ts";
import { railsCleanup } from "../fixtures/schemas/rails.cleanup.ts";
import { railsHeartbeats } from "../fixtures/schemas/rails.heartbeats.ts";
import { railsDdl, railsTime } from "../fixtures/schemas/rails.ts";
import { tenxyteCleanup, tenxytePlatformCleanup } from "../fixtures/schemas/tenxyte.cleanup.ts";
import { tenxyteHeartbeats } from "../fixtures/schemas/tenxyte.heartbeats.ts";

const NOW = new Date("2026-03-01T12:00:00.000Z");
const MS = 1;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const at = (offset: number) => new Date(NOW.getTime() + offset);

/** The process time zones each case also runs in: east of UTC, and west of it. */
const ZONES = ["UTC", "Asia/Tokyo", "America/Los_Angeles"] as const;
type Zone = (typeof ZONES)[number];

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };
let prefixes = 0;

async function runTask<R>(db: Knex, task: TaskEntry["task"], id: string): Promise<{ status: string; result: R; error: string | null }> {
  const upkeep = registerTasks(manualAdapter(), { db, tasks: [task], tablePrefix: `rs${++prefixes}_`, logger: silent, clock: () => NOW });
  try {
    const run = await upkeep.run(id);
    return { status: run.status, result: run.result as R, error: run.errorMessage };
  } finally {
    await upkeep.stop();
  }
}

async function runCleanup(db: Knex, options: CleanupOptions) {
  const run = await runTask<CleanupResult>(db, cleanupTask(options), "cleanup");
  // Every policy ran to the end: a failed check or statement would say so here.
  expect({ status: run.status, error: run.error, policies: run.result?.policies?.map((p) => [p.name, p.status, p.error]) }).toEqual({
    status: "succeeded",
    error: null,
    policies: run.result.policies.map((p) => [p.name, "done", undefined]),
  });
  return run.result;
}

async function runHeartbeats(db: Knex, options: HeartbeatsOptions) {
  const run = await runTask<HeartbeatsResult>(db, heartbeatsTask(options), "heartbeats");
  expect({ status: run.status, error: run.error }).toEqual({ status: "succeeded", error: null });
  return run.result;
}

/** The primary keys left in a table, sorted. */
async function left(db: Knex, table: string, key = "id"): Promise<Array<number | string>> {
  const rows = await db(table).select(key);
  const keys = rows.map((row) => (typeof row[key] === "string" && /^\d+$/.test(row[key]) ? Number(row[key]) : row[key]));
  return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Runs `body` with the process in `zone`, then restores the zone. */
async function inZone<T>(zone: Zone, body: () => Promise<T>): Promise<T> {
  const saved = process.env.TZ;
  process.env.TZ = zone;
  try {
    return await body();
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
}

/** A stored time column as epoch ms, read by the database (PostgreSQL, MariaDB) or as stored (SQLite). */
async function storedTime(db: Knex, dialect: Dialect, table: string, column: string, key: { column: string; value: string | number }) {
  if (dialect === "postgres") {
    const { rows } = await db.raw(`select (extract(epoch from ??) * 1000)::float8 as ms from ?? where ?? = ?`, [
      column,
      table,
      key.column,
      key.value,
    ]);
    return { ms: Number(rows[0].ms), raw: undefined as unknown, type: "native" };
  }
  if (dialect === "mariadb") {
    const [rows] = await db.raw("select TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ??) DIV 1000 as ms from ?? where ?? = ?", [
      column,
      table,
      key.column,
      key.value,
    ]);
    return { ms: Number(rows[0].ms), raw: undefined as unknown, type: "native" };
  }
  const rows = await db.raw(`select ?? as v, typeof(??) as t from ?? where ?? = ?`, [column, column, table, key.column, key.value]);
  return { ms: Number.NaN, raw: rows[0].v as unknown, type: rows[0].t as string };
}

/** The time columns of a framework's agent-token table and how the framework writes them. */
interface AgentTable {
  table: string;
  columns: { status: string; every: string; last: string; created: string; suspendedAt: string; reason: string };
  time(moment: Date): unknown;
  /** Values for the table's other NOT NULL columns. */
  extra(id: number): Record<string, unknown>;
  /** The smallest step the framework stores (Laravel's `timestamp` holds whole seconds). */
  step: number;
}

/**
 * Seeds the agent tokens (a 60-second period) and returns the ids the pass must suspend: a token
 * whose last heartbeat is exactly one period old is on time; one step older is overdue.
 */
async function seedAgents(db: Knex, agents: AgentTable): Promise<number[]> {
  const c = agents.columns;
  const row = (id: number, every: number | null, last: Date | null, created: Date, status = "ACTIVE") => ({
    ...agents.extra(id),
    id,
    [c.status]: status,
    [c.every]: every,
    [c.last]: last ? agents.time(last) : null,
    [c.created]: agents.time(created),
  });
  await db(agents.table).del();
  await db(agents.table).insert([
    row(1, 60, at(-MINUTE), at(-DAY)), // due exactly now: on time
    row(2, 60, at(-MINUTE - agents.step), at(-DAY)), // one step late
    row(3, 60, null, at(-MINUTE - agents.step)), // never beat, created one step more than a period ago
    row(4, 60, null, at(-MINUTE)), // never beat, created exactly a period ago
    row(5, 60, at(-10 * SECOND), at(-DAY)),
    row(6, null, null, at(-30 * DAY)), // needs no heartbeat
    row(7, 60, at(-DAY), at(-2 * DAY), "REVOKED"),
  ]);
  return [2, 3];
}

async function checkAgents(db: Knex, agents: AgentTable, result: HeartbeatsResult, suspended: number[]) {
  const c = agents.columns;
  expect(result.suspendedIds.map(Number).sort()).toEqual(suspended);
  const rows = await db(agents.table).select("id", c.status, c.reason).orderBy("id");
  expect(rows.map((r) => [Number(r.id), r[c.status], r[c.reason]])).toEqual([
    [1, "ACTIVE", null],
    [2, "SUSPENDED", "HEARTBEAT_MISSING"],
    [3, "SUSPENDED", "HEARTBEAT_MISSING"],
    [4, "ACTIVE", null],
    [5, "ACTIVE", null],
    [6, "ACTIVE", null],
    [7, "REVOKED", null],
  ]);
}

/** agent_tokens with the heartbeats task's default names (Tenxyte's, and a Rails or Laravel model's). */
const SNAKE_CASE_AGENTS = {
  table: "agent_tokens",
  columns: {
    status: "status",
    every: "heartbeat_required_every",
    last: "last_heartbeat_at",
    created: "created_at",
    suspendedAt: "suspended_at",
    reason: "suspended_reason",
  },
};

/** Seeds the agent tokens, runs one pass in `zone`, checks which were suspended; returns token 2's stored suspended_at. */
async function heartbeatCase(db: Knex, dialect: Dialect, agents: AgentTable, options: HeartbeatsOptions, zone: Zone) {
  const suspended = await seedAgents(db, agents);
  const result = await inZone(zone, () => runHeartbeats(db, options));
  await checkAgents(db, agents, result, suspended);
  return storedTime(db, dialect, agents.table, agents.columns.suspendedAt, { column: "id", value: 2 });
}

const statuses = await probeDialects();
const available = (dialect: Dialect) => statuses.some((s) => s.dialect === dialect && s.available);

// ---------------------------------------------------------------------------------------------
// Tenxyte (Django) on all three databases.
// ---------------------------------------------------------------------------------------------

for (const dialect of ["sqlite", "postgres", "mariadb"] as const) {
  describe.skipIf(!available(dialect))(`Tenxyte (Django) tables on ${dialect}`, () => {
    let database: TestDatabase;
    let db: Knex;
    const t = (moment: Date) => djangoTime(dialect, moment);
    const b = (value: boolean) => djangoBool(dialect, value);

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      db = database.knex;
      await runDdl(db, tenxyteDdl(dialect));
    });
    afterAll(async () => {
      await database?.destroy();
    });

    async function seedAuth() {
      const tables = ["blacklisted_tokens", "magic_link_tokens", "otp_codes", "refresh_tokens", "login_attempts", "audit_logs"];
      for (const table of tables) await db(table).del();
      await db("blacklisted_tokens").insert(
        [at(-MS), at(0), at(HOUR), at(-7 * DAY)].map((expires, i) => ({
          id: i + 1,
          token_jti: `jti-${i + 1}`,
          blacklisted_at: t(at(-HOUR)),
          expires_at: t(expires),
          reason: "logout",
        })),
      );
      await db("magic_link_tokens").insert(
        [at(-MS), at(0), at(HOUR), at(-7 * DAY)].map((expires, i) => ({
          id: i + 1,
          user_id: 1,
          token: `ml-${i + 1}`,
          // Tenxyte marks a used link but only its expiry removes it.
          is_used: b(i === 1),
          used_at: i === 1 ? t(at(-MINUTE)) : null,
          expires_at: t(expires),
          created_at: t(at(-15 * MINUTE)),
        })),
      );
      await db("otp_codes").insert(
        (
          [
            [at(-MS), false],
            [at(0), false],
            [at(HOUR), false],
            [at(HOUR), true], // used, not expired: "expired or used" removes it
            [at(-7 * DAY), true],
          ] as const
        ).map(([expires, used], i) => ({
          id: i + 1,
          user_id: 1,
          code: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
          otp_type: "login_2fa",
          is_used: b(used),
          expires_at: t(expires),
          created_at: t(at(-10 * MINUTE)),
          attempts: 0,
          max_attempts: 3,
        })),
      );
      await db("refresh_tokens").insert(
        (
          [
            [at(-MS), false],
            [at(0), false],
            [at(30 * DAY), false],
            [at(30 * DAY), true], // revoked, not expired
          ] as const
        ).map(([expires, revoked], i) => ({
          id: i + 1,
          user_id: 1,
          application_id: 1,
          token: `rt-hash-${i + 1}`,
          device_info: "",
          is_revoked: b(revoked),
          expires_at: t(expires),
          created_at: t(at(-DAY)),
          last_used_at: t(at(-HOUR)),
        })),
      );
      await db("login_attempts").insert(
        [at(-90 * DAY - MS), at(-90 * DAY), at(-89 * DAY), at(-400 * DAY)].map((created, i) => ({
          id: i + 1,
          identifier: "user@example.com",
          ip_address: "192.0.2.1",
          success: b(false),
          failure_reason: "invalid_password",
          created_at: t(created),
        })),
      );
      await db("audit_logs").insert(
        [at(-365 * DAY - MS), at(-365 * DAY), at(-30 * DAY - MS), at(-30 * DAY), at(-29 * DAY)].map((created, i) => ({
          id: i + 1,
          action: "login",
          user_agent: "",
          details: "{}",
          created_at: t(created),
        })),
      );
    }

    it("the docs' Tenxyte mappings pass the start-up check; the preset's own names are refused naming each field", async () => {
      expect((await checkCleanupPolicies(db, tenxyteCleanup)).issues).toEqual([]);
      expect((await checkCleanupPolicies(db, tenxytePlatformCleanup)).issues).toEqual([]);
      // Each issue names its entry and the missing table or column (not a value).
      const issues = (await checkCleanupPolicies(db, { auth: true })).issues;
      const named = (entry: string, name: string) =>
        issues.some((i) => i.path.startsWith(`auth.${entry}`) && i.message.includes(`"${name}"`));
      expect(issues).toHaveLength(3);
      expect([named("magicLinks", "magic_links"), named("otpCodes", "used_at"), named("refreshTokens", "revoked_at")]).toEqual([
        true,
        true,
        true,
      ]);
    });

    for (const zone of ZONES) {
      it(`auth preset with the docs' Tenxyte mapping removes what Tenxyte's cleanup removes, and used OTP codes (TZ=${zone})`, async () => {
        await seedAuth();
        await inZone(zone, () => runCleanup(db, tenxyteCleanup));
        // timeFormat "utc": exact on Django's UTC columns (PostgreSQL timestamptz, MySQL DATETIME) in any process zone.
        expect({
          blacklisted_tokens: await left(db, "blacklisted_tokens"),
          magic_link_tokens: await left(db, "magic_link_tokens"),
          otp_codes: await left(db, "otp_codes"),
          refresh_tokens: await left(db, "refresh_tokens"),
          login_attempts: await left(db, "login_attempts"),
          audit_logs: await left(db, "audit_logs"),
        }).toEqual({
          blacklisted_tokens: [2, 3],
          magic_link_tokens: [2, 3],
          otp_codes: [2, 3],
          refresh_tokens: [2, 3],
          login_attempts: [2, 3],
          audit_logs: [2, 3, 4, 5],
        });
      });

      it(`platform preset keeps Tenxyte's audit logs 30 days to the millisecond (TZ=${zone})`, async () => {
        await seedAuth();
        await inZone(zone, () => runCleanup(db, tenxytePlatformCleanup));
        expect(await left(db, "audit_logs")).toEqual([4, 5]);
      });

      it(`heartbeats with the docs' Tenxyte mapping suspends exactly the overdue agent tokens and writes suspended_at as Django does (TZ=${zone})`, async () => {
        const agents: AgentTable = {
          ...SNAKE_CASE_AGENTS,
          time: t,
          step: MS,
          extra: (id) => ({
            token: `agent-hash-${id}`,
            agent_id: "claude-3.5-sonnet",
            triggered_by_id: 1,
            application_id: 1,
            expires_at: t(at(30 * DAY)),
            max_requests_per_minute: 60,
            max_requests_total: 1000,
            current_request_count: 0,
            max_failed_requests: 10,
            current_failed_count: 0,
            current_spend_usd: 0,
          }),
        };
        const stored = await heartbeatCase(db, dialect, agents, tenxyteHeartbeats, zone);
        if (dialect === "sqlite") {
          // Django reads a SQLite datetime back with parse_datetime: its own text form, in UTC.
          expect({ type: stored.type, form: DJANGO_SQLITE_TIME.test(String(stored.raw)) }).toEqual({ type: "text", form: true });
          expect(new Date(`${String(stored.raw).replace(" ", "T")}Z`).getTime()).toBe(NOW.getTime());
        } else {
          expect(stored.ms).toBe(NOW.getTime());
        }
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Rails on SQLite: ActiveRecord's text times (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC) in datetime(6).
// ---------------------------------------------------------------------------------------------

describe("Rails (devise-jwt, Doorkeeper) tables on sqlite", () => {
  let database: TestDatabase;
  let db: Knex;
  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    db = database.knex;
    await runDdl(db, railsDdl("sqlite"));
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it("the docs' mapping passes the start-up check", async () => {
    expect((await checkCleanupPolicies(db, railsCleanup)).issues).toEqual([]);
  });

  for (const zone of ZONES) {
    it(`the docs' Rails mapping removes expired denylist entries and what doorkeeper:db:cleanup removes (TZ=${zone})`, async () => {
      await db("jwt_denylist").del();
      await db("oauth_access_tokens").del();
      await db("jwt_denylist").insert(
        [at(-MS), at(0), at(HOUR), at(-7 * DAY)].map((exp, i) => ({ id: i + 1, jti: `jti-${i + 1}`, exp: railsTime(exp) })),
      );
      const token = (id: number, created: Date, revoked: Date | null, expiresIn: number | null = 7200) => ({
        id,
        application_id: 1,
        resource_owner_id: 1,
        token: `at-${id}`,
        refresh_token: `rt-${id}`,
        expires_in: expiresIn,
        created_at: railsTime(created),
        revoked_at: revoked ? railsTime(revoked) : null,
      });
      await db("oauth_access_tokens").insert([
        token(1, at(-2 * HOUR - MS), null), // expired a millisecond ago
        token(2, at(-2 * HOUR), null), // expires now
        token(3, at(-MINUTE), at(-2 * MS)), // revoked
        token(4, at(-MINUTE), at(-MS)), // revoked this millisecond: the configuration's 1 ms keeps it until the next run
        token(5, at(-MINUTE), at(HOUR)), // revocation scheduled for later (a previous refresh token)
        token(6, at(-3 * HOUR), null, null), // never expires
        token(7, at(-MINUTE), null),
      ]);
      await inZone(zone, () => runCleanup(db, railsCleanup));
      expect({ jwt_denylist: await left(db, "jwt_denylist"), oauth_access_tokens: await left(db, "oauth_access_tokens") }).toEqual({
        jwt_denylist: [2, 3],
        oauth_access_tokens: [2, 4, 5, 6, 7],
      });
    });

    it(`heartbeats with the docs' Rails mapping suspends exactly the overdue tokens and writes suspended_at as ActiveRecord does (TZ=${zone})`, async () => {
      const agents: AgentTable = {
        ...SNAKE_CASE_AGENTS,
        time: railsTime,
        step: MS,
        extra: () => ({ updated_at: railsTime(at(-DAY)) }),
      };
      const stored = await heartbeatCase(db, "sqlite", agents, railsHeartbeats, zone);
      expect({ type: stored.type, form: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?$/.test(String(stored.raw)) }).toEqual({
        type: "text",
        form: true,
      });
      expect(new Date(`${String(stored.raw).replace(" ", "T")}Z`).getTime()).toBe(NOW.getTime());
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Laravel on MariaDB: tinyint(1) flags, datetime and TIMESTAMP columns of whole seconds.
// ---------------------------------------------------------------------------------------------

describe.skipIf(!available("mariadb"))("Laravel (Passport, Sanctum) tables on mariadb", () => {
  let database: TestDatabase;
  let db: Knex;
  beforeAll(async () => {
    database = await createTestDatabase("mariadb");
    db = database.knex;
    await runDdl(db, laravelDdl());
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it("the docs' mapping passes the start-up check", async () => {
    expect((await checkCleanupPolicies(db, laravelCleanup)).issues).toEqual([]);
  });

  for (const zone of ZONES) {
    it(`the docs' Laravel mapping removes expired or revoked refresh tokens and what sanctum:prune-expired removes (TZ=${zone})`, async () => {
      await db("oauth_refresh_tokens").del();
      await db("personal_access_tokens").del();
      const refresh = (id: string, expires: Date | null, revoked: boolean) => ({
        id,
        access_token_id: `at-${id}`,
        revoked: revoked ? 1 : 0,
        expires_at: expires ? laravelTime(expires) : null,
      });
      await db("oauth_refresh_tokens").insert([
        refresh("a", at(-SECOND), false), // expired a second ago (Laravel stores whole seconds)
        refresh("b", at(0), false), // expires now
        refresh("c", at(HOUR), false),
        refresh("d", at(HOUR), true), // revoked, not expired
        refresh("e", null, false), // never expires
        refresh("f", null, true),
      ]);
      const pat = (id: number, expires: Date | null) => ({
        id,
        tokenable_type: "App\\Models\\User",
        tokenable_id: 1,
        name: "cli",
        token: `sha256-${id}`,
        expires_at: expires ? laravelTime(expires) : null,
        created_at: laravelTime(at(-40 * DAY)),
        updated_at: laravelTime(at(-40 * DAY)),
      });
      await db("personal_access_tokens").insert([
        pat(1, at(-DAY - SECOND)), // expired a second more than 24 hours ago
        pat(2, at(-DAY)), // exactly 24 hours ago
        pat(3, at(-HOUR)), // expired, within sanctum's 24 hours
        pat(4, null), // never expires
        pat(5, at(-30 * DAY)),
      ]);
      await inZone(zone, () => runCleanup(db, laravelCleanup));
      // timeFormat "utc": exact on Laravel's UTC wall times, DATETIME (Passport) and TIMESTAMP (Sanctum), in any process zone.
      expect({
        oauth_refresh_tokens: await left(db, "oauth_refresh_tokens"),
        personal_access_tokens: await left(db, "personal_access_tokens"),
      }).toEqual({
        oauth_refresh_tokens: ["b", "c", "e"],
        personal_access_tokens: [2, 3, 4],
      });
    });

    it(`heartbeats with the docs' Laravel mapping suspends exactly the overdue tokens in TIMESTAMP columns (TZ=${zone})`, async () => {
      const agents: AgentTable = {
        ...SNAKE_CASE_AGENTS,
        time: laravelTime,
        step: SECOND,
        extra: () => ({}),
      };
      const stored = await heartbeatCase(db, "mariadb", agents, laravelHeartbeats, zone);
      expect(stored.ms).toBe(NOW.getTime());
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Prisma on SQLite (epoch ms from the native connector, ISO text from Prisma 7's adapters) and
// PostgreSQL (TIMESTAMP(3) holding UTC); mixed-case table and column names.
// ---------------------------------------------------------------------------------------------

const PRISMA_CASES: { dialect: "sqlite" | "postgres"; form: PrismaTimeForm; label: string }[] = [
  { dialect: "sqlite", form: "epoch-ms", label: "sqlite, native connector (epoch ms)" },
  { dialect: "sqlite", form: "iso", label: "sqlite, Prisma 7 driver adapter (ISO 8601 text)" },
  { dialect: "postgres", form: "postgres", label: "postgres (TIMESTAMP(3))" },
];

for (const { dialect, form, label } of PRISMA_CASES) {
  describe.skipIf(!available(dialect))(`Prisma (Auth.js) tables on ${label}`, () => {
    let database: TestDatabase;
    let db: Knex;
    const t = (moment: Date) => prismaTime(form, moment);
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      db = database.knex;
      await runDdl(db, prismaDdl(dialect));
    });
    afterAll(async () => {
      await database?.destroy();
    });

    it("the docs' mapping passes the start-up check", async () => {
      expect((await checkCleanupPolicies(db, prismaCleanup)).issues).toEqual([]);
    });

    for (const zone of ZONES) {
      it(`the docs' Prisma mapping removes expired sessions and verification tokens (TZ=${zone})`, async () => {
        await db("Session").del();
        await db("VerificationToken").del();
        const expiries = [at(-MS), at(0), at(HOUR), at(-7 * DAY)];
        await db("Session").insert(
          expiries.map((expires, i) => ({ id: `s${i + 1}`, sessionToken: `st${i + 1}`, userId: "u1", expires: t(expires) })),
        );
        await db("VerificationToken").insert(
          expiries.map((expires, i) => ({ identifier: "user@example.com", token: `v${i + 1}`, expires: t(expires) })),
        );
        await inZone(zone, () => runCleanup(db, prismaCleanup));
        // timeFormat "utc": exact on TIMESTAMP(3) holding UTC in any process zone.
        expect({ Session: await left(db, "Session"), VerificationToken: await left(db, "VerificationToken", "token") }).toEqual({
          Session: ["s2", "s3"],
          VerificationToken: ["v2", "v3"],
        });
      });

      it(`heartbeats with the docs' Prisma mapping suspends exactly the overdue tokens and writes suspendedAt as Prisma does (TZ=${zone})`, async () => {
        const agents: AgentTable = {
          table: "AgentToken",
          columns: {
            status: "status",
            every: "heartbeatRequiredEvery",
            last: "lastHeartbeatAt",
            created: "createdAt",
            suspendedAt: "suspendedAt",
            reason: "suspendedReason",
          },
          time: t,
          step: MS,
          extra: () => ({}),
        };
        const stored = await heartbeatCase(db, dialect, agents, prismaHeartbeats, zone);
        if (form === "epoch-ms") expect({ type: stored.type, raw: stored.raw }).toEqual({ type: "integer", raw: NOW.getTime() });
        else if (form === "iso") expect({ type: stored.type, raw: stored.raw }).toEqual({ type: "text", raw: NOW.toISOString() });
        else expect(stored.ms).toBe(NOW.getTime());
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The configurations above are the docs' own, character for character.
// ---------------------------------------------------------------------------------------------

describe("Mapping your framework's tables (docs)", () => {
  /** The TypeScript blocks of a docs page that follow a `<!-- test/fixtures/schemas/... -->` marker. */
  function blocks(page: string): Map<string, string> {
    const text = readFileSync(new URL(`../../docs/tasks/${page}`, import.meta.url), "utf8");
    const found = new Map<string, string>();
    for (const match of text.matchAll(/<!-- (test\/fixtures\/schemas\/[\w.-]+\.ts) -->\n```ts\n([\s\S]*?)```\n/g)) {
      found.set(match[1] as string, match[2] as string);
    }
    return found;
  }

  const pages = {
    "cleanup.md": ["tenxyte.cleanup.ts", "rails.cleanup.ts", "laravel.cleanup.ts", "prisma.cleanup.ts"],
    "heartbeats.md": ["tenxyte.heartbeats.ts", "rails.heartbeats.ts", "laravel.heartbeats.ts", "prisma.heartbeats.ts"],
  };
  for (const [page, files] of Object.entries(pages)) {
    it(`docs/tasks/${page} shows each framework's configuration exactly as the tests run it`, () => {
      const found = blocks(page);
      for (const file of files) {
        const source = readFileSync(new URL(`../fixtures/schemas/${file}`, import.meta.url), "utf8");
        expect({ file, block: found.get(`test/fixtures/schemas/${file}`) }).toEqual({ file, block: source });
      }
    });
  }
});
