// How a SQLite column holds time, read from its rows: SQLite has no time type, so each framework
// picks its own form (Django and Rails `YYYY-MM-DD HH:MM:SS[.ffffff]`, `CURRENT_TIMESTAMP`'s
// `YYYY-MM-DD HH:MM:SS`, JavaScript's `…T…Z`, Prisma's and knex's epoch milliseconds). One form per
// column is what lets a bound value compare in index order; see docs/design/sqlite-time-forms.md.
import type { Knex } from "knex";
import { doubleQuote } from "./db.ts";

/** A text form: `YYYY-MM-DD<separator>HH:MM:SS[.f…]<zone>`. */
export interface SqliteTextForm {
  kind: "text";
  separator: " " | "T";
  /** `""` (no zone: UTC), `"Z"`, `"+00:00"`/`"-00:00"`, or another offset such as `"+02:00"`. */
  zone: string;
  /** Digits after the seconds: a fixed count (0 when none), or `"varies"` (Django and Rails omit a zero fraction). */
  digits: number | "varies";
}

/** How a SQLite column holds time: integer epoch milliseconds or seconds, or one text form. */
export type SqliteTimeForm = { kind: "epoch_ms" } | { kind: "epoch_s" } | SqliteTextForm;

/** Integers below this are epoch seconds (until the year 5138), at or above it epoch milliseconds (from 1973-03-03). */
const SECONDS_BELOW = 100_000_000_000;
const TEXT = /^\d{4}-\d{2}-\d{2}([ T])\d{2}:\d{2}:\d{2}(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$/;

/** The form of one stored value, or a description of why it has none. */
export function formOfValue(value: unknown): SqliteTimeForm | { unreadable: string } {
  if (typeof value === "bigint") return formOfValue(Number(value));
  if (typeof value === "number") {
    if (!Number.isInteger(value)) return { unreadable: "a real number (neither epoch seconds nor milliseconds)" };
    return Math.abs(value) < SECONDS_BELOW ? { kind: "epoch_s" } : { kind: "epoch_ms" };
  }
  if (typeof value !== "string") return { unreadable: "a blob" };
  if (/^-?\d+$/.test(value)) return { unreadable: "digits stored as text (give the column an INTEGER type)" };
  const match = TEXT.exec(value);
  if (!match) return { unreadable: "text that is not YYYY-MM-DD HH:MM:SS (with seconds, an optional fraction and zone)" };
  return { kind: "text", separator: match[1] as " " | "T", zone: match[3] ?? "", digits: match[2]?.length ?? 0 };
}

/** A form as a pattern, for messages (never a row's value). */
export function describeForm(form: SqliteTimeForm): string {
  if (form.kind === "epoch_ms") return "epoch milliseconds";
  if (form.kind === "epoch_s") return "epoch seconds";
  const fraction = form.digits === "varies" ? "[.f…]" : form.digits === 0 ? "" : `.${"f".repeat(form.digits)}`;
  return `YYYY-MM-DD${form.separator}HH:MM:SS${fraction}${form.zone}`;
}

/** Two forms as one (a text fraction's digit count may differ), or undefined when they are different forms. */
export function mergeForms(a: SqliteTimeForm, b: SqliteTimeForm): SqliteTimeForm | undefined {
  if (a.kind !== "text" || b.kind !== "text") return a.kind === b.kind ? a : undefined;
  if (a.separator !== b.separator || a.zone !== b.zone) return undefined;
  return a.digits === b.digits ? a : { ...a, digits: "varies" };
}

/**
 * The one form of a set of values (a fraction's digit count may vary), `"empty"` when there are
 * none, or the problem: values in several forms, or a value in no form.
 */
export function formOfValues(values: readonly unknown[]): SqliteTimeForm | "empty" | { problem: string } {
  let form: SqliteTimeForm | undefined;
  const seen = new Set<string>();
  for (const value of values) {
    if (value === null || value === undefined) continue;
    const found = formOfValue(value);
    if ("unreadable" in found) return { problem: `holds ${found.unreadable}` };
    const merged = form ? mergeForms(form, found) : found;
    if (merged) form = merged;
    else if (form) {
      seen.add(describeForm(form));
      seen.add(describeForm(found));
    }
  }
  if (seen.size > 0) return { problem: `holds times in several forms (${[...seen].sort().join(", ")}): store one form` };
  return form ?? "empty";
}

/** Rows read from each end of a column for its form. */
const SAMPLE = 50;
/** Rows looked at from each end to find them: a column that is mostly null (`suspended_at`) is not scanned whole. */
const LOOK = 10_000;

/**
 * Reads a sample of a column's non-null values: the first and last `SAMPLE` rows as stored (the
 * oldest and newest inserts) among the first and last `LOOK`, and, when `ordered` (the column leads an index, so these are two
 * seeks), its lowest and highest values. SQLite orders every number before any text, so those two
 * catch a column holding both.
 */
export async function sampleValues(db: Knex, table: string, column: string, ordered: boolean): Promise<unknown[]> {
  const t = doubleQuote(table);
  const c = doubleQuote(column);
  const read = async (sql: string): Promise<unknown[]> => ((await db.raw(sql)) as Array<{ v: unknown }>).map((row) => row.v);
  const end = (order: string) => `select v from (select ${c} as v from ${t}${order} limit ${LOOK}) where v is not null limit ${SAMPLE}`;
  const values = await read(end(""));
  try {
    values.push(...(await read(end(" order by rowid desc"))));
  } catch {
    // A WITHOUT ROWID table has no insertion order to read from the end.
  }
  if (ordered) {
    for (const direction of ["asc", "desc"]) {
      values.push(...(await read(`select ${c} as v from ${t} where ${c} is not null order by ${c} ${direction} limit 1`)));
    }
  }
  return values;
}

/** Reads a column's form from a sample of its rows (see sampleValues and formOfValues). */
export async function detectSqliteTimeForm(
  db: Knex,
  table: string,
  column: string,
  ordered: boolean,
): Promise<SqliteTimeForm | "empty" | { problem: string }> {
  return formOfValues(await sampleValues(db, table, column, ordered));
}

/** Whether text in this form compares in time order as text: UTC (no zone, `Z`, `±00:00`), and a fixed fraction with `Z`. */
export function lexicalProblem(form: SqliteTimeForm): string | undefined {
  if (form.kind !== "text") return undefined;
  if (form.zone === "" || form.zone === "+00:00" || form.zone === "-00:00") return undefined;
  if (form.zone !== "Z") {
    return `holds times with a UTC offset (${describeForm(form)}), which do not sort in time order as text: store UTC`;
  }
  if (form.digits === "varies") {
    return `holds times ending in Z with fractions of varying length (${describeForm(form)}), which do not sort in time order as text`;
  }
  return undefined;
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

function wall(moment: Date, separator: string): string {
  return (
    `${pad(moment.getUTCFullYear(), 4)}-${pad(moment.getUTCMonth() + 1)}-${pad(moment.getUTCDate())}` +
    `${separator}${pad(moment.getUTCHours())}:${pad(moment.getUTCMinutes())}:${pad(moment.getUTCSeconds())}`
  );
}

/**
 * A cutoff in the column's form, such that `column < cutoff` (and so `column >= cutoff`) holds
 * exactly for rows stored before `moment`, compared as SQLite compares the column's values:
 * - epoch ms: the number; epoch s: rounded up to the second (a row at 12:00:00 is before 12:00:00.5);
 * - text without a fixed fraction: the fraction without trailing zeros, none when zero, so that a
 *   row's longer or shorter fraction sorts as its value does (`…:00` = `…:00.000000` is not before
 *   `…:00`, `…:00.122999` is before `…:00.123`). A `±00:00` zone sorts before digits and `.`, so it
 *   follows the same rule;
 * - text with `Z` and a fixed fraction: that many digits, rounded up.
 * Offsets other than UTC, and `Z` with varying fractions, have no such value (see lexicalProblem).
 */
export function sqliteCutoff(moment: Date, form: SqliteTimeForm): number | string {
  const ms = moment.getTime();
  if (form.kind === "epoch_ms") return ms;
  if (form.kind === "epoch_s") return Math.ceil(ms / 1000);
  if (form.zone === "Z" && form.digits !== "varies") {
    const step = 10 ** Math.max(0, 3 - form.digits);
    const up = new Date(Math.ceil(ms / step) * step);
    return `${wall(up, form.separator)}${fraction(up.getUTCMilliseconds(), form.digits)}Z`;
  }
  const millis = moment.getUTCMilliseconds();
  const stripped = millis === 0 ? "" : `.${pad(millis, 3).replace(/0+$/, "")}`;
  return `${wall(moment, form.separator)}${stripped}${form.zone}`;
}

function fraction(millis: number, digits: number): string {
  if (digits === 0) return "";
  return `.${pad(millis, 3).padEnd(digits, "0").slice(0, digits)}`;
}

/**
 * A moment as a value to store in a column of this form: the same layout; a varying fraction is
 * written with six digits (Django's and Rails' form for a time with microseconds), an offset other
 * than UTC as `+00:00` (the same instant, readable by anything that reads the offset).
 */
export function sqliteStoredTime(moment: Date, form: SqliteTimeForm): number | string {
  if (form.kind === "epoch_ms") return moment.getTime();
  if (form.kind === "epoch_s") return Math.floor(moment.getTime() / 1000);
  const digits = form.digits === "varies" ? 6 : form.digits;
  const zone = form.zone === "" || form.zone === "Z" || form.zone === "-00:00" ? form.zone : "+00:00";
  return `${wall(moment, form.separator)}${fraction(moment.getUTCMilliseconds(), digits)}${zone}`;
}

/**
 * SQL reading a column of this form as epoch milliseconds, row by row. Text goes through
 * `julianday`, which reads every text form above with its zone (to the millisecond).
 */
export function sqliteEpochMs(quoted: string, form: SqliteTimeForm): string {
  if (form.kind === "epoch_ms") return quoted;
  if (form.kind === "epoch_s") return `(${quoted} * 1000)`;
  return `CAST(round((julianday(${quoted}) - 2440587.5) * 86400000.0) AS INTEGER)`;
}
