// SQLite holds time in whatever form the host's framework wrote (test/fixtures/sqlite-time-forms.ts):
// cleanup compares each form exactly and through the age index, heartbeats reads and writes each.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  ConfigError,
  cleanupTask,
  heartbeatsTask,
  manualAdapter,
  recordHeartbeat,
  registerTasks,
  silentLogger,
  type TaskEntry,
} from "@upkeep/core";
import { createTestDatabase, type TestDatabase } from "@upkeep/testkit";
import type { Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkPolicy } from "../../packages/core/src/tasks/cleanup/check.ts";
import { resolvePolicies } from "../../packages/core/src/tasks/cleanup/policies.ts";
import { applySelection } from "../../packages/core/src/tasks/cleanup/sql.ts";
import { FORMS, type FormCase } from "../fixtures/sqlite-time-forms.ts";

const NOW = new Date("2026-03-08T12:00:00.000Z");
/** A boundary inside a second: the cutoff's own text then carries a fraction. */
const NOW_FRACTION = new Date("2026-03-08T12:00:00.250Z");

function runChild(target: string, tz: string): Promise<{ offset: number; cases: FormCase[] }> {
  const script = fileURLToPath(new URL("../fixtures/sqlite-time-child.ts", import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--conditions=dev-source", "--import", "tsx", script, target, NOW.toISOString(), NOW_FRACTION.toISOString()],
      { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, TZ: tz } },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code) => (code === 0 ? resolve(JSON.parse(output)) : reject(new Error(`child exited ${code}: ${output}`))));
  });
}

describe("cleanup on each SQLite time form", () => {
  // East of UTC, at UTC, west of UTC: the cut must not move with the process's zone. NOW falls on
  // the day Los Angeles moves to summer time (PDT, 7 h west; the cutoff a week before is PST, 8 h).
  for (const [tz, offset] of [
    ["Asia/Tokyo", -540],
    ["UTC", 0],
    ["America/Los_Angeles", 420],
  ] as const) {
    it(`removes exactly the rows before the boundary, to the form's precision, with TZ=${tz}`, async () => {
      const database = await createTestDatabase("sqlite");
      try {
        const result = await runChild(database.target, tz);
        expect(result.offset).toBe(offset);
        expect(result.cases).toHaveLength(FORMS.length * 2);
        for (const c of result.cases) {
          expect({ form: c.form, now: c.now, aged: c.aged, expiring: c.expiring }).toEqual({
            form: c.form,
            now: c.now,
            aged: c.expectedAged,
            expiring: c.expectedExpiring,
          });
        }
      } finally {
        await database.destroy();
      }
    }, 60_000);
  }
});

describe("SQLite time forms", () => {
  let database: TestDatabase;
  let db: Knex;
  let tables = 0;
  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    db = database.knex;
  });
  afterAll(async () => {
    await database?.destroy();
  });

  const host = (task: TaskEntry["task"]) =>
    registerTasks(manualAdapter(), { tasks: [task], db, tablePrefix: `h${++tables}_`, logger: silentLogger, clock: () => NOW });

  async function agedTable(type: string, values: unknown[]): Promise<string> {
    const table = `forms_${++tables}`;
    await db.raw(`create table "${table}" (id integer primary key, created_at ${type})`);
    await db.raw(`create index "${table}_created_at" on "${table}" (created_at)`);
    for (const value of values) await db(table).insert({ created_at: value });
    return table;
  }

  for (const form of FORMS) {
    it(`deletes and selects through the age index: ${form.name}`, async () => {
      const base = NOW.getTime() * 1000;
      const table = await agedTable(
        form.type,
        Array.from({ length: 20 }, (_, i) => form.write(base - i * 86_400_000_000)),
      );
      const [policy] = resolvePolicies({ policies: [{ table, column: "created_at", olderThan: "7d" }] });
      if (!policy) throw new Error("no policy");
      const check = await checkPolicy(db, policy);
      expect(check.issues).toEqual([]);
      policy.sqliteTime = check.sqliteTime;
      const plans: string[] = [];
      for (const query of [applySelection(db, db(table), policy, NOW).select("id"), applySelection(db, db(table), policy, NOW).del()]) {
        const { sql, bindings } = query.toSQL();
        const rows = (await db.raw(`explain query plan ${sql}`, bindings as Knex.RawBinding[])) as Array<{ detail: string }>;
        plans.push(rows.map((row) => row.detail).join("; "));
      }
      for (const plan of plans) expect(plan).toMatch(new RegExp(`USING (COVERING )?INDEX ${table}_created_at \\(created_at[<>]`));
    });
  }

  it("start() refuses a column whose rows mix forms, naming the field", async () => {
    const table = await agedTable("datetime", ["2026-01-01 10:00:00.123000", NOW.getTime() - 30 * 86_400_000]);
    const upkeep = host(cleanupTask({ policies: [{ table, column: "created_at", olderThan: "7d" }] }));
    const error = await upkeep.start().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(
      `tasks.cleanup.input.policies.0.column: column "${table}.created_at" holds times in several forms (YYYY-MM-DD HH:MM:SS.ffffff, epoch milliseconds)`,
    );
    expect(await db(table).count({ n: "*" })).toEqual([{ n: 2 }]);
  });

  it("start() refuses text with a UTC offset other than +00:00 (it does not sort in time order)", async () => {
    const table = await agedTable("text", ["2026-01-01T10:00:00+02:00", "2026-01-02T10:00:00+02:00"]);
    const upkeep = host(cleanupTask({ policies: [{ table, column: "created_at", olderThan: "7d" }] }));
    const error = await upkeep.start().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`column "${table}.created_at" holds times with a UTC offset (YYYY-MM-DDTHH:MM:SS+02:00)`);
  });

  it("start() refuses an explicit timeFormat the rows contradict", async () => {
    const table = await agedTable("integer", [1_700_000_000, 1_700_086_400]);
    const upkeep = host(cleanupTask({ policies: [{ table, column: "created_at", olderThan: "7d", timeFormat: "epoch_ms" }] }));
    const error = await upkeep.start().catch((caught: unknown) => caught);
    expect((error as Error).message).toContain(
      `policies.0.timeFormat: timeFormat is "epoch_ms" but column "${table}.created_at" holds epoch seconds`,
    );
  });

  /** An agent-token table typed as Django types it, holding Django's text. */
  async function djangoTokens(): Promise<string> {
    const table = `tokens_${++tables}`;
    await db.raw(
      `create table "${table}" (id integer primary key autoincrement, status varchar(20) not null, heartbeat_required_every integer null,
        last_heartbeat_at datetime null, created_at datetime not null, suspended_at datetime null, suspended_reason varchar(64) null)`,
    );
    return table;
  }

  it("heartbeats writes suspended_at in the column's own form: Django's text, not epoch ms", async () => {
    const table = await djangoTokens();
    await db(table).insert([
      {
        status: "ACTIVE",
        heartbeat_required_every: 60,
        last_heartbeat_at: "2026-03-08 11:58:59.999999",
        created_at: "2026-03-01 09:00:00",
      },
      { status: "ACTIVE", heartbeat_required_every: 60, last_heartbeat_at: "2026-03-08 11:59:00", created_at: "2026-03-01 09:00:00" },
    ]);
    const upkeep = host(heartbeatsTask({ table }));
    const run = await upkeep.run("heartbeats");
    expect(run.status).toBe("succeeded");
    const rows = await db(table).select("id", "status", "suspended_at").orderBy("id");
    expect(rows).toEqual([
      { id: 1, status: "SUSPENDED", suspended_at: "2026-03-08 12:00:00.000000" },
      { id: 2, status: "ACTIVE", suspended_at: null },
    ]);
  });

  it("recordHeartbeat writes the first heartbeat of a Django table in the form of its created_at", async () => {
    const table = await djangoTokens();
    await db(table).insert({ status: "ACTIVE", heartbeat_required_every: 60, created_at: "2026-03-01 09:00:00.250000" });
    expect(await recordHeartbeat(db, 1, { table, now: new Date("2026-03-08T11:59:30.5Z") })).toBe(true);
    expect(await db(table).select("last_heartbeat_at")).toEqual([{ last_heartbeat_at: "2026-03-08 11:59:30.500000" }]);
  });

  it("heartbeats reads integer epoch seconds as seconds, and writes them", async () => {
    const table = `tokens_${++tables}`;
    await db.raw(
      `create table "${table}" (id integer primary key, status text, heartbeat_required_every integer, last_heartbeat_at integer,
        created_at integer, suspended_at integer, suspended_reason text)`,
    );
    const s = NOW.getTime() / 1000;
    await db(table).insert([
      { id: 1, status: "ACTIVE", heartbeat_required_every: 60, last_heartbeat_at: s - 61, created_at: s - 3600 },
      { id: 2, status: "ACTIVE", heartbeat_required_every: 60, last_heartbeat_at: s - 60, created_at: s - 3600 },
      { id: 3, status: "ACTIVE", heartbeat_required_every: 60, last_heartbeat_at: null, created_at: s - 59 },
    ]);
    const run = await host(heartbeatsTask({ table })).run("heartbeats");
    expect(run.status).toBe("succeeded");
    expect(await db(table).select("id", "status", "suspended_at").orderBy("id")).toEqual([
      { id: 1, status: "SUSPENDED", suspended_at: s },
      { id: 2, status: "ACTIVE", suspended_at: null },
      { id: 3, status: "ACTIVE", suspended_at: null },
    ]);
  });

  it("heartbeats start() and runs fail naming a column that holds both epoch seconds and milliseconds", async () => {
    const table = await djangoTokens();
    await db(table).insert([
      { status: "ACTIVE", heartbeat_required_every: 60, created_at: NOW.getTime() },
      { status: "ACTIVE", heartbeat_required_every: 60, created_at: Math.floor(NOW.getTime() / 1000) },
    ]);
    const start = await host(heartbeatsTask({ table }))
      .start()
      .catch((caught: unknown) => caught);
    expect(start).toBeInstanceOf(ConfigError);
    expect((start as Error).message).toContain(
      `tasks.heartbeats.input.columns.createdAt: column ${table}.created_at holds times in several forms (epoch milliseconds, epoch seconds)`,
    );
    const run = await host(heartbeatsTask({ table })).run("heartbeats");
    expect(run.status).toBe("failed");
    expect(run.reason).toBe("HEARTBEAT_TABLE_INVALID");
    expect(run.errorMessage).toContain(`column ${table}.created_at holds times in several forms (epoch milliseconds, epoch seconds)`);
    expect(await db(table).where({ status: "ACTIVE" }).count({ n: "*" })).toEqual([{ n: 2 }]);
  });
});
