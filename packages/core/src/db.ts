import type { Knex } from "knex";

/** The SQL families upkeep writes per-dialect SQL for. */
export type SqlDialect = "postgres" | "mysql" | "sqlite";

/** Which SQL family a knex instance speaks, for tasks whose fastest safe statement differs. */
export function dialectOf(db: Knex): SqlDialect {
  const client = String(db.client.config.client ?? db.client.dialect ?? "");
  if (/^(pg|postgres|postgresql|pgnative|cockroachdb|redshift)$/.test(client)) return "postgres";
  if (/^(mysql|mysql2|mariadb)$/.test(client)) return "mysql";
  if (/sqlite/.test(client)) return "sqlite";
  throw new Error(`[upkeep] unsupported knex client "${client}": use pg, mysql2 or better-sqlite3`);
}

/**
 * One statement for many keys: each key's own query (an index range with its ORDER BY and LIMIT)
 * as a derived table, glued with UNION ALL, so a read for every task is one round trip of small
 * index ranges instead of one statement per task. Derived tables, not parenthesised selects,
 * because SQLite allows no parentheses around the members of a compound select. One key is its
 * query alone.
 */
export function unionEach(db: Knex, keys: readonly string[], build: (key: string) => Knex.QueryBuilder): Knex.QueryBuilder {
  if (keys.length === 1) return build(keys[0] as string);
  const [first, ...rest] = keys.map((key, index) => db.select("*").from(build(key).as(`k${index}`)));
  if (!first) throw new Error("[upkeep] unionEach needs at least one key");
  return first.unionAll(rest);
}

/** `2026-01-01 00:00:00.000`: UTC wall time, the form every dialect reads into a naive column. */
export const utcWallTime = (moment: Date): string => moment.toISOString().replace("T", " ").replace("Z", "");

/** A table name as PostgreSQL identifiers: each dot-separated part double-quoted (`schema.table`). */
export const doubleQuote = (name: string): string =>
  name
    .split(".")
    .map((part) => `"${part.replaceAll('"', '""')}"`)
    .join(".");

/**
 * PostgreSQL: each column's type straight from the catalog, the table resolved like the statements
 * resolve it (search_path, or `schema.table`). knex's `columnInfo` asks information_schema, whose
 * views cost 7–17 ms a call here; this costs about 1 ms. A domain reads as its base type, as in
 * information_schema.
 */
const PG_COLUMN_TYPES = `SELECT a.attname AS name, format_type(coalesce(nullif(t.typbasetype, 0), a.atttypid), NULL) AS type
  FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
  WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped
  ORDER BY a.attnum`;

/** Every column of the table, in table order, with its declared type; empty when the table does not exist. */
export async function columnTypes(db: Knex, dialect: SqlDialect, table: string): Promise<Record<string, { type: string } | undefined>> {
  if (dialect === "postgres") {
    const { rows } = (await db.raw(PG_COLUMN_TYPES, [doubleQuote(table)])) as { rows: Array<{ name: string; type: string }> };
    return Object.fromEntries(rows.map((row) => [row.name, { type: row.type }]));
  }
  const [schema, name] = table.includes(".") ? (table.split(".") as [string, string]) : [undefined, table];
  const builder = schema ? db(name).withSchema(schema) : db(name);
  return (await builder.columnInfo()) as unknown as Record<string, { type: string } | undefined>;
}

const TRANSIENT = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "55P03", // lock_not_available
  "57P01", // admin_shutdown
  "ER_LOCK_DEADLOCK",
  "ER_LOCK_WAIT_TIMEOUT",
  "SQLITE_BUSY",
  "SQLITE_BUSY_SNAPSHOT",
  "SQLITE_LOCKED",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "PROTOCOL_CONNECTION_LOST",
]);

/**
 * Whether a driver error is worth a retry: a deadlock or serialization failure (PostgreSQL's code,
 * or MySQL's SQLSTATE 40001), a lock timeout, a lost or refused connection, a pool timeout. The
 * failed statement's transaction was rolled back whole.
 */
export function isTransientDbError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, name, sqlState } = error as { code?: unknown; name?: unknown; sqlState?: unknown };
  if (sqlState === "40001") return true;
  return (typeof code === "string" && (TRANSIENT.has(code) || code.startsWith("08"))) || name === "KnexTimeoutError";
}

/** Whether InnoDB chose the statement as a deadlock victim (MySQL/MariaDB errno 1213): it was rolled back whole. */
function isDeadlock(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, errno } = error as { code?: unknown; errno?: unknown };
  return errno === 1213 || code === "ER_LOCK_DEADLOCK";
}

/**
 * Runs `work` again when it was a deadlock victim, at most `tries` times in all. Only for work that
 * is one autocommitted compare-and-set (or a series of idempotent ones): a victim's statement was
 * rolled back, so running it again is the same as running it once.
 */
export async function retryDeadlocks<T>(work: () => Promise<T>, tries = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= tries || !isDeadlock(error)) throw error;
    }
  }
}

/** What a failed database call says about its cause, for a message that names the fix. */
export type DbFailureKind = "missing-schema" | "missing-database" | "connection" | "other";

/** A missing table or column: PostgreSQL's SQLSTATE, MySQL/MariaDB's error names and numbers. */
const MISSING_SCHEMA = new Set<unknown>(["42P01", "42703", "ER_NO_SUCH_TABLE", "ER_BAD_FIELD_ERROR", 1146, 1054]);
const SQLITE_MISSING_SCHEMA = /no such (table|column)|has no column named/i;
const MISSING_DATABASE = new Set<unknown>(["3D000", "ER_BAD_DB_ERROR", 1049, "SQLITE_CANTOPEN"]);
const CONNECTION = new Set<unknown>([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "PROTOCOL_CONNECTION_LOST",
  "28P01", // invalid_password
  "28000", // invalid_authorization_specification
  "57P01", // admin_shutdown
  "57P03", // cannot_connect_now
  "ER_ACCESS_DENIED_ERROR",
  "ER_DBACCESS_DENIED_ERROR",
  "ER_CON_COUNT_ERROR",
]);

/** The error and what it wraps (`cause`, an AggregateError's `errors`), a few levels deep. */
function* errorChain(error: unknown, depth = 0): Generator<Record<string, unknown>> {
  if (typeof error !== "object" || error === null || depth > 4) return;
  const record = error as Record<string, unknown>;
  yield record;
  if (Array.isArray(record.errors)) for (const inner of record.errors) yield* errorChain(inner, depth + 1);
  yield* errorChain(record.cause, depth + 1);
}

/**
 * Classifies a driver error by its code: a missing table or column (the schema is not migrated),
 * a missing database, a connection that could not be made or was lost (refused, timed out,
 * rejected credentials, knex's pool timeout), or anything else.
 */
export function dbFailureKind(error: unknown): DbFailureKind {
  for (const link of errorChain(error)) {
    const { code, errno, message, name } = link;
    if (MISSING_SCHEMA.has(code) || MISSING_SCHEMA.has(errno)) return "missing-schema";
    if (typeof code === "string" && code.startsWith("SQLITE_") && typeof message === "string" && SQLITE_MISSING_SCHEMA.test(message)) {
      return "missing-schema";
    }
    if (MISSING_DATABASE.has(code) || MISSING_DATABASE.has(errno)) return "missing-database";
    if (CONNECTION.has(code) || (typeof code === "string" && code.startsWith("08")) || name === "KnexTimeoutError") return "connection";
  }
  return "other";
}

/**
 * The end of a message about a failed database call, naming what to do: run `upkeep migrate` only
 * when a table or column is missing; the database or the connection otherwise. Only error codes
 * are quoted, never a connection string.
 */
export function dbFailureHint(error: unknown): string {
  switch (dbFailureKind(error)) {
    case "missing-schema":
      return " (is the database migrated? run `upkeep migrate`)";
    case "missing-database":
      return ": the database does not exist (create it, or fix the connection settings of `db`)";
    case "connection": {
      const code = [...errorChain(error)].map((link) => link.code).find((value) => typeof value === "string");
      return `: cannot connect to the database${code ? ` (${String(code)})` : ""}`;
    }
    case "other":
      return "";
  }
}
