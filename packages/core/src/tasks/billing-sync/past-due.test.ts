import { describe, expect, it } from "vitest";
import { pastDueFromStripe, pastDueSince } from "./past-due.ts";
import type { StripeInvoiceLike, StripeSubscriptionLike } from "./stripe-client.ts";

const NOW = Date.UTC(2026, 2, 1);
const DAY = 86_400;
const nowS = NOW / 1000;

function pastDue(
  collection: "charge_automatically" | "send_invoice",
  invoice: StripeInvoiceLike | string | null,
  periodStart = nowS - 15 * DAY,
) {
  return {
    id: "sub_1",
    customer: "cus_1",
    status: "past_due",
    collection_method: collection,
    latest_invoice: invoice,
    items: { data: [{ price: { id: "price_pro" }, current_period_start: periodStart, current_period_end: periodStart + 30 * DAY }] },
  } satisfies StripeSubscriptionLike;
}

describe("pastDueFromStripe", () => {
  it("dates an invoiced customer from the latest invoice's due date", () => {
    const sub = pastDue("send_invoice", { id: "in_1", status: "open", due_date: nowS - DAY, created: nowS - 15 * DAY });
    expect(pastDueFromStripe(sub, NOW)).toBe(NOW - DAY * 1000);
  });

  it("dates a charged customer from the failed first attempt at finalization", () => {
    const invoice = {
      id: "in_1",
      status: "open",
      attempt_count: 2,
      created: nowS - 4 * DAY,
      status_transitions: { finalized_at: nowS - 4 * DAY + 3600 },
    };
    expect(pastDueFromStripe(pastDue("charge_automatically", invoice), NOW)).toBe((nowS - 4 * DAY + 3600) * 1000);
  });

  it("dates it from the previous period's invoice when the renewal's invoice is not overdue yet", () => {
    const invoice = { id: "in_2", status: "open", due_date: nowS + 9 * DAY, created: nowS - 5 * DAY };
    const invoiced = { ...pastDue("send_invoice", invoice, nowS - 5 * DAY), days_until_due: 14 };
    expect(pastDueFromStripe(invoiced, NOW)).toBe(NOW - 21 * DAY * 1000);
    const renewal = { id: "in_3", status: "draft", attempt_count: 0, created: nowS - 2 * DAY };
    expect(pastDueFromStripe(pastDue("charge_automatically", renewal, nowS - 2 * DAY), NOW)).toBe(NOW - 32 * DAY * 1000);
  });

  it("cannot tell from an unexpanded invoice", () => {
    expect(pastDueFromStripe(pastDue("send_invoice", "in_1"), NOW)).toBeUndefined();
    expect(pastDueFromStripe(pastDue("send_invoice", null), NOW)).toBeUndefined();
  });
});

describe("pastDueSince", () => {
  it("keeps the earlier of upkeep's first sighting and the invoice's date, and starts at now when it has neither", () => {
    const sub = pastDue("send_invoice", { id: "in_1", status: "open", due_date: nowS - DAY });
    expect(pastDueSince(sub, NOW - 20 * DAY * 1000, NOW)).toBe(NOW - 20 * DAY * 1000);
    expect(pastDueSince(sub, undefined, NOW)).toBe(NOW - DAY * 1000);
    expect(pastDueSince(pastDue("send_invoice", "in_1"), undefined, NOW)).toBe(NOW);
  });
});
