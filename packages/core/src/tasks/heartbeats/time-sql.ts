import type { Knex } from "knex";
import { columnTypes, doubleQuote, type SqlDialect, utcWallTime } from "../../db.ts";
import { TaskError } from "../../errors.ts";

/**
 * How a host time column holds its values, read from the table's schema:
 * - `timestamptz`: PostgreSQL `timestamp with time zone`;
 * - `utc-naive`: PostgreSQL `timestamp` or MySQL/MariaDB `DATETIME`, holding UTC wall time;
 * - `mysql-timestamp`: MySQL/MariaDB `TIMESTAMP` (an instant; the session time zone is bypassed);
 * - `epoch-ms`: an integer column of milliseconds since the epoch (any dialect);
 * - `iso-text`: SQLite text holding ISO-8601 (`2026-01-01T00:00:00.000Z` or `2026-01-01 00:00:00`).
 * On SQLite every row is read by its own storage class, so integers and text may be mixed.
 */
export type TimeKind = "timestamptz" | "utc-naive" | "mysql-timestamp" | "epoch-ms" | "iso-text";

/** A piece of SQL with its bindings. */
export interface Fragment {
  sql: string;
  bindings: unknown[];
}

/** The per-dialect time arithmetic the heartbeat statements are built from. */
export interface TimeSql {
  quote(name: string): string;
  /** The column's value in the dialect's comparison domain (timestamptz on PostgreSQL, epoch ms elsewhere). */
  instant(quoted: string, kind: TimeKind): string;
  /** `instant + seconds` where `seconds` is an SQL expression (the per-row period). */
  plusSeconds(instant: string, seconds: string): string;
  /** A moment as a bound value in the comparison domain. */
  at(moment: Date): Fragment;
  /** An instant in the comparison domain as epoch milliseconds (a number). */
  epochMs(instant: string): string;
  /** A moment as a value to store in a column of this kind. */
  write(kind: TimeKind, moment: Date): Fragment;
}

const NUMERIC = /^(smallint|integer|int|bigint|mediumint|numeric|decimal|double precision|double|real|float)$/;

function kindOf(dialect: SqlDialect, type: string, sqliteTimeFormat: "auto" | "epoch-ms" | "iso"): TimeKind | undefined {
  const t = type.toLowerCase().trim();
  if (dialect === "sqlite") {
    if (sqliteTimeFormat !== "auto") return sqliteTimeFormat === "iso" ? "iso-text" : "epoch-ms";
    return /char|clob|text/.test(t) ? "iso-text" : "epoch-ms";
  }
  if (NUMERIC.test(t)) return "epoch-ms";
  if (dialect === "postgres") {
    if (t === "timestamp with time zone") return "timestamptz";
    if (t === "timestamp without time zone") return "utc-naive";
    return undefined;
  }
  if (t === "datetime") return "utc-naive";
  if (t === "timestamp") return "mysql-timestamp";
  return undefined;
}

/**
 * Reads how each named time column of the host table is typed. Names and types are schema
 * metadata, never row values, so they may appear in the error.
 *
 * @throws {TaskError} when a column is missing or of a type the task cannot compare.
 */
export async function detectTimeKinds<K extends string>(
  db: Knex,
  dialect: SqlDialect,
  table: string,
  columns: Record<K, string>,
  sqliteTimeFormat: "auto" | "epoch-ms" | "iso",
): Promise<Record<K, TimeKind>> {
  const info = await columnTypes(db, dialect, table);
  const kinds = {} as Record<K, TimeKind>;
  for (const [key, column] of Object.entries(columns) as Array<[K, string]>) {
    const found = info[column] ?? Object.entries(info).find(([candidate]) => candidate.toLowerCase() === column.toLowerCase())?.[1];
    if (!found) throw new TaskError(`heartbeats: column ${table}.${column} not found`, { reason: "HEARTBEAT_TABLE_INVALID" });
    const kind = kindOf(dialect, found.type, sqliteTimeFormat);
    if (!kind) {
      throw new TaskError(`heartbeats: column ${table}.${column} has type ${found.type}; expected a timestamp type or epoch milliseconds`, {
        reason: "HEARTBEAT_TABLE_INVALID",
      });
    }
    kinds[key] = kind;
  }
  return kinds;
}

/** PostgreSQL: compares native `timestamptz` values, so an index-free scan does no conversion for timestamptz columns. */
const postgres: TimeSql = {
  quote: doubleQuote,
  instant(quoted, kind) {
    if (kind === "timestamptz") return quoted;
    if (kind === "utc-naive") return `(${quoted} AT TIME ZONE 'UTC')`;
    return `to_timestamp(${quoted} / 1000.0)`;
  },
  plusSeconds: (instant, seconds) => `(${instant} + ${seconds} * interval '1 second')`,
  at: (moment) => ({ sql: "?::timestamptz", bindings: [moment.toISOString()] }),
  epochMs: (instant) => `(extract(epoch from ${instant}) * 1000)::float8`,
  write(kind, moment) {
    if (kind === "timestamptz") return { sql: "?::timestamptz", bindings: [moment.toISOString()] };
    if (kind === "utc-naive") return { sql: "?::timestamp", bindings: [utcWallTime(moment)] };
    return { sql: "?::bigint", bindings: [moment.getTime()] };
  },
};

/** MySQL/MariaDB: compares epoch milliseconds, which no session time zone can shift. */
const mysql: TimeSql = {
  quote: (name) =>
    name
      .split(".")
      .map((part) => `\`${part.replaceAll("`", "``")}\``)
      .join("."),
  instant(quoted, kind) {
    if (kind === "utc-naive") return `(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ${quoted}) DIV 1000)`;
    if (kind === "mysql-timestamp") return `ROUND(UNIX_TIMESTAMP(${quoted}) * 1000)`;
    return quoted;
  },
  plusSeconds: (instant, seconds) => `(${instant} + ${seconds} * 1000)`,
  at: (moment) => ({ sql: "?", bindings: [moment.getTime()] }),
  epochMs: (instant) => instant,
  write(kind, moment) {
    if (kind === "utc-naive") return { sql: "?", bindings: [utcWallTime(moment)] };
    // FROM_UNIXTIME gives session-zone wall time, which MariaDB converts back to the same instant on store.
    if (kind === "mysql-timestamp") return { sql: "FROM_UNIXTIME(? / 1000)", bindings: [moment.getTime()] };
    return { sql: "?", bindings: [moment.getTime()] };
  },
};

/** SQLite: compares epoch milliseconds; each row is read by its storage class (integer ms or ISO text). */
const sqlite: TimeSql = {
  quote: doubleQuote,
  instant: (quoted) =>
    `(CASE typeof(${quoted}) WHEN 'text' THEN CAST(round((julianday(${quoted}) - 2440587.5) * 86400000.0) AS INTEGER) ELSE ${quoted} END)`,
  plusSeconds: (instant, seconds) => `(${instant} + ${seconds} * 1000)`,
  at: (moment) => ({ sql: "?", bindings: [moment.getTime()] }),
  epochMs: (instant) => instant,
  write(kind, moment) {
    return { sql: "?", bindings: [kind === "iso-text" ? moment.toISOString() : moment.getTime()] };
  },
};

export const TIME_SQL: Record<SqlDialect, TimeSql> = { postgres, mysql, sqlite };
