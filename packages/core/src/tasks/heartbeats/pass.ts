import type { Knex } from "knex";
import { dialectOf, isTransientDbError, type SqlDialect } from "../../db.ts";
import { TaskError } from "../../errors.ts";
import type { HeartbeatsInput } from "./options.ts";
import { HeartbeatStatements, type TimeKinds, type TokenRow } from "./statements.ts";
import { detectTimeKinds } from "./time-sql.ts";

/** A token a pass suspended (or marked expired), with how late its heartbeat was. */
export interface OverdueToken {
  /** The token's primary key. */
  id: string | number;
  /** True when the token was past its expiry and was marked expired instead of suspended. */
  expired: boolean;
  /** The token's period in seconds. */
  periodSeconds: number;
  /** The last heartbeat, or null when the token never sent one (its creation time counted). */
  lastHeartbeatAt: Date | null;
  /** When the next heartbeat was due: last heartbeat (or creation) plus the period. */
  dueAt: Date;
  /** How long past `dueAt` the pass ran, in milliseconds. */
  lateMs: number;
}

export interface PassOptions {
  now: Date;
  /** Select what is overdue and change nothing. */
  dryRun?: boolean;
  /** Checked between batches; once aborted the pass stops and reports what it did. */
  signal?: AbortSignal;
  /**
   * Called inside each batch's transaction with the tokens it changed, before the commit: what it
   * writes through `trx` (the batch's events) commits with the change, or not at all.
   */
  inTransaction?: (tokens: readonly OverdueToken[], trx: Knex.Transaction) => Promise<void>;
  /** Called after each batch commits. */
  onBatch?: (tokens: readonly OverdueToken[]) => void;
  /** @internal Test hook: runs between the MariaDB select-for-update and its update. */
  afterLock?: (ids: ReadonlyArray<string | number>, trx: Knex.Transaction) => Promise<void>;
}

export interface PassResult {
  tokens: OverdueToken[];
  /** True when the signal stopped the pass before it ran out of overdue tokens. */
  stopped: boolean;
}

const number = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

function toToken(row: TokenRow, now: Date): OverdueToken {
  const last = number(row.last_ms);
  const base = last ?? (number(row.created_ms) as number);
  const periodSeconds = Number(row.every);
  const due = base + periodSeconds * 1000;
  return {
    id: row.id,
    expired: row.expired !== undefined && (Number(row.expired) === 1 || row.expired === true),
    periodSeconds,
    lastHeartbeatAt: last === null ? null : new Date(last),
    dueAt: new Date(due),
    lateMs: Math.max(0, Math.round(now.getTime() - due)),
  };
}

/** The rows of a `knex.raw` result, whatever the driver's shape. */
function rowsOf<T>(dialect: SqlDialect, result: unknown): T[] {
  if (dialect === "postgres") return (result as { rows: T[] }).rows;
  if (dialect === "mysql") return (result as [T[]])[0];
  return result as T[];
}

/** How each time column of the token table holds time (see detectTimeKinds). */
export async function timeKinds(db: Knex, dialect: SqlDialect, input: HeartbeatsInput): Promise<TimeKinds> {
  const { columns } = input;
  const named: Record<string, string> = {
    lastHeartbeatAt: columns.lastHeartbeatAt,
    createdAt: columns.createdAt,
    suspendedAt: columns.suspendedAt,
  };
  if (columns.expiresAt) named.expiresAt = columns.expiresAt;
  return (await detectTimeKinds(db, dialect, input.table, named, input.sqliteTimeFormat)) as unknown as TimeKinds;
}

/** PostgreSQL and SQLite: the compare-and-set update and the batch's events in one transaction. */
async function batchReturning(
  db: Knex,
  statements: HeartbeatStatements,
  limit: number | undefined,
  options: PassOptions,
): Promise<OverdueToken[]> {
  const { sql, bindings } = statements.updateReturning(limit);
  return db.transaction(async (trx) => {
    const rows = rowsOf<TokenRow>(statements.dialect, await trx.raw(sql, bindings as Knex.RawBinding[]));
    const tokens = rows.map((row) => toToken(row, options.now));
    if (tokens.length > 0) await options.inTransaction?.(tokens, trx);
    return tokens;
  });
}

async function batchLocked(
  db: Knex,
  statements: HeartbeatStatements,
  limit: number | undefined,
  options: PassOptions,
): Promise<OverdueToken[]> {
  // One short READ COMMITTED transaction: the locking read sees the newest committed version of each
  // row (a heartbeat committed after the pass began counts), and rows that do not match are unlocked
  // at once, so heartbeats of other tokens are not held up.
  return db.transaction(
    async (trx) => {
      const select = statements.selectForUpdate(limit);
      const locked = rowsOf<TokenRow>("mysql", await trx.raw(select.sql, select.bindings as Knex.RawBinding[]));
      if (locked.length === 0) return [];
      const ids = locked.map((row) => row.id);
      await options.afterLock?.(ids, trx);
      const update = statements.updateByIds(ids);
      const [header] = (await trx.raw(update.sql, update.bindings as Knex.RawBinding[])) as [{ affectedRows: number }];
      let changedRows = locked;
      if (header.affectedRows !== locked.length) {
        const changed = statements.changedAmong(ids);
        const kept = new Set(
          rowsOf<{ id: string | number }>("mysql", await trx.raw(changed.sql, changed.bindings as Knex.RawBinding[])).map((row) =>
            String(row.id),
          ),
        );
        changedRows = locked.filter((row) => kept.has(String(row.id)));
      }
      const tokens = changedRows.map((row) => toToken(row, options.now));
      if (tokens.length > 0) await options.inTransaction?.(tokens, trx);
      return tokens;
    },
    { isolationLevel: "read committed" },
  );
}

/**
 * One heartbeat pass: suspends (or expires) every overdue token with one statement (PostgreSQL,
 * SQLite) or one short transaction (MySQL/MariaDB), or, with `input.batchSize`, one per batch. Safe to
 * run concurrently with heartbeats and with other passes: each token is changed, and reported, once.
 *
 * @throws {TaskError} retryable for deadlocks, lock timeouts and connection failures.
 */
export async function runHeartbeatPass(db: Knex, input: HeartbeatsInput, options: PassOptions): Promise<PassResult> {
  const dialect = dialectOf(db);
  const tokens: OverdueToken[] = [];
  try {
    const statements = new HeartbeatStatements(dialect, input, await timeKinds(db, dialect, input), options.now);
    if (options.dryRun) {
      const { sql, bindings } = statements.selectAll();
      const rows = rowsOf<TokenRow>(dialect, await db.raw(sql, bindings as Knex.RawBinding[]));
      return { tokens: rows.map((row) => toToken(row, options.now)), stopped: false };
    }
    for (;;) {
      if (options.signal?.aborted) return { tokens, stopped: true };
      const batch =
        dialect === "mysql"
          ? await batchLocked(db, statements, input.batchSize, options)
          : await batchReturning(db, statements, input.batchSize, options);
      tokens.push(...batch);
      if (batch.length > 0) options.onBatch?.(batch);
      // A batch smaller than the limit means the table ran out of overdue tokens (a token a
      // concurrent heartbeat rescued also shortens a batch; anything left is caught next pass).
      if (input.batchSize === undefined || batch.length < input.batchSize) return { tokens, stopped: false };
    }
  } catch (error) {
    if (error instanceof TaskError) throw error;
    throw new TaskError("heartbeats: the pass failed", { cause: error, retryable: isTransientDbError(error) });
  }
}
