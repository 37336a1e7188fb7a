import type { Knex } from "knex";
import { columnTypes, doubleQuote, type SqlDialect, utcWallTime } from "../../db.ts";
import { TaskError } from "../../errors.ts";
import { formOfValues, mergeForms, type SqliteTimeForm, sampleValues, sqliteEpochMs, sqliteStoredTime } from "../../sqlite-time.ts";

/** Any text form: `sqliteEpochMs` reads them all alike. */
const TEXT_FORM: SqliteTimeForm = { kind: "text", separator: "T", zone: "Z", digits: 3 };

/**
 * How a host time column holds its values, read from the table's schema:
 * - `timestamptz`: PostgreSQL `timestamp with time zone`;
 * - `utc-naive`: PostgreSQL `timestamp` or MySQL/MariaDB `DATETIME`, holding UTC wall time;
 * - `mysql-timestamp`: MySQL/MariaDB `TIMESTAMP` (an instant; the session time zone is bypassed);
 * - `epoch-ms`: an integer column of milliseconds since the epoch (PostgreSQL, MySQL/MariaDB);
 * - on SQLite, what its rows hold (SqliteTimeKind).
 */
export type TimeKind = "timestamptz" | "utc-naive" | "mysql-timestamp" | "epoch-ms" | SqliteTimeKind;

/**
 * SQLite, read from a sample of the rows (sqlite-time.ts): each row is read by its storage class,
 * an integer in the column's unit, text by its own form and zone, so integers and text may be
 * mixed; within a class the rows hold one form. `write` is the form upkeep stores.
 */
export interface SqliteTimeKind {
  integers: "epoch_ms" | "epoch_s";
  write: SqliteTimeForm;
}

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

function kindOf(dialect: SqlDialect, type: string): TimeKind | undefined {
  const t = type.toLowerCase().trim();
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

/** A host time column the task cannot read: missing, of another type, or (SQLite) holding unreadable or mixed times. */
export class TimeColumnError extends TaskError {
  /** The option naming the column (`columns.createdAt`). */
  readonly field: string;

  constructor(message: string, field: string) {
    super(`heartbeats: ${message}`, { reason: "HEARTBEAT_TABLE_INVALID" });
    this.field = field;
  }
}

/** A SQLite column's rows split by storage class, each class in one form (undefined: no such rows). */
async function sqliteClasses(
  db: Knex,
  table: string,
  column: string,
  field: string,
): Promise<{ numbers?: SqliteTimeForm; texts?: SqliteTimeForm }> {
  const values = await sampleValues(db, table, column, false);
  const classes: { numbers?: SqliteTimeForm; texts?: SqliteTimeForm } = {};
  for (const [key, part] of [
    ["numbers", values.filter((value) => typeof value !== "string")],
    ["texts", values.filter((value) => typeof value === "string")],
  ] as const) {
    const form = formOfValues(part);
    if (typeof form === "object" && "problem" in form) throw new TimeColumnError(`column ${table}.${column} ${form.problem}`, field);
    if (form !== "empty") classes[key] = form;
  }
  return classes;
}

/**
 * SQLite: each column's kind from its rows. A column is written in the form its rows hold; one with
 * no rows, or with both integers and text, in the form of the table's other time columns when their
 * rows agree (a framework writes all its times alike), else by `sqliteTimeFormat` and its declared
 * type: ISO-8601 text (`…T…Z`) into a text-typed column, epoch milliseconds (knex's form for a
 * `Date`) into the rest. `sqliteTimeFormat` other than `auto` always decides the write form.
 */
async function sqliteKinds<K extends string>(
  db: Knex,
  table: string,
  columns: Record<K, string>,
  types: Record<K, string>,
  format: "auto" | "epoch-ms" | "iso",
): Promise<Record<K, SqliteTimeKind>> {
  const entries = Object.entries(columns) as Array<[K, string]>;
  const classes = new Map<K, { numbers?: SqliteTimeForm; texts?: SqliteTimeForm }>();
  for (const [key, column] of entries) classes.set(key, await sqliteClasses(db, table, column, `columns.${key}`));
  const own = (key: K): SqliteTimeForm | undefined => {
    const { numbers, texts } = classes.get(key) ?? {};
    return numbers && texts ? undefined : (numbers ?? texts);
  };
  let shared: SqliteTimeForm | undefined;
  let agreed = true;
  for (const [key] of entries) {
    const form = own(key);
    if (!form) continue;
    const merged = shared ? mergeForms(shared, form) : form;
    if (!merged) agreed = false;
    shared = merged ?? shared;
  }
  const iso: SqliteTimeForm = { kind: "text", separator: "T", zone: "Z", digits: 3 };
  const kinds = {} as Record<K, SqliteTimeKind>;
  for (const [key] of entries) {
    const numbers = classes.get(key)?.numbers;
    const declared: SqliteTimeForm = /char|clob|text/.test(types[key].toLowerCase()) ? iso : { kind: "epoch_ms" };
    const fallback = format === "auto" ? (own(key) ?? (agreed ? shared : undefined) ?? declared) : undefined;
    const write = fallback ?? (format === "iso" ? iso : { kind: "epoch_ms" });
    kinds[key] = { integers: numbers?.kind === "epoch_s" ? "epoch_s" : "epoch_ms", write };
  }
  return kinds;
}

/**
 * Reads how each named time column of the host table is typed (on SQLite, what a sample of its rows
 * holds). Names, types and forms are schema metadata, never row values, so they may appear in the error.
 *
 * @throws {TimeColumnError} when a column is missing, of a type the task cannot compare, or (SQLite) holds
 *   times it cannot read or in several forms.
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
  const types = {} as Record<K, string>;
  const named = {} as Record<K, string>;
  for (const [key, column] of Object.entries(columns) as Array<[K, string]>) {
    const match = info[column] ? column : Object.keys(info).find((candidate) => candidate.toLowerCase() === column.toLowerCase());
    const found = match === undefined ? undefined : info[match];
    if (!found || match === undefined) throw new TimeColumnError(`column ${table}.${column} not found`, `columns.${key}`);
    types[key] = found.type;
    named[key] = match;
    if (dialect === "sqlite") continue;
    const kind = kindOf(dialect, found.type);
    if (!kind) {
      throw new TimeColumnError(
        `column ${table}.${column} has type ${found.type}; expected a timestamp type or epoch milliseconds`,
        `columns.${key}`,
      );
    }
    kinds[key] = kind;
  }
  return dialect === "sqlite" ? sqliteKinds(db, table, named, types, sqliteTimeFormat) : kinds;
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

const sqliteKind = (kind: TimeKind): SqliteTimeKind => {
  if (typeof kind === "string") throw new Error(`[upkeep] heartbeats: ${kind} is not a SQLite time kind`);
  return kind;
};

/** SQLite: compares epoch milliseconds; each row is read by its storage class (an integer in the column's unit, or text). */
const sqlite: TimeSql = {
  quote: doubleQuote,
  instant: (quoted, kind) =>
    `(CASE typeof(${quoted}) WHEN 'text' THEN ${sqliteEpochMs(quoted, TEXT_FORM)} ELSE ${sqliteEpochMs(quoted, { kind: sqliteKind(kind).integers })} END)`,
  plusSeconds: (instant, seconds) => `(${instant} + ${seconds} * 1000)`,
  at: (moment) => ({ sql: "?", bindings: [moment.getTime()] }),
  epochMs: (instant) => instant,
  write: (kind, moment) => ({ sql: "?", bindings: [sqliteStoredTime(moment, sqliteKind(kind).write)] }),
};

export const TIME_SQL: Record<SqlDialect, TimeSql> = { postgres, mysql, sqlite };
