import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Knex } from "knex";
import { dialectOf, type SqlDialect } from "../db.ts";
import { UpkeepError } from "../errors.ts";
import { MIGRATIONS, type UpkeepMigration } from "./migrations.ts";
import { createTableIfMissing, tableExists } from "./schema-steps.ts";

/** Options of `migrate`. */
export interface MigrateOptions {
  /**
   * Stops waiting for the migration lock, and stops between migrations, once aborted (an
   * `UpkeepError` with code `ABORTED`). Migrations applied before the abort stay applied.
   */
  signal?: AbortSignal;
}

/** MySQL/MariaDB: seconds one `GET_LOCK` call waits before the abort signal is checked again. */
const MYSQL_LOCK_WAIT_S = 2;
/** SQLite: pause between `BEGIN IMMEDIATE` attempts while another connection writes. */
const SQLITE_RETRY_MS = 25;

const migrationsTable = (prefix: string) => `${prefix}migrations`;

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new UpkeepError("ABORTED", `migrate: aborted ${what}`, { cause: signal.reason });
}

/** PostgreSQL's advisory lock key for the prefix: the first 8 bytes of a SHA-256, as a signed bigint. */
function advisoryKey(prefix: string): string {
  const digest = createHash("sha256").update(`upkeep:migrations:${prefix}`).digest();
  return digest.readBigInt64BE(0).toString();
}

/** MySQL/MariaDB's lock name: `GET_LOCK` names are server-wide, so the database's name is hashed in. */
const MYSQL_LOCK_NAME = "concat('upkeep:', sha1(concat(database(), ':', ?)))";

const isBusy = (error: unknown) =>
  typeof error === "object" && error !== null && String((error as { code?: unknown }).code).startsWith("SQLITE_BUSY");

/**
 * Takes the database's own migration lock inside `trx` (a transaction, which also pins one
 * connection) and returns what releases it. Each of these locks belongs to the session, so a
 * process that dies holding it (kill -9, a lost connection) releases it with its connection; no row
 * is left to say "locked".
 * - PostgreSQL: `pg_advisory_xact_lock`, released at commit or rollback; every migration then runs
 *   in this one transaction.
 * - MySQL/MariaDB: `GET_LOCK`, released explicitly. DDL commits implicitly there, so the
 *   transaction is committed at once and serves only to pin the connection; each statement after
 *   autocommits and reads the latest rows (no snapshot from before the lock).
 * - SQLite: knex opens a deferred transaction; it is swapped for `BEGIN IMMEDIATE`, which takes the
 *   database's write lock before anything is read. knex's final COMMIT or ROLLBACK ends it.
 */
async function takeLock(trx: Knex.Transaction, dialect: SqlDialect, prefix: string, signal?: AbortSignal): Promise<() => Promise<void>> {
  switch (dialect) {
    case "postgres":
      await trx.raw("select pg_advisory_xact_lock(?::bigint)", [advisoryKey(prefix)]);
      return async () => {};
    case "mysql": {
      await trx.raw("commit");
      for (;;) {
        throwIfAborted(signal, "while waiting for the migration lock");
        const [rows] = (await trx.raw(`select get_lock(${MYSQL_LOCK_NAME}, ?) as got`, [prefix, MYSQL_LOCK_WAIT_S])) as [
          Array<{ got: unknown }>,
        ];
        if (Number(rows[0]?.got) === 1) break;
      }
      return async () => {
        await trx.raw(`select release_lock(${MYSQL_LOCK_NAME})`, [prefix]);
      };
    }
    case "sqlite": {
      await trx.raw("commit");
      for (;;) {
        throwIfAborted(signal, "while waiting for the migration lock");
        try {
          await trx.raw("begin immediate");
          break;
        } catch (error) {
          if (!isBusy(error)) throw error;
          await sleep(SQLITE_RETRY_MS);
        }
      }
      return async () => {};
    }
  }
}

/**
 * Creates the bookkeeping tables in knex's own layout, so installs made by earlier versions (which
 * ran knex's migrator) carry on, and a knex migrator pointed at them reads the same state:
 * `<prefix>migrations` (name, batch, migration_time) and `<prefix>migrations_lock` (one row).
 * knex's lock row is not used as a lock; an `is_locked = 1` left by a process of an earlier version
 * that died holding it is cleared here, under the real lock, where no other upkeep process can be
 * migrating.
 */
async function ensureBookkeeping(trx: Knex.Transaction, prefix: string): Promise<void> {
  await createTableIfMissing(trx, migrationsTable(prefix), (table) => {
    table.increments();
    table.string("name");
    table.integer("batch");
    table.timestamp("migration_time");
  });
  const lock = `${migrationsTable(prefix)}_lock`;
  await createTableIfMissing(trx, lock, (table) => {
    table.increments("index").primary();
    table.integer("is_locked");
  });
  const rows = (await trx(lock).select("is_locked")) as Array<{ is_locked: unknown }>;
  if (rows.length === 0) await trx(lock).insert({ is_locked: 0 });
  else if (rows.some((row) => Number(row.is_locked) !== 0)) await trx(lock).update({ is_locked: 0 });
}

async function appliedNames(db: Knex, prefix: string): Promise<Set<string>> {
  const names = (await db(migrationsTable(prefix)).pluck("name")) as string[];
  return new Set(names);
}

/**
 * Applies every pending migration under the database's own lock, recorded in upkeep's
 * `<prefix>migrations` table; returns the names it applied (empty when the schema was current).
 * Any number of processes may call it at once: one migrates, the others wait for it and then find
 * nothing to do. A process killed at any point leaves nothing that blocks the next call: on
 * PostgreSQL and SQLite its transaction rolls back; on MySQL/MariaDB the migration it was in runs
 * again and finishes what its committed DDL started.
 *
 * @throws the driver's error when a statement fails; {@link UpkeepError} `ABORTED` when `signal` fires.
 */
export async function migrate(
  db: Knex,
  prefix: string,
  migrations: readonly UpkeepMigration[] = MIGRATIONS,
  options: MigrateOptions = {},
): Promise<string[]> {
  const dialect = dialectOf(db);
  const { signal } = options;
  throwIfAborted(signal, "before it started");
  return db.transaction(async (trx) => {
    const release = await takeLock(trx, dialect, prefix, signal);
    let applied: string[];
    try {
      applied = await applyPending(trx, prefix, migrations, signal);
    } catch (error) {
      // A release that fails after a failure: the connection is most likely gone, and the lock with it.
      await release().catch(() => {});
      throw error;
    }
    await release();
    return applied;
  });
}

/** The pending migrations applied one by one, each recorded as soon as it is done, all in one batch. */
async function applyPending(
  trx: Knex.Transaction,
  prefix: string,
  migrations: readonly UpkeepMigration[],
  signal: AbortSignal | undefined,
): Promise<string[]> {
  await ensureBookkeeping(trx, prefix);
  const done = await appliedNames(trx, prefix);
  const pending = migrations.filter((migration) => !done.has(migration.name));
  if (pending.length === 0) return [];
  const last = (await trx(migrationsTable(prefix)).max({ batch: "batch" }).first()) as { batch?: unknown } | undefined;
  const batch = Number(last?.batch ?? 0) + 1;
  const applied: string[] = [];
  for (const migration of pending) {
    throwIfAborted(signal, `before ${migration.name}`);
    await migration.up(trx, prefix);
    await trx(migrationsTable(prefix)).insert({ name: migration.name, batch, migration_time: new Date() });
    applied.push(migration.name);
  }
  return applied;
}

/**
 * The names of the migrations not yet applied under the prefix, in order; every one when upkeep's
 * tables were never created. Two catalog reads; takes no lock.
 */
export async function pendingMigrations(db: Knex, prefix: string, migrations: readonly UpkeepMigration[] = MIGRATIONS): Promise<string[]> {
  const names = migrations.map((migration) => migration.name);
  if (!(await tableExists(db, migrationsTable(prefix)))) return names;
  const done = await appliedNames(db, prefix);
  return names.filter((name) => !done.has(name));
}
