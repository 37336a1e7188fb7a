import type { SqlDialect } from "../../db.ts";
import type { HeartbeatsInput } from "./options.ts";
import { type Fragment, TIME_SQL, type TimeKind, type TimeSql } from "./time-sql.ts";

/** The time columns whose types decide the SQL. */
export interface TimeKinds {
  lastHeartbeatAt: TimeKind;
  createdAt: TimeKind;
  suspendedAt: TimeKind;
  expiresAt?: TimeKind;
}

/** One token a statement matched, as the driver returns it. */
export interface TokenRow {
  id: string | number;
  /** Present only when `columns.expiresAt` is configured. */
  expired?: number | string | boolean;
  last_ms: number | string | null;
  /** Only when `last_ms` is null: the deadline then counts from creation. */
  created_ms: number | string | null;
  every: number | string;
}

const join = (parts: Fragment[], separator: string): Fragment => ({
  sql: parts.map((part) => part.sql).join(separator),
  bindings: parts.flatMap((part) => part.bindings),
});

/**
 * The statements of one pass at one moment. Every statement that changes rows carries the whole
 * overdue condition in its own WHERE clause, so it acts on each row as it is when the row is
 * written, not as it was when the pass started.
 */
export class HeartbeatStatements {
  readonly dialect: SqlDialect;
  readonly #time: TimeSql;
  readonly #input: HeartbeatsInput;
  readonly #kinds: TimeKinds;
  readonly #now: Date;
  readonly #q: Record<keyof HeartbeatsInput["columns"] | "table", string>;

  constructor(dialect: SqlDialect, input: HeartbeatsInput, kinds: TimeKinds, now: Date) {
    this.dialect = dialect;
    this.#time = TIME_SQL[dialect];
    this.#input = input;
    this.#kinds = kinds;
    this.#now = now;
    const q = this.#time.quote;
    const { columns } = input;
    this.#q = {
      table: q(input.table),
      id: q(columns.id),
      status: q(columns.status),
      heartbeatRequiredEvery: q(columns.heartbeatRequiredEvery),
      lastHeartbeatAt: q(columns.lastHeartbeatAt),
      createdAt: q(columns.createdAt),
      suspendedAt: q(columns.suspendedAt),
      suspendedReason: q(columns.suspendedReason),
      expiresAt: columns.expiresAt ? q(columns.expiresAt) : "",
    };
  }

  get table(): string {
    return this.#q.table;
  }

  get id(): string {
    return this.#q.id;
  }

  #base(): string {
    const t = this.#time;
    return `coalesce(${t.instant(this.#q.lastHeartbeatAt, this.#kinds.lastHeartbeatAt)}, ${t.instant(this.#q.createdAt, this.#kinds.createdAt)})`;
  }

  /**
   * ACTIVE, requires a heartbeat (`period > 0` is false for null), and `now - grace > base + period`
   * (strictly: exactly at the deadline is on time).
   */
  overdue(): Fragment {
    const q = this.#q;
    const cutoff = this.#time.at(new Date(this.#now.getTime() - this.#input.grace));
    const due = this.#time.plusSeconds(this.#base(), q.heartbeatRequiredEvery);
    const late = this.dialect === "sqlite" ? this.#sqliteLate(due, cutoff) : { sql: `${due} < ${cutoff.sql}`, bindings: cutoff.bindings };
    return {
      sql: `${q.status} = ? AND ${q.heartbeatRequiredEvery} > 0 AND ${late.sql}`,
      bindings: [this.#input.statuses.active, ...late.bindings],
    };
  }

  /**
   * SQLite reads each row by its storage class, and the conversion (`typeof`, then `julianday` for
   * text) costs a third of the statement when run on every row. Rows stored as epoch ms, nearly all
   * of them, are compared as stored, as a human would write it: `stored < cutoff - period`. SQLite
   * orders every number before any text or blob, so that test is false for text, and only rows whose
   * stored value is text or blob (`>= ''`) take the converting comparison. Same verdict for every row.
   * Integers in epoch seconds compare with the bound in seconds; when the two columns' integers are
   * in different units, every row takes the converting comparison.
   */
  #sqliteLate(due: string, cutoff: Fragment): Fragment {
    const q = this.#q;
    const { lastHeartbeatAt: last, createdAt: created } = this.#kinds;
    const unit = typeof last === "object" && typeof created === "object" && last.integers === created.integers ? last.integers : undefined;
    if (!unit) return { sql: `${due} < ${cutoff.sql}`, bindings: cutoff.bindings };
    const stored = `coalesce(${q.lastHeartbeatAt}, ${q.createdAt})`;
    const bound = `${cutoff.sql} - ${q.heartbeatRequiredEvery} * 1000`;
    return {
      sql: `(${stored} < ${unit === "epoch_s" ? `(${bound}) / 1000.0` : bound} OR (${stored} >= '' AND ${due} < ${cutoff.sql}))`,
      bindings: [...cutoff.bindings, ...cutoff.bindings],
    };
  }

  /** 1 when the token is past its expiry (when that column is configured), else 0. */
  #expired(): Fragment {
    const kind = this.#kinds.expiresAt;
    if (!kind) return { sql: "0", bindings: [] };
    const now = this.#time.at(this.#now);
    return {
      sql: `CASE WHEN ${this.#q.expiresAt} IS NOT NULL AND ${this.#time.instant(this.#q.expiresAt, kind)} <= ${now.sql} THEN 1 ELSE 0 END`,
      bindings: now.bindings,
    };
  }

  /**
   * What every statement reports per token (`TokenRow`), as select-list or RETURNING expressions:
   * only what the result and the events use, and `expired` only when there is an expiry column.
   */
  report(): Fragment {
    const t = this.#time;
    const q = this.#q;
    const expired = this.#kinds.expiresAt ? this.#expired() : undefined;
    return {
      sql:
        `${q.id} AS id, ${expired ? `${expired.sql} AS expired, ` : ""}` +
        `${t.epochMs(t.instant(q.lastHeartbeatAt, this.#kinds.lastHeartbeatAt))} AS last_ms, ` +
        `CASE WHEN ${q.lastHeartbeatAt} IS NULL THEN ${t.epochMs(t.instant(q.createdAt, this.#kinds.createdAt))} END AS created_ms, ` +
        `${q.heartbeatRequiredEvery} AS every`,
      bindings: expired?.bindings ?? [],
    };
  }

  /**
   * The SET list: SUSPENDED with reason and time, or EXPIRED (status only) for a token past its
   * expiry. Only `expires_at` is read here, never a column being set, because MySQL evaluates SET
   * items left to right against the already-updated row.
   */
  set(): Fragment {
    const q = this.#q;
    const { statuses, reason } = this.#input;
    const now = this.#time.write(this.#kinds.suspendedAt, this.#now);
    if (!this.#kinds.expiresAt) {
      return {
        sql: `${q.status} = ?, ${q.suspendedAt} = ${now.sql}, ${q.suspendedReason} = ?`,
        bindings: [statuses.suspended, ...now.bindings, reason],
      };
    }
    const expired = this.#expired();
    const when = (then: Fragment, otherwise: Fragment): Fragment => ({
      sql: `CASE WHEN ${expired.sql} = 1 THEN ${then.sql} ELSE ${otherwise.sql} END`,
      bindings: [...expired.bindings, ...then.bindings, ...otherwise.bindings],
    });
    const keep = (quoted: string): Fragment => ({ sql: quoted, bindings: [] });
    const value = (binding: unknown): Fragment => ({ sql: "?", bindings: [binding] });
    const status = when(value(statuses.expired), value(statuses.suspended));
    const at = when(keep(q.suspendedAt), now);
    const why = when(keep(q.suspendedReason), value(reason));
    return join(
      [
        { sql: `${q.status} = ${status.sql}`, bindings: status.bindings },
        { sql: `${q.suspendedAt} = ${at.sql}`, bindings: at.bindings },
        { sql: `${q.suspendedReason} = ${why.sql}`, bindings: why.bindings },
      ],
      ", ",
    );
  }

  /** Every overdue token, changing nothing (dry run). */
  selectAll(): Fragment {
    const report = this.report();
    const overdue = this.overdue();
    return {
      sql: `SELECT ${report.sql} FROM ${this.#q.table} WHERE ${overdue.sql} ORDER BY ${this.#q.id}`,
      bindings: [...report.bindings, ...overdue.bindings],
    };
  }

  /**
   * PostgreSQL and SQLite: one statement suspends the overdue tokens (up to `limit` of them, picked
   * by a subquery, when batching) re-checking the condition on each row it writes, and returns what
   * it changed. On PostgreSQL
   * a row changed by a concurrent heartbeat or pass after the subquery read it is re-read before
   * the write (READ COMMITTED re-evaluates the WHERE on the newest version), so it is skipped.
   */
  updateReturning(limit: number | undefined): Fragment {
    const q = this.#q;
    const set = this.set();
    const overdue = this.overdue();
    const report = this.report();
    if (limit === undefined) {
      return {
        sql: `UPDATE ${q.table} SET ${set.sql} WHERE ${overdue.sql} RETURNING ${report.sql}`,
        bindings: [...set.bindings, ...overdue.bindings, ...report.bindings],
      };
    }
    return {
      sql:
        `UPDATE ${q.table} SET ${set.sql} WHERE ${q.id} IN (SELECT ${q.id} FROM ${q.table} WHERE ${overdue.sql} LIMIT ?) ` +
        `AND ${overdue.sql} RETURNING ${report.sql}`,
      bindings: [...set.bindings, ...overdue.bindings, limit, ...overdue.bindings, ...report.bindings],
    };
  }

  /** MariaDB/MySQL step 1: lock up to `limit` overdue tokens, in id order so concurrent passes queue instead of deadlocking. */
  selectForUpdate(limit: number | undefined): Fragment {
    const report = this.report();
    const overdue = this.overdue();
    const limited = limit === undefined ? "" : " LIMIT ?";
    return {
      sql: `SELECT ${report.sql} FROM ${this.#q.table} WHERE ${overdue.sql} ORDER BY ${this.#q.id}${limited} FOR UPDATE`,
      bindings: [...report.bindings, ...overdue.bindings, ...(limit === undefined ? [] : [limit])],
    };
  }

  /** MariaDB/MySQL step 2: suspend the locked ids, the overdue condition re-checked. */
  updateByIds(ids: ReadonlyArray<string | number>): Fragment {
    const set = this.set();
    const overdue = this.overdue();
    return {
      sql: `UPDATE ${this.#q.table} SET ${set.sql} WHERE ${this.#q.id} IN (${ids.map(() => "?").join(", ")}) AND ${overdue.sql}`,
      bindings: [...set.bindings, ...ids, ...overdue.bindings],
    };
  }

  /** MariaDB/MySQL: which of these ids this transaction changed (they are still locked by it). */
  changedAmong(ids: ReadonlyArray<string | number>): Fragment {
    return {
      sql: `SELECT ${this.#q.id} AS id FROM ${this.#q.table} WHERE ${this.#q.id} IN (${ids.map(() => "?").join(", ")}) AND ${this.#q.status} <> ?`,
      bindings: [...ids, this.#input.statuses.active],
    };
  }
}
