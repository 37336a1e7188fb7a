// The statements cleanup runs. Every batch is one short index range, a primary-key range
// (after, bound] or, on PostgreSQL, a slice [from, to) of the age column, whose bounds come from a
// walk that starts where the last batch ended: no rescan of what earlier batches removed (dead
// PostgreSQL tuples, InnoDB delete-marked records), no rows in memory.
import type { Knex } from "knex";
import { dialectOf, doubleQuote, type SqlDialect, utcWallTime } from "../../db.ts";
import { sqliteCutoff } from "../../sqlite-time.ts";
import { flagConditions } from "./flags.ts";
import type { TimeFormat } from "./options.ts";
import type { ResolvedPolicy } from "./policies.ts";

/**
 * A cutoff for a native timestamp column, as text: the wall time of whichever of UTC and the
 * process's zone shows the earlier one (UTC east of Greenwich, local time west of it), with that
 * zone's offset on PostgreSQL. `timestamptz` reads the exact instant; MySQL `TIMESTAMP` reads the
 * text in the session's zone, exact or earlier when that is UTC or the process's. A column of wall
 * time (`timestamp` without time zone, MySQL `DATETIME`) may hold UTC (Rails, Prisma, the heartbeats
 * task's reading) or the process's local time (what node-pg and mysql2 write for a `Date`): with the
 * earlier wall time, a row goes only once it is old enough under both readings, never early.
 */
export function earlierWallTime(date: Date, dialect: SqlDialect): string {
  const west = Math.max(0, date.getTimezoneOffset());
  const wall = utcWallTime(new Date(date.getTime() - west * 60_000));
  if (dialect !== "postgres") return wall;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${wall}-${pad(Math.floor(west / 60))}:${pad(west % 60)}`;
}

/**
 * Binds a date in the form a column stores it. Native timestamps: `"date"` see earlierWallTime;
 * `"utc"` the UTC wall time, with `+00:00` on PostgreSQL (exact on `timestamptz`; on `timestamp`
 * the zone is ignored and the UTC wall time compared). SQLite keeps knex's number.
 */
export function timeValue(date: Date, format: TimeFormat, dialect: SqlDialect): Date | number | string {
  switch (format) {
    case "date":
      return dialect === "sqlite" ? date : earlierWallTime(date, dialect);
    case "utc":
      if (dialect === "sqlite") return date;
      return dialect === "postgres" ? `${utcWallTime(date)}+00:00` : utcWallTime(date);
    case "epoch_ms":
      return date.getTime();
    case "epoch_s":
      return Math.floor(date.getTime() / 1000);
    case "iso":
      return date.toISOString();
  }
}

/** Adds the policy's selection (age, where, duplicate) to a query on its table. */
export function applySelection(db: Knex, query: Knex.QueryBuilder, policy: ResolvedPolicy, now: Date): Knex.QueryBuilder {
  const { table, age, timeFormat, sqliteTime } = policy;
  const time = (date: Date) => (sqliteTime ? sqliteCutoff(date, sqliteTime) : timeValue(date, timeFormat, dialectOf(db)));
  if (age) {
    const cutoff = time(new Date(now.getTime() - age.olderThanMs));
    query.where(`${table}.${age.column}`, "<", cutoff);
    // SQLite orders every number before any text: a number written into a text column after the
    // run's start would be "before" any text cutoff. `>= ''` keeps the range to text, still one index range.
    if (sqliteTime && typeof cutoff === "string") query.where(`${table}.${age.column}`, ">=", "");
  }
  const flags = flagConditions(policy.flags);
  for (const where of policy.where) {
    if (typeof where === "string") query.whereRaw(`(${where})`);
    else query.where((inner) => where(inner, { now, time, ...flags }));
  }
  const dedupe = policy.dedupe;
  if (dedupe) {
    // A row is a duplicate when another row with the same key comes before it in (orderBy, pk)
    // order; the first row of each key never matches, so it is always kept.
    const before = dedupe.keep === "oldest" ? "<" : ">";
    const pk = policy.primaryKey;
    query.whereExists((sub) => {
      sub.select(db.raw("1")).from(`${table} as upkeep_dup`);
      for (const key of dedupe.key) sub.whereRaw("?? = ??", [`upkeep_dup.${key}`, `${table}.${key}`]);
      if (dedupe.orderBy === pk) sub.whereRaw(`?? ${before} ??`, [`upkeep_dup.${pk}`, `${table}.${pk}`]);
      else
        sub.where((order) =>
          order
            .whereRaw(`?? ${before} ??`, [`upkeep_dup.${dedupe.orderBy}`, `${table}.${dedupe.orderBy}`])
            .orWhere((tie) =>
              tie
                .whereRaw("?? = ??", [`upkeep_dup.${dedupe.orderBy}`, `${table}.${dedupe.orderBy}`])
                .whereRaw(`?? ${before} ??`, [`upkeep_dup.${pk}`, `${table}.${pk}`]),
            ),
        );
    });
  }
  return query;
}

const ageColumn = (policy: ResolvedPolicy) => `${policy.table}.${policy.age?.column}`;

function range(query: Knex.QueryBuilder, policy: ResolvedPolicy, after: unknown, bound?: unknown): Knex.QueryBuilder {
  const pk = `${policy.table}.${policy.primaryKey}`;
  if (after !== undefined) query.where(pk, ">", after as Knex.Value);
  if (bound !== undefined) query.where(pk, "<=", bound as Knex.Value);
  return query;
}

/** How many rows the policy matches now (dry run). */
export async function countMatching(db: Knex, policy: ResolvedPolicy, now: Date): Promise<number> {
  const row = await applySelection(db, db(policy.table), policy, now).count({ n: "*" }).first();
  return Number(row?.n ?? 0);
}

/** The next batch: how many matching rows follow `after` (up to `limit`) and the last one's key. */
export async function nextBatch(
  db: Knex,
  dialect: SqlDialect,
  policy: ResolvedPolicy,
  now: Date,
  after: unknown,
  limit: number,
): Promise<{ count: number; last: unknown }> {
  const keys = () =>
    range(applySelection(db, db(policy.table), policy, now), policy, after)
      .select({ batch_key: `${policy.table}.${policy.primaryKey}` })
      .orderBy(`${policy.table}.${policy.primaryKey}`);
  if (dialect === "mysql") {
    // MariaDB/MySQL copy a counted batch into a derived table first; reading only the key of its
    // last row stops the walk there and returns one value (about half the time of counting, and
    // a quarter of a batch's time). The count is then only needed for the last, partial batch.
    // PostgreSQL and SQLite stream the counted form, and the extra scan of the table's tail for
    // the last batch would cost them more than this saves (measured in docs/tasks/cleanup.md).
    const boundary = await keys()
      .offset(limit - 1)
      .limit(1)
      .first();
    if (boundary) return { count: limit, last: boundary.batch_key };
  }
  const row = await db.from(keys().limit(limit).as("upkeep_batch")).count({ n: "*" }).max({ last: "upkeep_batch.batch_key" }).first();
  return { count: Number(row?.n ?? 0), last: row?.last };
}

/** A key as a safe integer, or undefined (a string key, a UUID, a BIGINT past 2^53). */
function integerKey(value: unknown): number | undefined {
  const key = typeof value === "string" && /^-?\d{1,16}$/.test(value) ? Number(value) : value;
  return typeof key === "number" && Number.isSafeInteger(key) ? key : undefined;
}

/**
 * The lowest and highest integer key the selection matches, read through the age column's index,
 * so a policy can be cut into key ranges without a find per batch: `none` when nothing matches,
 * undefined when the keys are not safe integers (the policy then walks key by key).
 */
export async function keySpan(
  db: Knex,
  dialect: SqlDialect,
  policy: ResolvedPolicy,
  now: Date,
): Promise<{ lo: number; hi: number } | "none" | undefined> {
  const pk = `${policy.table}.${policy.primaryKey}`;
  const matching = applySelection(db, db(policy.table), policy, now);
  // PostgreSQL would answer min and max by walking the primary key from each end until a row
  // matches, through every unexpired row; OFFSET 0 keeps the selection a plan of its own, read
  // through the age index. MySQL and SQLite read the age index for both at once already.
  let row: { lo?: unknown; hi?: unknown } | undefined;
  if (dialect === "postgres") {
    const inner = matching.select({ span_key: pk }).toSQL();
    const result = await db.raw(
      `select min(span_key) as lo, max(span_key) as hi from (${inner.sql} offset 0) as upkeep_span`,
      inner.bindings,
    );
    row = rowsOf(dialect, result)[0] as typeof row;
  } else row = await matching.min({ lo: pk }).max({ hi: pk }).first();
  if (row?.lo == null) return "none";
  const lo = integerKey(row.lo);
  const hi = integerKey(row.hi);
  return lo === undefined || hi === undefined ? undefined : { lo, hi };
}

/**
 * A first guess at the key span from the two ends of the age index: the keys of the oldest and the
 * newest matching row, two index seeks instead of a read of every expired entry. It is the span
 * itself when keys grow with the age column (an append-only table, the usual case); rows outside it
 * are found by reading the exact span once the guess has been walked. `none` when nothing matches,
 * undefined when a key is not a safe integer.
 */
export async function endKeys(db: Knex, policy: ResolvedPolicy, now: Date): Promise<{ lo: number; hi: number } | "none" | undefined> {
  const end = async (direction: "asc" | "desc") => {
    const row = await applySelection(db, db(policy.table), policy, now)
      .select({ end_key: `${policy.table}.${policy.primaryKey}` })
      .orderBy(ageColumn(policy), direction)
      .first();
    return row ? { key: integerKey(row.end_key) } : undefined;
  };
  const oldest = await end("asc");
  if (!oldest) return "none";
  const newest = await end("desc");
  const a = oldest.key;
  const b = newest?.key ?? a;
  return a === undefined || b === undefined ? undefined : { lo: Math.min(a, b), hi: Math.max(a, b) };
}

/**
 * The lowest matching key in (after, hi], to skip a gap in the key space; undefined when none is
 * left. The upper bound keeps the read inside the span even if its last rows went meanwhile.
 */
export async function nextKey(db: Knex, policy: ResolvedPolicy, now: Date, after: number, hi: number): Promise<number | undefined> {
  const pk = `${policy.table}.${policy.primaryKey}`;
  const row = await applySelection(db, db(policy.table), policy, now).where(pk, ">", after).where(pk, "<=", hi).min({ next: pk }).first();
  return row?.next == null ? undefined : integerKey(row.next);
}

/** Where a PostgreSQL age slice starts: a value of the age column as the database wrote it. */
export interface SliceStart {
  value: string;
  /** Whether rows holding `value` itself are still to go (false once a group of them was removed). */
  inclusive: boolean;
}

function slice(query: Knex.QueryBuilder, column: string, from: SliceStart | undefined, to?: string): Knex.QueryBuilder {
  if (from) query.where(column, from.inclusive ? ">=" : ">", from.value);
  if (to !== undefined) query.where(column, "<", to);
  return query;
}

/**
 * PostgreSQL: the age column's value `size` matching rows on from `from`, in the column's order, as
 * text; undefined when no more than `size` rows are left. An index-only read of the age index.
 */
export async function sliceBound(
  db: Knex,
  policy: ResolvedPolicy,
  now: Date,
  from: SliceStart | undefined,
  size: number,
): Promise<string | undefined> {
  const column = ageColumn(policy);
  const boundary = slice(applySelection(db, db(policy.table), policy, now), column, from)
    .select({ bound: column })
    .orderBy(column)
    .offset(size)
    .limit(1);
  // Written as text outside the subquery: inside, every skipped row would be converted too.
  const row = await db
    .select(db.raw("??::text as bound", ["upkeep_slice.bound"]))
    .from(boundary.as("upkeep_slice"))
    .first();
  return row?.bound ?? undefined;
}

/** PostgreSQL: deletes the matching rows from `from` up to (not including) `to`, or to the cutoff. */
export function deleteSlice(
  db: Knex,
  policy: ResolvedPolicy,
  now: Date,
  from: SliceStart | undefined,
  to: string | undefined,
): Promise<number> {
  return asyncCommitStatement(db, slice(applySelection(db, db(policy.table), policy, now), ageColumn(policy), from, to)).del();
}

/** How a PostgreSQL age slice's bound can be predicted: the column's arithmetic, or undefined (always found). */
export type SliceArithmetic = "timestamp" | "number";

/**
 * The arithmetic of the age column, from its declared type and the policy's time format: native
 * timestamps (with or without time zone) and integer epochs. `iso` text and `date` columns have
 * none, so their slices are always found.
 */
export function sliceArithmetic(policy: ResolvedPolicy, declaredType: string | undefined): SliceArithmetic | undefined {
  if (!declaredType) return undefined;
  if ((policy.timeFormat === "date" || policy.timeFormat === "utc") && /^timestamp\b/.test(declaredType)) return "timestamp";
  if ((policy.timeFormat === "epoch_ms" || policy.timeFormat === "epoch_s") && /^(bigint|integer|smallint|numeric)\b/.test(declaredType)) {
    return "number";
  }
  return undefined;
}

/** The previous slice of the age column, as the database wrote its bounds, to predict the next one from. */
export interface SliceWidth {
  from: string;
  to: string;
}

/**
 * PostgreSQL: the `statement_timeout` for a predicted slice: `wantedMs`, or the server's own when
 * that is shorter, so the guard never lengthens what the database allows.
 */
export async function guardTimeout(db: Knex, wantedMs: number): Promise<number> {
  const result = (await db.raw("select setting::bigint as ms from pg_settings where name = 'statement_timeout'")) as {
    rows: Array<{ ms: string | number }>;
  };
  const server = Number(result.rows[0]?.ms ?? 0);
  return server > 0 ? Math.min(server, wantedMs) : wantedMs;
}

/** Whether a statement was cancelled by its `statement_timeout` (not by an operator's cancel). */
export function isStatementTimeout(error: unknown): boolean {
  const failure = error as { code?: unknown; message?: unknown } | null;
  return failure?.code === "57014" && typeof failure.message === "string" && failure.message.includes("statement timeout");
}

/**
 * PostgreSQL: deletes the slice from `previous.to` to a predicted bound, `previous.to + (previous.to
 * - previous.from) * factor` in the column's arithmetic, with no find. One transaction: a select
 * that sets `statement_timeout` to `guardMs` (see guardTimeout) and `synchronous_commit = off` for
 * this transaction only and computes the bound as text, then the delete. A slice denser
 * than predicted runs into the timeout and rolls back whole (see isStatementTimeout). Undefined,
 * with nothing deleted, when the prediction does not land past `previous.to`.
 */
export async function deletePredictedSlice(
  db: Knex,
  policy: ResolvedPolicy,
  now: Date,
  previous: SliceWidth,
  factor: number,
  arithmetic: SliceArithmetic,
  guardMs: number,
): Promise<{ bound: string; removed: number } | undefined> {
  const type = arithmetic === "timestamp" ? "timestamptz" : "numeric";
  const predicted = arithmetic === "timestamp" ? "t + (t - f) * ?::float8" : "floor(t + (t - f) * ?::numeric)";
  return db.transaction(async (trx) => {
    const result = (await trx.raw(
      `select set_config('statement_timeout', ?, true) as upkeep_guard, set_config('synchronous_commit', 'off', true) as upkeep_commit,
         case when p.b > p.t then p.b::text end as bound
       from (select t, ${predicted} as b from (select ?::${type} as f, ?::${type} as t) as w) as p`,
      [String(Math.max(1, Math.round(guardMs))), factor, previous.from, previous.to],
    )) as { rows: Array<{ bound: string | null }> };
    const bound = result.rows[0]?.bound;
    if (bound == null) return undefined;
    const from: SliceStart = { value: previous.to, inclusive: true };
    const removed = await slice(applySelection(trx, trx(policy.table), policy, now), ageColumn(policy), from, bound).del();
    return { bound, removed };
  });
}

/** Deletes the matching rows of the key range (after, bound], re-checking the selection. */
export async function deleteRange(
  db: Knex,
  dialect: SqlDialect,
  policy: ResolvedPolicy,
  now: Date,
  after: unknown,
  bound: unknown,
): Promise<number> {
  const { table, primaryKey } = policy;
  if (dialect === "mysql" && policy.dedupe) {
    // MySQL refuses a DELETE whose subquery reads the same table (error 1093); a materialised
    // derived table of the keys is the documented way round it.
    const keys = range(applySelection(db, db(table), policy, now), policy, after, bound).select({ doomed: `${table}.${primaryKey}` });
    return db(table)
      .whereIn(primaryKey, db.select("doomed").from(keys.as("upkeep_doomed")))
      .del();
  }
  if (dialect === "postgres") {
    // One statement in autocommit, one round trip, committed without waiting for the WAL flush.
    return asyncCommitStatement(db, range(applySelection(db, db(table), policy, now), policy, after, bound)).del();
  }
  return range(applySelection(db, db(table), policy, now), policy, after, bound).del();
}

/**
 * PostgreSQL: commit this batch without waiting for the WAL flush. A crash can only forget the
 * last few batches whole (never part of one, never out of order): their rows come back and the
 * next run removes them again. It saves one disk flush per batch, most of a small batch's time.
 */
export async function asyncCommit(trx: Knex.Transaction): Promise<void> {
  await trx.raw("set local synchronous_commit = off");
}

/**
 * PostgreSQL: the same for a single statement in autocommit, without the three extra round trips
 * of `begin`, `set local` and `commit`: `set_config(..., true)` in a CTE, read once by an
 * uncorrelated EXISTS, holds for the statement's own transaction, which reads the setting when it
 * commits. The statement's plan is unchanged (the EXISTS is a one-time filter).
 */
function asyncCommitStatement(db: Knex, query: Knex.QueryBuilder): Knex.QueryBuilder {
  return query
    .with("upkeep_async_commit", db.raw("select set_config('synchronous_commit', 'off', true)"))
    .whereExists(db.select(db.raw("1")).from("upkeep_async_commit"));
}

/**
 * Moves the matching rows of the key range into the archive table, in the caller's transaction:
 * insert what the archive lacks, then delete only what the archive now holds. A rerun after a
 * crash finds either the whole batch moved or none of it; the guards keep it exact even if the
 * archive was filled some other way.
 */
export async function archiveRange(
  trx: Knex.Transaction,
  policy: ResolvedPolicy,
  archiveTable: string,
  columns: readonly string[],
  now: Date,
  after: unknown,
  bound: unknown,
): Promise<number> {
  const { table, primaryKey } = policy;
  const inArchive = (sub: Knex.QueryBuilder) =>
    sub
      .select(trx.raw("1"))
      .from(archiveTable)
      .whereRaw("?? = ??", [`${archiveTable}.${primaryKey}`, `${table}.${primaryKey}`]);
  const source = range(applySelection(trx, trx(table), policy, now), policy, after, bound)
    .select(columns.map((column) => `${table}.${column}`))
    .whereNotExists(inArchive);
  await trx.into(trx.raw(`?? (${columns.map(() => "??").join(", ")})`, [archiveTable, ...columns])).insert(source);
  return range(applySelection(trx, trx(table), policy, now), policy, after, bound)
    .whereExists(inArchive)
    .del();
}

/** Reads the next batch of whole rows for a sink: the only path that loads rows, one batch at a time. */
export function selectRows(db: Knex, policy: ResolvedPolicy, now: Date, after: unknown, limit: number): Promise<Record<string, unknown>[]> {
  return range(applySelection(db, db(policy.table), policy, now), policy, after)
    .select(`${policy.table}.*`)
    .orderBy(`${policy.table}.${policy.primaryKey}`)
    .limit(limit);
}

/** Deletes the acknowledged keys that still match the selection. */
export function deleteKeys(db: Knex, policy: ResolvedPolicy, now: Date, keys: readonly unknown[]): Promise<number> {
  if (keys.length === 0) return Promise.resolve(0);
  return applySelection(db, db(policy.table), policy, now)
    .whereIn(`${policy.table}.${policy.primaryKey}`, keys as Knex.Value[])
    .del();
}

function rowsOf(dialect: SqlDialect, result: unknown): unknown[] {
  if (dialect === "postgres") return (result as { rows: unknown[] }).rows;
  if (dialect === "mysql") return (result as [unknown[]])[0];
  return result as unknown[];
}

/**
 * Whether `column` leads some ordered index of `table` that covers every row, so a filter on it need
 * not scan and its values can be read in order: not a partial index, which a plain age filter
 * cannot use, and on PostgreSQL a B-tree (a BRIN or hash index cannot return rows in order, so
 * every slice's find would read and sort the whole expired range).
 */
export async function hasLeadingIndex(db: Knex, dialect: SqlDialect, table: string, column: string): Promise<boolean> {
  let result: unknown;
  if (dialect === "postgres") {
    result = await db.raw(
      `select 1 from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
       join pg_class ic on ic.oid = i.indexrelid join pg_am am on am.oid = ic.relam
       where i.indrelid = to_regclass(?) and a.attname = ? and i.indpred is null and i.indisvalid
         and am.amname = 'btree' limit 1`,
      [doubleQuote(table), column],
    );
  } else if (dialect === "mysql") {
    result = await db.raw(
      `select 1 from information_schema.statistics
       where table_schema = database() and table_name = ? and column_name = ? and seq_in_index = 1 limit 1`,
      [table, column],
    );
  } else {
    result = await db.raw(
      "select 1 from pragma_index_list(?) as il join pragma_index_info(il.name) as ii where ii.seqno = 0 and ii.name = ? and il.partial = 0 limit 1",
      [table, column],
    );
  }
  return rowsOf(dialect, result).length > 0;
}
