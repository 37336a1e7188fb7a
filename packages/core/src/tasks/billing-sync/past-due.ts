import type { Knex } from "knex";
import { periodOf } from "./entitlement.ts";
import type { StripeInvoiceLike, StripeSubscriptionLike } from "./stripe-client.ts";

/** The upkeep table that remembers since when each subscription has been `past_due`. */
export const pastDueTable = (prefix: string) => `${prefix}billing_past_due`;

const WRITE_CHUNK = 200;
const DAY = 86_400;

/**
 * When the invoice fell overdue, in epoch ms: its `due_date` when it is sent for payment
 * (`send_invoice`), its first failed charge (the finalization, where Stripe makes the first
 * attempt) when charged automatically. Undefined for an invoice that is paid, void, a draft, or
 * not attempted yet.
 */
function overdueAt(invoice: StripeInvoiceLike, collectionMethod: string | null | undefined): number | undefined {
  if (invoice.status !== "open" && invoice.status !== "uncollectible") return undefined;
  if (collectionMethod === "send_invoice") return typeof invoice.due_date === "number" ? invoice.due_date * 1000 : undefined;
  if ((invoice.attempt_count ?? 0) < 1) return undefined;
  const at = invoice.status_transitions?.finalized_at ?? invoice.created;
  return typeof at === "number" ? at * 1000 : undefined;
}

/**
 * Since when a `past_due` subscription has been past due, by Stripe's own data (epoch ms), or
 * undefined when the latest invoice is not expanded. When the latest invoice fell overdue, that
 * moment. When it did not (a renewal's invoice not yet due or not yet attempted, while the
 * subscription is already past due), the previous period's invoice is the unpaid one: it fell
 * overdue when the previous period started (a period's length before the current one), plus the
 * subscription's `days_until_due` when it is invoiced.
 */
export function pastDueFromStripe(sub: StripeSubscriptionLike, nowMs: number): number | undefined {
  const invoice = typeof sub.latest_invoice === "object" && sub.latest_invoice !== null ? sub.latest_invoice : undefined;
  if (!invoice) return undefined;
  const at = overdueAt(invoice, sub.collection_method);
  if (at !== undefined && at <= nowMs) return at;
  const { start, end } = periodOf(sub);
  if (start === undefined || end === undefined) return undefined;
  const net = sub.collection_method === "send_invoice" ? (sub.days_until_due ?? 0) * DAY : 0;
  return Math.min((start - (end - start) + net) * 1000, nowMs);
}

/**
 * Since when a `past_due` subscription counts as past due: the earlier of the first time upkeep saw
 * it past due (`recorded`, else now) and what its latest invoice says. A renewal never moves it
 * later, so an unpaid subscription is never re-entitled by a new period.
 */
export function pastDueSince(sub: StripeSubscriptionLike, recorded: number | undefined, nowMs: number): number {
  const fromStripe = pastDueFromStripe(sub, nowMs);
  const seen = recorded ?? nowMs;
  return fromStripe === undefined ? seen : Math.min(seen, fromStripe);
}

/** Every recorded past-due start, by subscription id (epoch ms). */
export async function loadPastDue(db: Knex, table: string): Promise<Map<string, number>> {
  const rows: Array<{ subscription_id: string; since: unknown }> = await db(table).select("subscription_id", "since");
  return new Map(rows.map((row) => [row.subscription_id, Number(row.since)]));
}

/**
 * Records the past-due starts of this listing and forgets the subscriptions that are no longer past
 * due (paid, or ended), in one transaction: a later past-due spell starts afresh.
 */
export async function savePastDue(
  db: Knex,
  table: string,
  pastDue: ReadonlyMap<string, number>,
  cleared: readonly string[],
  nowMs: number,
): Promise<void> {
  if (pastDue.size === 0 && cleared.length === 0) return;
  const rows = [...pastDue].map(([subscriptionId, since]) => ({ subscription_id: subscriptionId, since, seen_at: nowMs }));
  await db.transaction(async (trx) => {
    for (let start = 0; start < rows.length; start += WRITE_CHUNK) {
      await trx(table)
        .insert(rows.slice(start, start + WRITE_CHUNK))
        .onConflict("subscription_id")
        .merge(["since", "seen_at"]);
    }
    for (let start = 0; start < cleared.length; start += WRITE_CHUNK) {
      await trx(table)
        .whereIn("subscription_id", cleared.slice(start, start + WRITE_CHUNK))
        .delete();
    }
  });
}
