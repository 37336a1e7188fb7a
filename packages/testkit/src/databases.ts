import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import knexFactory, { type Knex } from "knex";

/** The databases upkeep supports, each covered by the same suites. */
export type Dialect = "sqlite" | "postgres" | "mariadb";

/** Every dialect the helpers can make a database on. */
export const DIALECTS: readonly Dialect[] = ["sqlite", "postgres", "mariadb"];

/** Where the service databases are; override with these environment variables. */
export const SERVICE_URLS = {
  /** The PostgreSQL server's URL: `UPKEEP_TEST_POSTGRES_URL`, else a local server's `test` database. */
  postgres: process.env.UPKEEP_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test",
  /** The MariaDB (or MySQL) server's URL: `UPKEEP_TEST_MARIADB_URL`, else a local server's `test` database. */
  mariadb: process.env.UPKEEP_TEST_MARIADB_URL ?? "mysql://root@127.0.0.1:3306/test",
} as const;

/** A throwaway database: created empty for one suite, dropped by `destroy`. */
export interface TestDatabase {
  /** The database's dialect. */
  readonly dialect: Dialect;
  /** The suite's knex instance. */
  readonly knex: Knex;
  /** The SQLite file path or the database URL, for `knexConfig` in another process. */
  readonly target: string;
  /** Another, independent knex instance on the same database: a second "host". */
  connect(): Knex;
  /** Closes every instance from `connect` and drops the database. */
  destroy(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** The knex configuration for a dialect and a target (a SQLite file path or a database URL). */
export function knexConfig(dialect: Dialect, target: string): Knex.Config {
  switch (dialect) {
    case "sqlite":
      return {
        client: "better-sqlite3",
        connection: { filename: target },
        useNullAsDefault: true,
        pool: {
          afterCreate: (connection: { pragma(text: string): unknown }, done: (error: Error | null, connection: unknown) => void) => {
            connection.pragma("journal_mode = WAL");
            connection.pragma("busy_timeout = 10000");
            done(null, connection);
          },
        },
      };
    case "postgres":
      return { client: "pg", connection: target, pool: { min: 0, max: 5 } };
    case "mariadb":
      return { client: "mysql2", connection: target, pool: { min: 0, max: 5 } };
  }
}

/** Opens a knex instance for a dialect's service database (`test`), for probes and admin work. */
export function serviceKnex(dialect: Exclude<Dialect, "sqlite">): Knex {
  const config = knexConfig(dialect, SERVICE_URLS[dialect]);
  return knexFactory({ ...config, pool: { min: 0, max: 1 }, acquireConnectionTimeout: 3000 });
}

/** Creates an empty database of the dialect, named `upkeep_t_<random>` (a temp file for SQLite). */
export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  const name = `upkeep_t_${randomBytes(6).toString("hex")}`;
  const instances: Knex[] = [];
  let target: string;
  let drop: () => Promise<void>;
  if (dialect === "sqlite") {
    target = join(tmpdir(), `${name}.sqlite`);
    drop = async () => {
      for (const suffix of ["", "-wal", "-shm"]) rmSync(`${target}${suffix}`, { force: true });
    };
  } else {
    const admin = serviceKnex(dialect);
    await admin.raw(dialect === "postgres" ? `create database "${name}"` : `create database \`${name}\``);
    await admin.destroy();
    target = withDatabase(SERVICE_URLS[dialect], name);
    drop = async () => {
      const again = serviceKnex(dialect);
      try {
        await again.raw(dialect === "postgres" ? `drop database if exists "${name}" with (force)` : `drop database if exists \`${name}\``);
      } finally {
        await again.destroy();
      }
    };
  }
  const connect = () => {
    const instance = knexFactory(knexConfig(dialect, target));
    instances.push(instance);
    return instance;
  };
  return {
    dialect,
    target,
    knex: connect(),
    connect,
    async destroy() {
      await Promise.all(instances.map((instance) => instance.destroy()));
      await drop();
    },
  };
}

/** Whether a dialect's service answers, and why not when it does not. */
export interface DialectStatus {
  /** The dialect probed. */
  dialect: Dialect;
  /** Whether its server answered (always true for SQLite). */
  available: boolean;
  /** Why it is unavailable: the connection error's message; absent when available. */
  reason?: string;
}

const probes = new Map<Dialect, Promise<DialectStatus>>();

async function probe(dialect: Dialect): Promise<DialectStatus> {
  if (dialect === "sqlite") return { dialect, available: true };
  const db = serviceKnex(dialect);
  try {
    await db.raw("select 1");
    return { dialect, available: true };
  } catch (error) {
    return { dialect, available: false, reason: error instanceof Error ? error.message : String(error) };
  } finally {
    await db.destroy();
  }
}

/**
 * Probes each dialect's service once per process. Under CI (`CI` set) an unreachable service
 * throws, so the suite fails instead of skipping; elsewhere it is skipped with a loud warning.
 */
export async function probeDialects(dialects: readonly Dialect[] = DIALECTS): Promise<DialectStatus[]> {
  const statuses = await Promise.all(
    dialects.map((dialect) => {
      let status = probes.get(dialect);
      if (!status) {
        status = probe(dialect);
        probes.set(dialect, status);
      }
      return status;
    }),
  );
  for (const status of statuses) {
    if (status.available) continue;
    const line = `[upkeep testkit] ${status.dialect} is unreachable (${status.reason}); its suites are SKIPPED`;
    if (isCI()) throw new Error(`${line.replace("SKIPPED", "required under CI")}`);
    console.warn(`\n!!! ${line} !!!\n`);
  }
  return statuses;
}

/** Whether this process runs under CI, where no service suite may be skipped. */
export function isCI(): boolean {
  const value = process.env.CI;
  return value !== undefined && value !== "" && value !== "0" && value !== "false";
}
