import type { InvoiceFixture, PriceFixture, SubscriptionFixture } from "./stripe-objects.ts";

const HOUR = 3600;
const DAY = 86_400;

/** What every scenario takes: the subscription's id, its customer and its prices. */
export interface ScenarioBase {
  /** The subscription id (`sub_…`). */
  id: string;
  /** The customer id (`cus_…`). */
  customer: string;
  /** One subscription item per price. @default ["price_pro"] */
  prices?: Array<string | PriceFixture>;
  /** The current period's length, in days. @default 30 */
  periodDays?: number;
}

/** Who pays how: charged automatically (card), or invoiced with net days. */
export interface Collection {
  /** How the customer pays: charged automatically (card), or invoiced. @default "charge_automatically" */
  collection?: "charge_automatically" | "send_invoice";
  /** Net days of an invoiced customer. @default 30 */
  netDays?: number;
}

/** Subscription lifecycles at a moment `now`, as Stripe would list them then. */
export interface StripeScenarios {
  /** Paid and renewing; `daysIntoPeriod` into its current period. */
  active(base: ScenarioBase & Collection & { daysIntoPeriod?: number }): SubscriptionFixture;
  /** In its trial, which ends in `trialEndsInDays`. */
  trialing(base: ScenarioBase & { trialEndsInDays: number; trialDays?: number }): SubscriptionFixture;
  /**
   * A trial that ended `trialEndedDaysAgo`: `paid` turns it `active`; unpaid leaves it `past_due`
   * with the conversion invoice open since the trial's end.
   */
  trialConverting(base: ScenarioBase & Collection & { trialEndedDaysAgo: number; paid: boolean }): SubscriptionFixture;
  /**
   * `past_due`: the invoice that made it so fell overdue `daysLate` days ago (an invoiced customer's
   * due date, or a card's first failed charge). When that is longer ago than a period, Stripe has
   * renewed the subscription meanwhile and its latest invoice is the renewal's.
   */
  pastDue(base: ScenarioBase & Collection & { daysLate: number }): SubscriptionFixture;
  /** `unpaid`: retries exhausted `daysLate` days after the first failure. */
  unpaid(base: ScenarioBase & Collection & { daysLate: number }): SubscriptionFixture;
  /** Active, but set to cancel at the end of its period, in `endsInDays`. */
  cancelAtPeriodEnd(base: ScenarioBase & Collection & { endsInDays: number }): SubscriptionFixture;
  /** Active with collection paused (`pause_collection`), resuming in `resumesInDays` or never. */
  pausedCollection(
    base: ScenarioBase & { behavior?: "keep_as_draft" | "mark_uncollectible" | "void"; resumesInDays?: number | null },
  ): SubscriptionFixture;
  /** `paused`: a trial that ended `trialEndedDaysAgo` with no payment method, set to pause. */
  paused(base: ScenarioBase & { trialEndedDaysAgo: number }): SubscriptionFixture;
  /** `canceled` `endedDaysAgo`. */
  canceled(base: ScenarioBase & Collection & { endedDaysAgo: number }): SubscriptionFixture;
  /** `incomplete`: created `hoursAgo` (under 23) and its first payment failed. */
  incomplete(base: ScenarioBase & Collection & { hoursAgo: number }): SubscriptionFixture;
  /** `incomplete_expired`: created `daysAgo` and never paid within 23 hours. */
  incompleteExpired(base: ScenarioBase & { daysAgo: number }): SubscriptionFixture;
}

/**
 * A builder of realistic subscription lifecycles at `now` (a Date or epoch ms), for the testkit's
 * Stripe server: each returns a fixture whose periods, trial, cancellation, collection settings and
 * latest invoice agree with one another the way Stripe's do.
 *
 * ```ts
 * const at = stripeScenarios(new Date("2026-03-01T02:00:00Z"));
 * server.setSubscriptions([at.pastDue({ id: "sub_1", customer: "cus_1", collection: "send_invoice", netDays: 14, daysLate: 20 })]);
 * ```
 */
export function stripeScenarios(now: Date | number): StripeScenarios {
  const nowS = Math.floor((typeof now === "number" ? now : now.getTime()) / 1000);
  const period = (base: ScenarioBase) => (base.periodDays ?? 30) * DAY;
  const prices = (base: ScenarioBase) => base.prices ?? ["price_pro"];
  const invoiceId = (base: ScenarioBase, n: number) => `in_${base.id.replace(/^sub_/, "")}_${n}`;

  function fixture(base: ScenarioBase & Collection, rest: Omit<SubscriptionFixture, "id" | "customer" | "prices">): SubscriptionFixture {
    const invoiced = base.collection === "send_invoice";
    return {
      id: base.id,
      customer: base.customer,
      prices: prices(base),
      collectionMethod: invoiced ? "send_invoice" : "charge_automatically",
      daysUntilDue: invoiced ? (base.netDays ?? 30) : null,
      ...rest,
    };
  }

  /** The invoice of the period starting at `start`, finalized an hour later. */
  function invoice(base: ScenarioBase & Collection, n: number, start: number, state: Partial<InvoiceFixture>): InvoiceFixture {
    const invoiced = base.collection === "send_invoice";
    return {
      id: invoiceId(base, n),
      status: "open",
      created: start,
      finalizedAt: start + HOUR,
      dueDate: invoiced ? start + HOUR + (base.netDays ?? 30) * DAY : null,
      attemptCount: invoiced ? 0 : 1,
      periodStart: start,
      periodEnd: start + period(base),
      ...state,
    };
  }

  /** The current period's start when periods of this length started at `first`. */
  const currentStart = (base: ScenarioBase, first: number) => first + Math.max(0, Math.floor((nowS - first) / period(base))) * period(base);

  /** Since when an invoice of the period starting at `start` is overdue: its due date, or its first charge. */
  const overdueOffset = (base: ScenarioBase & Collection) => HOUR + (base.collection === "send_invoice" ? (base.netDays ?? 30) * DAY : 0);

  function late(base: ScenarioBase & Collection, daysLate: number, status: "past_due" | "unpaid"): SubscriptionFixture {
    const firstStart = nowS - daysLate * DAY - overdueOffset(base);
    const start = currentStart(base, firstStart);
    const renewals = Math.round((start - firstStart) / period(base));
    const charged = base.collection !== "send_invoice";
    const latest = invoice(base, renewals + 1, start, {
      attemptCount: charged ? (status === "unpaid" ? 4 : Math.min(3, 1 + Math.floor(daysLate / 3))) : 0,
      nextPaymentAttempt: charged && status === "past_due" ? nowS + 2 * DAY : null,
    });
    return fixture(base, {
      status,
      created: firstStart - 2 * period(base),
      currentPeriodStart: start,
      currentPeriodEnd: start + period(base),
      latestInvoice: latest,
    });
  }

  /** A subscription whose first invoice, created with it, was never paid; after 23 hours Stripe expires it. */
  function firstInvoiceFailed(base: ScenarioBase & Collection, created: number, expired: boolean): SubscriptionFixture {
    const expiry = created + 23 * HOUR;
    return fixture(base, {
      status: expired ? "incomplete_expired" : "incomplete",
      created,
      currentPeriodStart: created,
      currentPeriodEnd: created + period(base),
      ...(expired ? { endedAt: expiry, canceledAt: expiry } : {}),
      latestInvoice: invoice(base, 1, created, {
        billingReason: "subscription_create",
        finalizedAt: created,
        ...(expired ? { status: "void", voidedAt: expiry } : {}),
      }),
    });
  }

  return {
    active(base) {
      const start = nowS - (base.daysIntoPeriod ?? 10) * DAY;
      return fixture(base, {
        status: "active",
        created: start - 2 * period(base),
        currentPeriodStart: start,
        currentPeriodEnd: start + period(base),
        latestInvoice: invoice(base, 3, start, { status: "paid", paidAt: start + HOUR }),
      });
    },
    trialing(base) {
      const trialEnd = nowS + base.trialEndsInDays * DAY;
      const trialStart = trialEnd - (base.trialDays ?? 14) * DAY;
      return fixture(base, {
        status: "trialing",
        created: trialStart,
        currentPeriodStart: trialStart,
        currentPeriodEnd: trialEnd,
        trialStart,
        trialEnd,
        latestInvoice: invoice(base, 1, trialStart, {
          status: "paid",
          amountDue: 0,
          billingReason: "subscription_create",
          paidAt: trialStart,
          attemptCount: 0,
          dueDate: null,
          periodEnd: trialEnd,
        }),
      });
    },
    trialConverting(base) {
      const trialEnd = nowS - base.trialEndedDaysAgo * DAY;
      const trialStart = trialEnd - 14 * DAY;
      const start = currentStart(base, trialEnd);
      const conversion = base.paid
        ? invoice(base, 2, start, { status: "paid", paidAt: start + HOUR })
        : invoice(base, 2, trialEnd, { finalizedAt: trialEnd });
      // An invoiced customer is past due only once the conversion invoice's due date has passed.
      const overdue = !base.paid && (conversion.dueDate ?? trialEnd) <= nowS;
      return fixture(base, {
        status: overdue ? "past_due" : "active",
        created: trialStart,
        currentPeriodStart: start,
        currentPeriodEnd: start + period(base),
        trialStart,
        trialEnd,
        latestInvoice: conversion,
      });
    },
    pastDue: (base) => late(base, base.daysLate, "past_due"),
    unpaid: (base) => late(base, base.daysLate, "unpaid"),
    cancelAtPeriodEnd(base) {
      const end = nowS + base.endsInDays * DAY;
      const start = end - period(base);
      return fixture(base, {
        status: "active",
        created: start - period(base),
        currentPeriodStart: start,
        currentPeriodEnd: end,
        cancelAtPeriodEnd: true,
        cancelAt: end,
        canceledAt: start + DAY,
        latestInvoice: invoice(base, 2, start, { status: "paid", paidAt: start + HOUR }),
      });
    },
    pausedCollection(base) {
      const start = nowS - 10 * DAY;
      const resumes = base.resumesInDays === undefined || base.resumesInDays === null ? null : nowS + base.resumesInDays * DAY;
      const behavior = base.behavior ?? "void";
      return fixture(base, {
        status: "active",
        created: start - period(base),
        currentPeriodStart: start,
        currentPeriodEnd: start + period(base),
        pauseCollection: { behavior, resumesAt: resumes },
        latestInvoice: invoice(base, 2, start, {
          status: behavior === "void" ? "void" : behavior === "keep_as_draft" ? "draft" : "uncollectible",
          finalizedAt: behavior === "keep_as_draft" ? null : start + HOUR,
          attemptCount: 0,
          voidedAt: behavior === "void" ? start + HOUR : null,
          markedUncollectibleAt: behavior === "mark_uncollectible" ? start + HOUR : null,
        }),
      });
    },
    paused(base) {
      const trialEnd = nowS - base.trialEndedDaysAgo * DAY;
      return fixture(base, {
        status: "paused",
        created: trialEnd - 14 * DAY,
        currentPeriodStart: trialEnd,
        currentPeriodEnd: trialEnd + period(base),
        trialStart: trialEnd - 14 * DAY,
        trialEnd,
        latestInvoice: null,
      });
    },
    canceled(base) {
      const ended = nowS - base.endedDaysAgo * DAY;
      const start = ended - period(base);
      return fixture(base, {
        status: "canceled",
        created: start - 3 * period(base),
        currentPeriodStart: start,
        currentPeriodEnd: ended,
        canceledAt: ended,
        endedAt: ended,
        latestInvoice: invoice(base, 4, start, { status: "paid", paidAt: start + HOUR }),
      });
    },
    incomplete: (base) => firstInvoiceFailed(base, nowS - base.hoursAgo * HOUR, false),
    incompleteExpired: (base) => firstInvoiceFailed(base, nowS - base.daysAgo * DAY, true),
  };
}
