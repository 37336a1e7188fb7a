// Flag columns: a column that marks a row used, revoked or published. Frameworks write it either as a
// nullable timestamp (Rails' `revoked_at`) or as a boolean (Django's `is_used boolean not null
// default false`). "Set" is `is not null` for the first and `= true` for the second; reading one as
// the other matches every row, so the kind is decided from the catalog, by one rule, both when
// `start()` verifies the options and when a run checks its policy, and the run's SQL is built only
// from that decision.
import type { Knex } from "knex";
import { doubleQuote, type SqlDialect } from "../../db.ts";

/** How a flag column says "set": `flag` is a boolean (set = true), `timestamp` a nullable time (set = not null). */
export type FlagKind = "flag" | "timestamp";

/**
 * A column that marks a row (used, revoked, published). A name alone has its kind read from the
 * catalog at `start()`; `{ column, kind }` states it, and the catalog must still agree.
 */
export type FlagColumn =
  | string
  | {
      /** The column's name. */
      column: string;
      /** How the column says "set"; the catalog must agree. */
      kind: FlagKind;
    };

/** A flag column a policy's selection uses. */
export interface FlagUse {
  /** Where the option sits in the input, for errors (`auth.otpCodes.usedColumn`). */
  path: (string | number)[];
  column: string;
  /** Stated by the option; undefined: read from the catalog. */
  kind: FlagKind | undefined;
  /** The SQL that means "set", once the catalog was read: `true` or `1` compared with `=`, or `not null`. */
  set?: "true" | "1" | "not null";
}

/** A flag column's name and stated kind, from an option value. */
export function flagUse(path: (string | number)[], value: FlagColumn): FlagUse {
  return typeof value === "string" ? { path, column: value, kind: undefined } : { path, column: value.column, kind: value.kind };
}

interface ColumnFacts {
  type: string;
  nullable: boolean;
}

/** One column's declared type (lower case, as the catalog writes it) and nullability; undefined when it does not exist. */
async function columnFacts(db: Knex, dialect: SqlDialect, table: string, column: string): Promise<ColumnFacts | undefined> {
  let row: { type?: unknown; nullable?: unknown } | undefined;
  if (dialect === "postgres") {
    const result = (await db.raw(
      `select format_type(coalesce(nullif(t.typbasetype, 0), a.atttypid), null) as type, not (a.attnotnull or t.typnotnull) as nullable
       from pg_attribute a join pg_type t on t.oid = a.atttypid
       where a.attrelid = to_regclass(?) and a.attname = ? and a.attnum > 0 and not a.attisdropped`,
      [doubleQuote(table), column],
    )) as { rows: (typeof row)[] };
    row = result.rows[0];
  } else if (dialect === "mysql") {
    const [rows] = (await db.raw(
      `select column_type as type, is_nullable = 'YES' as nullable from information_schema.columns
       where table_schema = database() and table_name = ? and column_name = ?`,
      [table, column],
    )) as [(typeof row)[]];
    row = rows[0];
  } else {
    const rows = (await db.raw(`select type, "notnull" = 0 and pk = 0 as nullable from pragma_table_xinfo(?) where name = ?`, [
      table,
      column,
    ])) as (typeof row)[];
    row = rows[0];
  }
  if (!row) return undefined;
  return { type: String(row.type ?? "").toLowerCase(), nullable: row.nullable === true || Number(row.nullable) === 1 };
}

type TypeClass = "boolean" | "time" | "integer" | "other";

/**
 * What a declared type can hold. PostgreSQL `boolean`; MySQL/MariaDB `tinyint(1)` (what `boolean`
 * and `bool` become) and `bit(1)`; SQLite a declared `bool`, `boolean` or `tinyint(1)` (Django's
 * and Laravel's booleans, stored as 0/1). Time: PostgreSQL `timestamp...` and `date`, MySQL `datetime`, `timestamp`,
 * `date`, SQLite a declared type naming a date or time (`datetime`, `timestamp`).
 */
function classify(dialect: SqlDialect, type: string): TypeClass {
  if (dialect === "postgres") {
    if (type === "boolean") return "boolean";
    if (/^(timestamp|date$)/.test(type)) return "time";
    return /^(smallint|integer|bigint)$/.test(type) ? "integer" : "other";
  }
  if (dialect === "mysql") {
    if (/^(tinyint\(1\)|bit\(1\))/.test(type)) return "boolean";
    if (/^(datetime|timestamp|date)\b/.test(type)) return "time";
    return /^(tinyint|smallint|mediumint|int|integer|bigint)\b/.test(type) ? "integer" : "other";
  }
  if (/^(bool(ean)?|tinyint\(1\))$/.test(type)) return "boolean";
  if (/date|time/.test(type)) return "time";
  return /^(integer|int|bigint|smallint|tinyint|mediumint)\b/.test(type) ? "integer" : "other";
}

/**
 * Decides how "set" is written for one flag column, or says why it cannot be read safely:
 * - a boolean is `= true` (`= 1` where booleans are integers); a NULL is "not set";
 * - a nullable timestamp is `is not null`; a NOT NULL one holds a value in every row, so it is refused;
 * - an integer column only with `kind: "flag"`, and only while every row holds 0, 1 or NULL
 *   (checked with one query that stops at the first other value), as is a SQLite boolean, whose
 *   declared type SQLite does not enforce;
 * - anything else is refused.
 */
export async function decideFlag(
  db: Knex,
  dialect: SqlDialect,
  table: string,
  use: FlagUse,
): Promise<{ set: NonNullable<FlagUse["set"]> } | { problem: string }> {
  const facts = await columnFacts(db, dialect, table, use.column);
  const name = `column "${table}.${use.column}"`;
  if (!facts) return { problem: `column "${use.column}" does not exist in table "${table}"` };
  const type = classify(dialect, facts.type);
  const stated = use.kind;
  const onlyZeroOne = async () =>
    !(await db(table).select(db.raw("1 as found")).whereNotNull(use.column).whereNotIn(use.column, [0, 1]).first());
  const otherValues = `${name} holds values other than 0 and 1: it cannot be read as a flag`;
  if (type === "boolean" && stated !== "timestamp") {
    if (dialect === "postgres") return { set: "true" };
    // SQLite does not enforce a declared type: a bool column may hold 'true' text, which = 1 would never match.
    if (dialect === "sqlite" && !(await onlyZeroOne())) return { problem: otherValues };
    return { set: "1" };
  }
  if (type === "time" && stated !== "flag") {
    if (facts.nullable) return { set: "not null" };
    return { problem: `${name} is a NOT NULL ${facts.type}: every row has a value, so it cannot say which rows are set` };
  }
  if (type === "integer" && stated === "flag") {
    return (await onlyZeroOne()) ? { set: "1" } : { problem: otherValues };
  }
  if (type === "integer") {
    return { problem: `${name} is ${facts.type}: if it holds only 0 and 1, say { column: "${use.column}", kind: "flag" }` };
  }
  const wanted = stated === "flag" ? "a boolean" : stated === "timestamp" ? "a nullable timestamp" : "a boolean or a nullable timestamp";
  return { problem: `${name} is ${facts.type || "untyped"}: a flag column must be ${wanted}` };
}

/** The conditions a preset's `where` builds on flag columns, from the decided kinds. */
export interface FlagConditions {
  /** Adds "the flag is set" to `query`. */
  isSet(query: Knex.QueryBuilder, column: string): Knex.QueryBuilder;
  /** Adds "the flag is not set" (NULL counts as not set). */
  isUnset(query: Knex.QueryBuilder, column: string): Knex.QueryBuilder;
}

/**
 * The flag conditions of a policy whose flag columns were decided (see decideFlag). A column not
 * decided throws: the run never guesses a kind the check did not decide.
 */
export function flagConditions(flags: readonly FlagUse[]): FlagConditions {
  const setOf = (column: string) => {
    const set = flags.find((flag) => flag.column === column)?.set;
    if (!set) throw new Error(`[upkeep] cleanup: flag column "${column}" was used before its type was checked`);
    return set;
  };
  return {
    isSet: (query, column) => {
      const set = setOf(column);
      return set === "not null" ? query.whereNotNull(column) : query.whereRaw(`?? = ${set}`, [column]);
    },
    isUnset: (query, column) => {
      const set = setOf(column);
      return set === "not null"
        ? query.whereNull(column)
        : query.where((unset) => unset.whereNull(column).orWhereRaw(`?? <> ${set}`, [column]));
    },
  };
}
