import type { Knex } from "knex";
import { dialectOf } from "../../db.ts";
import { TaskError } from "../../errors.ts";
import { detectSqliteTimeForm, lexicalProblem, type SqliteTimeForm, sqliteCutoff, sqliteStoredTime } from "../../sqlite-time.ts";
import type { TargetState } from "./entitlement.ts";
import type { BillingSyncInput } from "./options.ts";

export type AccountColumns = BillingSyncInput["accounts"];
/** The primary key of a row of the host's accounts table, as the driver returned it. */
export type AccountId = string | number;

/** An account with a Stripe customer, as read from the host's table. */
export interface AccountRow {
  id: AccountId;
  customerId: string;
  plan: string | null;
  subscriptionId: string | null;
  status: string | null;
  /** Epoch ms. */
  periodEnd: number | null;
  /** Epoch ms. */
  updatedAt: number | null;
  /** The `neverDowngrade.column` is set on this account. */
  neverDowngrade: boolean;
}

/** One change billing-sync makes (or, in a dry run, would make) to an account. */
export interface AccountChange {
  accountId: AccountId;
  customerId: string;
  kind: "upgrade" | "downgrade" | "update";
  /** The account's state as read; its plan may be NULL. */
  from: Omit<TargetState, "plan"> & { plan: string | null };
  to: TargetState;
}

const READ_PAGE = 1000;

/** Epoch ms of whatever a driver returns for a time column (Date, number, numeric or date string). */
export function toMs(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.getTime();
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "string") {
    if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
    // Text without a zone (Django, Rails, CURRENT_TIMESTAMP on SQLite) is UTC, never the process's zone.
    const naive = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value);
    const parsed = Date.parse(naive ? `${value.replace(" ", "T")}Z` : value);
    return Number.isNaN(parsed) ? null : parsed;
  }
  return null;
}

/** A time in the column's format, for a write or a comparison. */
export function timeValue(ms: number, columns: AccountColumns): Date | number {
  return columns.timeFormat === "epoch-ms" ? ms : new Date(ms);
}

type TimeForms = Partial<Record<"updatedAt" | "currentPeriodEnd", SqliteTimeForm>>;

/**
 * SQLite: the form the written time columns hold, read from their rows (sqlite-time.ts), so a
 * Django or Rails table gets its own text back; a column with no rows yet gets `timeFormat`'s.
 *
 * @throws {TaskError} when a column's rows hold several forms, or a form that does not sort in time order.
 */
async function sqliteTimeForms(db: Knex, columns: AccountColumns): Promise<TimeForms> {
  const forms: TimeForms = {};
  if (dialectOf(db) !== "sqlite") return forms;
  for (const key of ["updatedAt", "currentPeriodEnd"] as const) {
    const column = columns[key];
    if (!column) continue;
    const found = await detectSqliteTimeForm(db, columns.table, column, false);
    if (found === "empty") continue;
    const problem = "problem" in found ? found.problem : key === "updatedAt" ? lexicalProblem(found) : undefined;
    if (problem) throw new TaskError(`billing-sync: column ${columns.table}.${column} ${problem}`, { reason: "ACCOUNTS_TABLE_INVALID" });
    forms[key] = found as SqliteTimeForm;
  }
  return forms;
}

const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

const TRUE_VALUES = new Set<unknown>([true, 1, 1n, "1", "t", "true"]);

/**
 * Reads every account that has a Stripe customer, a page at a time in id order (keyset, so memory
 * per query stays flat). `flagColumn` is read into `neverDowngrade` when given.
 */
export async function* readAccounts(db: Knex, columns: AccountColumns, flagColumn: string | null = null): AsyncGenerator<AccountRow[]> {
  const select: Record<string, string> = {
    id: columns.id,
    customer_id: columns.customerId,
    plan: columns.plan,
    updated_at: columns.updatedAt,
  };
  if (columns.subscriptionId) select.subscription_id = columns.subscriptionId;
  if (columns.status) select.status = columns.status;
  if (columns.currentPeriodEnd) select.period_end = columns.currentPeriodEnd;
  if (flagColumn) select.never_downgrade = flagColumn;
  let after: AccountId | undefined;
  for (;;) {
    const query = db(columns.table).select(select).whereNotNull(columns.customerId).orderBy(columns.id).limit(READ_PAGE);
    if (after !== undefined) query.where(columns.id, ">", after);
    const rows: Array<Record<string, unknown>> = await query;
    if (rows.length === 0) return;
    after = rows[rows.length - 1]?.id as AccountId;
    yield rows
      .filter((row) => text(row.customer_id) !== null && text(row.customer_id) !== "")
      .map((row) => ({
        id: row.id as AccountId,
        customerId: text(row.customer_id) as string,
        plan: text(row.plan),
        subscriptionId: text(row.subscription_id),
        status: text(row.status),
        periodEnd: toMs(row.period_end),
        updatedAt: toMs(row.updated_at),
        neverDowngrade: TRUE_VALUES.has(row.never_downgrade),
      }));
    if (rows.length < READ_PAGE) return;
  }
}

/** Accounts with no Stripe customer: granted by hand, never touched. */
export async function countComped(db: Knex, columns: AccountColumns): Promise<number> {
  const row = await db(columns.table)
    .where((query) => query.whereNull(columns.customerId).orWhere(columns.customerId, ""))
    .count({ n: "*" })
    .first();
  return Number(row?.n ?? 0);
}

/** Whether the account's stored billing fields differ from the target (only the columns kept). */
export function differs(account: AccountRow, target: TargetState, columns: AccountColumns): boolean {
  if (account.plan !== target.plan) return true;
  if (columns.subscriptionId && account.subscriptionId !== target.subscriptionId) return true;
  if (columns.status && account.status !== target.status) return true;
  return Boolean(columns.currentPeriodEnd) && account.periodEnd !== target.periodEnd;
}

/**
 * Applies a batch of changes in one short transaction and returns those that took. Each update is
 * a compare-and-set: it only matches while the account's last-change time is still before `cutoff`
 * (the second the listing started, rounded down) and its plan is still the one the diff read. An
 * account a webhook changed after the listing began therefore fails the match and keeps the
 * webhook's state; the next run looks at it again. Rounding the cutoff down to a whole second keeps
 * this safe for columns that store whole seconds (MySQL DATETIME).
 */
export async function applyChanges(
  db: Knex,
  columns: AccountColumns,
  changes: readonly AccountChange[],
  cutoffMs: number,
  nowMs: number,
  within?: (trx: Knex.Transaction, applied: readonly AccountChange[]) => Promise<void>,
): Promise<AccountChange[]> {
  const forms = await sqliteTimeForms(db, columns);
  const updated = forms.updatedAt;
  const cutoff = updated ? sqliteCutoff(new Date(cutoffMs), updated) : timeValue(cutoffMs, columns);
  const now = updated ? sqliteStoredTime(new Date(nowMs), updated) : timeValue(nowMs, columns);
  const periodEnd = (ms: number) =>
    forms.currentPeriodEnd ? sqliteStoredTime(new Date(ms), forms.currentPeriodEnd) : timeValue(ms, columns);
  return db.transaction(async (trx) => {
    const applied: AccountChange[] = [];
    for (const change of changes) {
      const values: Record<string, unknown> = { [columns.plan]: change.to.plan, [columns.updatedAt]: now };
      if (columns.subscriptionId) values[columns.subscriptionId] = change.to.subscriptionId;
      if (columns.status) values[columns.status] = change.to.status;
      if (columns.currentPeriodEnd) {
        values[columns.currentPeriodEnd] = change.to.periodEnd === null ? null : periodEnd(change.to.periodEnd);
      }
      const query = trx(columns.table)
        .where(columns.id, change.accountId)
        .where((q) => q.whereNull(columns.updatedAt).orWhere(columns.updatedAt, "<", cutoff));
      if (change.from.plan === null) query.whereNull(columns.plan);
      else query.where(columns.plan, change.from.plan);
      const count = await query.update(values);
      if (Number(count) > 0) applied.push(change);
    }
    // What `within` writes (the batch's events) commits with the changes that took, or not at all.
    await within?.(trx, applied);
    return applied;
  });
}
