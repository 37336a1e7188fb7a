import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  defineTask,
  knexStore,
  MIGRATIONS,
  manualAdapter,
  migrate,
  pendingMigrations,
  registerTasks,
  silentLogger,
  type UpkeepMigration,
} from "@upkeep/core";
import { createTestDatabase, type Dialect, knexConfig, probeDialects, SERVICE_URLS, type TestDatabase } from "@upkeep/testkit";
import knexFactory, { type Knex } from "knex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Migrations run by separate real processes on each dialect. The bugs this pins: two or three
// processes starting at once on a fresh schema failed (`relation "…_migrations" already exists` on
// PostgreSQL, "Migration table is already locked" on MariaDB), sometimes leaving knex's lock row
// taken for good; a process killed during a migration on MariaDB left `is_locked = 1`, and every
// later start failed; `autoMigrate: false` on an unmigrated schema started and then failed every
// tick; and every store failure said "is the database migrated?", a refused connection too.
const SCRIPT = fileURLToPath(new URL("fixtures/migrate-child.ts", import.meta.url));
const NAMES = MIGRATIONS.map((migration) => migration.name);
const PROCESSES = 5;
const ROUNDS = 20;
const KILL_ROUNDS = 10;
const statuses = await probeDialects();
const noop = defineTask({ id: "noop", schedule: "0 3 * * *", run: () => ({ ok: true }) });

/** A child process of the fixture, with its stdout as a queue of lines. */
function startChild(args: string[]) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ["--conditions=dev-source", "--import", "tsx", SCRIPT, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  createInterface({ input: child.stdout }).on("line", (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    exited,
    stderr: () => stderr,
    /** The next line on stdout; rejects when the process exits first. */
    next: () =>
      Promise.race([
        new Promise<string>((resolve) => {
          const line = lines.shift();
          if (line === undefined) waiters.push(resolve);
          else resolve(line);
        }),
        exited.then(({ code, signal }) => {
          throw new Error(`child exited (${code ?? signal}) before answering: ${stderr}`);
        }),
      ]),
    send: (line: string) => child.stdin.write(`${line}\n`),
  };
}
type Child = ReturnType<typeof startChild>;

/**
 * The schema under a prefix, the prefix written as `P_`: each table with its columns in order and
 * each index name. Two prefixes migrated to the same version compare equal.
 */
async function schemaOf(db: Knex, dialect: Dialect, prefix: string): Promise<string[]> {
  const objects: string[] = [];
  const own = (name: unknown) => String(name).startsWith(prefix);
  const strip = (name: unknown) => String(name).replaceAll(prefix, "P_");
  if (dialect === "sqlite") {
    const rows = (await db("sqlite_master").select("type", "name", "tbl_name")) as Array<Record<string, string>>;
    for (const row of rows.filter((row) => own(row.tbl_name))) {
      if (row.type === "index") objects.push(`index ${strip(row.name)}`);
      if (row.type !== "table") continue;
      const columns = (await db.raw("select name from pragma_table_info(?) order by cid", [String(row.name)])) as Array<{ name: string }>;
      objects.push(`table ${strip(row.name)}: ${columns.map((column) => column.name).join(",")}`);
    }
    return objects.sort();
  }
  const where = dialect === "postgres" ? "table_schema = current_schema()" : "table_schema = database()";
  const columns = (await db.raw(
    `select table_name as t, column_name as c from information_schema.columns where ${where} order by table_name, ordinal_position`,
  )) as unknown;
  const indexes = (await db.raw(
    dialect === "postgres"
      ? "select tablename as t, indexname as i from pg_indexes where schemaname = current_schema()"
      : "select distinct table_name as t, index_name as i from information_schema.statistics where table_schema = database()",
  )) as unknown;
  const rowsOf = (result: unknown) =>
    (dialect === "postgres" ? (result as { rows: unknown[] }).rows : (result as [unknown[]])[0]) as Array<Record<string, string>>;
  const tables = new Map<string, string[]>();
  for (const row of rowsOf(columns).filter((row) => own(row.t)))
    tables.set(String(row.t), [...(tables.get(String(row.t)) ?? []), row.c as string]);
  for (const [table, names] of tables) objects.push(`table ${strip(table)}: ${names.join(",")}`);
  for (const row of rowsOf(indexes).filter((row) => own(row.t))) objects.push(`index ${strip(row.i)}`);
  return objects.sort();
}

/** Every migration recorded once, and knex's lock row (one) not taken. */
async function expectBookkeeping(db: Knex, prefix: string): Promise<void> {
  const recorded = (await db(`${prefix}migrations`).pluck("name")) as string[];
  expect([...recorded].sort()).toEqual([...NAMES].sort());
  expect((await db(`${prefix}migrations_lock`).pluck("is_locked")).map(Number)).toEqual([0]);
  expect(await pendingMigrations(db, prefix)).toEqual([]);
}

/** knex's own migrator over upkeep's migrations: what versions before this one ran. */
function knexMigrator(db: Knex, prefix: string, migrations: readonly UpkeepMigration[]) {
  const config: Knex.MigratorConfig = {
    tableName: `${prefix}migrations`,
    migrationSource: {
      getMigrations: async () => [...migrations],
      getMigrationName: (migration: UpkeepMigration) => migration.name,
      getMigration: async (migration: UpkeepMigration) => ({
        up: (knex: Knex) => migration.up(knex, prefix),
        down: (knex: Knex) => migration.down(knex, prefix),
      }),
    },
  };
  return {
    latest: () => db.migrate.latest(config),
    list: () => db.migrate.list(config) as Promise<[unknown[], unknown[]]>,
  };
}

const host = (db: Knex, prefix: string, autoMigrate = true) =>
  registerTasks(manualAdapter(), { tasks: [noop], db, tablePrefix: prefix, logger: silentLogger, autoMigrate });

for (const status of statuses) {
  const dialect = status.dialect;
  describe.skipIf(!status.available)(`migrations on ${dialect}`, { timeout: 300_000 }, () => {
    let database: TestDatabase;
    let reference: string[];
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      await migrate(database.knex, "ref_");
      reference = await schemaOf(database.knex, dialect, "ref_");
    });
    afterAll(async () => {
      await database?.destroy();
    });

    it(`${PROCESSES} processes migrating one fresh schema at once all succeed, ${ROUNDS} rounds`, async () => {
      const children: Child[] = Array.from({ length: PROCESSES }, () => startChild(["serve", dialect, database.target]));
      try {
        for (const child of children) expect(await child.next()).toBe("ready");
        for (let round = 0; round < ROUNDS; round += 1) {
          const prefix = `cc${round}_`;
          // Even rounds call migrate(), odd rounds start() with the default autoMigrate.
          const command = round % 2 === 0 ? "migrate" : "start";
          for (const child of children) child.send(`${command} ${prefix}`);
          const answers = await Promise.all(children.map((child) => child.next()));
          for (const answer of answers) expect(answer, `round ${round}`).toMatch(new RegExp(`^done ${prefix} `));
          if (command === "migrate") {
            const applied = answers.flatMap((answer) => JSON.parse(answer.split(" ")[2] as string) as string[]);
            expect(applied.sort(), `round ${round}: each migration applied by exactly one process`).toEqual([...NAMES].sort());
          }
          await expectBookkeeping(database.knex, prefix);
          expect(await schemaOf(database.knex, dialect, prefix), `round ${round}`).toEqual(reference);
        }
      } finally {
        for (const child of children) child.child.kill("SIGKILL");
      }
    });

    it(`a process killed -9 at a random statement of a migration never blocks the next start, ${KILL_ROUNDS} rounds`, async () => {
      // How many statements a whole migration sends, counted here on the same configuration.
      const counting = database.connect();
      let total = 0;
      counting.on("query", () => {
        total += 1;
      });
      await migrate(counting, "kcount_");
      expect(total).toBeGreaterThan(NAMES.length);
      const rounds = Array.from({ length: KILL_ROUNDS }, (_, round) => ({
        prefix: `kk${round}_`,
        // Spread over the whole migration; a third killed the moment the statement is issued, the
        // rest while it is in flight.
        at: 1 + Math.floor(((round + Math.random()) / KILL_ROUNDS) * total),
        delay: round % 3 === 0 ? 0 : 1 + Math.floor(Math.random() * 5),
      }));
      const killed = rounds.map((round) =>
        startChild(["kill", dialect, database.target, round.prefix, String(round.at), String(round.delay)]),
      );
      const exits = await Promise.all(killed.map((child) => child.exited));
      for (const [index, exit] of exits.entries()) {
        expect(exit.signal, `round ${JSON.stringify(rounds[index])}: ${killed[index]?.stderr()}`).toBe("SIGKILL");
      }
      for (const round of rounds) {
        const upkeep = host(database.knex, round.prefix);
        await upkeep.start();
        expect((await upkeep.run("noop")).status, JSON.stringify(round)).toBe("succeeded");
        await upkeep.stop();
        await expectBookkeeping(database.knex, round.prefix);
        expect(await schemaOf(database.knex, dialect, round.prefix), JSON.stringify(round)).toEqual(reference);
      }
    });

    it("upgrades an install made by knex's migrator and clears the lock row it left taken", async () => {
      const prefix = "stale_";
      const older = knexMigrator(database.knex, prefix, MIGRATIONS.slice(0, 3));
      await older.latest();
      // What a process of the older version killed inside knex's migrator left.
      await database.knex(`${prefix}migrations_lock`).update({ is_locked: 1 });
      expect(await pendingMigrations(database.knex, prefix)).toEqual(NAMES.slice(3));
      expect(await migrate(database.knex, prefix)).toEqual(NAMES.slice(3));
      await expectBookkeeping(database.knex, prefix);
      const batches = await database.knex(`${prefix}migrations`).orderBy("id").pluck("batch");
      expect(batches.map(Number)).toEqual(NAMES.map((_, i) => (i < 3 ? 1 : 2)));
      expect(await schemaOf(database.knex, dialect, prefix)).toEqual(reference);
      // knex's migrator (a rollback to the older version) reads the same state: nothing pending.
      const [, pending] = await knexMigrator(database.knex, prefix, MIGRATIONS).list();
      expect(pending).toEqual([]);
    });

    it("start() with autoMigrate: false refuses a schema that is not current, naming `upkeep migrate`", async () => {
      const prefix = "manual_";
      const fresh = host(database.knex, prefix, false);
      await expect(fresh.start()).rejects.toMatchObject({ code: "NOT_MIGRATED", message: expect.stringContaining("`upkeep migrate`") });
      await migrate(database.knex, prefix, MIGRATIONS.slice(0, -1));
      const stale = host(database.knex, prefix, false);
      const error = await stale.start().then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toMatchObject({ code: "NOT_MIGRATED" });
      expect(String((error as Error).message)).toContain(`1 pending (${NAMES.at(-1)})`);
      // The refused instance can start once the schema is migrated.
      await migrate(database.knex, prefix);
      await stale.start();
      expect((await stale.run("noop")).status).toBe("succeeded");
      await stale.stop();
    });

    it("says `upkeep migrate` for a missing table or column, and only then", async () => {
      const hint = "(is the database migrated? run `upkeep migrate`)";
      await expect(knexStore(database.knex, { tablePrefix: "never_" }).list()).rejects.toThrow(hint);
      const prefix = "column_";
      await migrate(database.knex, prefix);
      const store = knexStore(database.knex, { tablePrefix: prefix });
      const now = new Date();
      const run = { id: "00000000-0000-4000-8000-000000000001", taskId: "noop", trigger: "manual" as const, scheduledFor: now };
      await store.claim({ ...run, dryRun: false, claimedAt: now, leaseUntil: now, host: "h", pid: 1 });
      await database.knex.schema.alterTable(`${prefix}runs`, (table) => table.dropColumn("error_stack"));
      const outcome = { status: "succeeded" as const, finishedAt: now, attempt: 1, durationMs: 1, result: null };
      await expect(store.finish(run.id, { ...outcome, reason: null, errorMessage: null, errorStack: null })).rejects.toThrow(hint);
      if (dialect === "sqlite") return;

      const base = new URL(SERVICE_URLS[dialect]);
      const elsewhere = (change: (url: URL) => void) => {
        const url = new URL(base);
        change(url);
        const quiet = () => {};
        const log = { warn: quiet, error: quiet, debug: quiet, deprecate: quiet };
        return knexFactory({ ...knexConfig(dialect, url.toString()), acquireConnectionTimeout: 5000, log });
      };
      const cases = [
        {
          what: "nothing listens on the port",
          db: elsewhere((url) => (url.port = "1")),
          says: "cannot connect to the database (ECONNREFUSED)",
        },
        { what: "no such database", db: elsewhere((url) => (url.pathname = "/upkeep_no_such_db")), says: "the database does not exist" },
      ];
      for (const { what, db, says } of cases) {
        try {
          const error = await knexStore(db)
            .list()
            .then(
              () => undefined,
              (failure: unknown) => failure as Error,
            );
          expect(error?.message, what).toContain(says);
          expect(error?.message, what).not.toContain("migrated");
          const starting = await host(db, "upkeep_", false)
            .start()
            .then(
              () => undefined,
              (failure: unknown) => failure as Error,
            );
          expect(starting?.message, what).toContain(says);
        } finally {
          await db.destroy();
        }
      }
    });
  });
}
