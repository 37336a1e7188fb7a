import type { Knex } from "knex";
import type { TargetState } from "./entitlement.ts";
import type { BillingSyncInput } from "./options.ts";

export type AccountColumns = BillingSyncInput["accounts"];
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
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? null : parsed;
  }
  return null;
}

/** A time in the column's format, for a write or a comparison. */
export function timeValue(ms: number, columns: AccountColumns): Date | number {
  return columns.timeFormat === "epoch-ms" ? ms : new Date(ms);
}

const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

/** Reads every account that has a Stripe customer, a page at a time in id order (keyset, so memory per query stays flat). */
export async function* readAccounts(db: Knex, columns: AccountColumns): AsyncGenerator<AccountRow[]> {
  const select: Record<string, string> = {
    id: columns.id,
    customer_id: columns.customerId,
    plan: columns.plan,
    updated_at: columns.updatedAt,
  };
  if (columns.subscriptionId) select.subscription_id = columns.subscriptionId;
  if (columns.status) select.status = columns.status;
  if (columns.currentPeriodEnd) select.period_end = columns.currentPeriodEnd;
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
): Promise<AccountChange[]> {
  const cutoff = timeValue(cutoffMs, columns);
  const now = timeValue(nowMs, columns);
  return db.transaction(async (trx) => {
    const applied: AccountChange[] = [];
    for (const change of changes) {
      const values: Record<string, unknown> = { [columns.plan]: change.to.plan, [columns.updatedAt]: now };
      if (columns.subscriptionId) values[columns.subscriptionId] = change.to.subscriptionId;
      if (columns.status) values[columns.status] = change.to.status;
      if (columns.currentPeriodEnd) {
        values[columns.currentPeriodEnd] = change.to.periodEnd === null ? null : timeValue(change.to.periodEnd, columns);
      }
      const query = trx(columns.table)
        .where(columns.id, change.accountId)
        .where((q) => q.whereNull(columns.updatedAt).orWhere(columns.updatedAt, "<", cutoff));
      if (change.from.plan === null) query.whereNull(columns.plan);
      else query.where(columns.plan, change.from.plan);
      const count = await query.update(values);
      if (Number(count) > 0) applied.push(change);
    }
    return applied;
  });
}
