import type { StripePriceLike, StripeSubscriptionLike } from "./stripe-client.ts";

/** What a subscription grants: the plan, or nothing (lapsed), or an answer billing-sync cannot give. */
export type Entitlement = "entitled" | "lapsed" | "unknown";

const ENTITLED = new Set(["active", "trialing"]);
const LAPSED = new Set(["canceled", "unpaid", "incomplete", "incomplete_expired", "paused"]);

/** One subscription reduced to what deciding an account needs. */
export interface SubscriptionFacts {
  id: string;
  status: string;
  /** The highest-ranked plan among its prices, or undefined when none is mapped. */
  plan: string | undefined;
  created: number;
  /** Epoch ms, or null when Stripe gave none. */
  periodEnd: number | null;
}

/** An entitled subscription with prices the plan map does not know. */
export interface PlanMapGap {
  subscriptionId: string;
  priceIds: string[];
}

/** Everything billing-sync keeps of one customer's subscriptions, folded one at a time. */
export interface CustomerSummary {
  /** The entitled subscription with a mapped plan that wins (highest rank, then newest). */
  best: SubscriptionFacts | undefined;
  /** The newest subscription of any status, written to a lapsed account. */
  latest: SubscriptionFacts;
  /** Entitled subscriptions carrying a price the plan map does not know (a map gap): the account is kept. */
  gaps: PlanMapGap[];
  /** A status billing-sync does not know: the account is kept. */
  unknownStatus: boolean;
}

export interface PlanRules {
  /** Price ids, price lookup keys and product ids, each mapped to a plan name. */
  plans: Record<string, string>;
  ranks: Record<string, number>;
  freePlan: string;
  pastDueGraceMs: number;
}

/** A plan's rank: the free plan is below every other, unranked plans are 0. */
export function rankOf(plan: string | null | undefined, rules: PlanRules): number {
  if (plan === null || plan === undefined || plan === rules.freePlan) return Number.NEGATIVE_INFINITY;
  return rules.ranks[plan] ?? 0;
}

function maxOf(values: Array<number | undefined>): number | undefined {
  let best: number | undefined;
  for (const value of values) if (typeof value === "number" && (best === undefined || value > best)) best = value;
  return best;
}

/** Epoch seconds of the current period's start and end: on the subscription (older API versions) or its items. */
export function periodOf(sub: StripeSubscriptionLike): { start: number | undefined; end: number | undefined } {
  return {
    start: sub.current_period_start ?? maxOf(sub.items.data.map((item) => item.current_period_start)),
    end: sub.current_period_end ?? maxOf(sub.items.data.map((item) => item.current_period_end)),
  };
}

/**
 * Whether a subscription grants its plan at `now`: `active` and `trialing` do; `past_due` does for
 * `pastDueGraceMs` from the moment it became past due (`pastDueSinceMs`, see past-due.ts; now when
 * not given), inclusive; `canceled`, `unpaid`, `incomplete`, `incomplete_expired` and `paused` do not.
 */
export function entitlementOf(sub: StripeSubscriptionLike, now: number, pastDueGraceMs: number, pastDueSinceMs?: number): Entitlement {
  if (ENTITLED.has(sub.status)) return "entitled";
  if (LAPSED.has(sub.status)) return "lapsed";
  if (sub.status !== "past_due") return "unknown";
  return now - (pastDueSinceMs ?? now) <= pastDueGraceMs ? "entitled" : "lapsed";
}

const own = (plans: Record<string, string>, key: string | null | undefined) => (key && Object.hasOwn(plans, key) ? plans[key] : undefined);

/**
 * The plan of one price: mapped by its id first, then by its lookup key, then by its product's id
 * (so one entry for a product covers each of its prices, and a lookup key follows a price that
 * Stripe replaced by a new id).
 */
export function planOfPrice(price: StripePriceLike, plans: Record<string, string>): string | undefined {
  const product = typeof price.product === "string" ? price.product : price.product?.id;
  return own(plans, price.id) ?? own(plans, price.lookup_key) ?? own(plans, product);
}

/** The highest-ranked plan among a subscription's prices, and the price ids that map to no plan. */
export function planOf(sub: StripeSubscriptionLike, rules: PlanRules): { plan: string | undefined; unmapped: string[] } {
  let plan: string | undefined;
  const unmapped: string[] = [];
  for (const item of sub.items.data) {
    const price = item.price;
    if (!price?.id) continue;
    const mapped = planOfPrice(price, rules.plans);
    if (mapped === undefined) {
      unmapped.push(price.id);
      continue;
    }
    if (plan === undefined || rankOf(mapped, rules) > rankOf(plan, rules)) plan = mapped;
  }
  return { plan, unmapped };
}

const newer = (a: SubscriptionFacts, b: SubscriptionFacts) => a.created > b.created || (a.created === b.created && a.id > b.id);

/** Folds one more subscription of a customer into its summary. */
export function foldSubscription(
  summary: CustomerSummary | undefined,
  sub: StripeSubscriptionLike,
  rules: PlanRules,
  now: number,
  unmapped?: Set<string>,
  pastDueSinceMs?: number,
): CustomerSummary {
  const end = periodOf(sub).end;
  const prices = planOf(sub, rules);
  for (const priceId of prices.unmapped) unmapped?.add(priceId);
  const facts: SubscriptionFacts = {
    id: sub.id,
    status: sub.status,
    plan: prices.plan,
    created: sub.created ?? 0,
    periodEnd: end === undefined ? null : end * 1000,
  };
  const entitlement = entitlementOf(sub, now, rules.pastDueGraceMs, pastDueSinceMs);
  const next: CustomerSummary = summary ?? { best: undefined, latest: facts, gaps: [], unknownStatus: false };
  if (summary && newer(facts, summary.latest)) next.latest = facts;
  if (entitlement === "unknown") next.unknownStatus = true;
  if (entitlement === "entitled") {
    if (prices.unmapped.length > 0) next.gaps.push({ subscriptionId: sub.id, priceIds: prices.unmapped });
    if (facts.plan === undefined) return next;
    if (
      next.best === undefined ||
      rankOf(facts.plan, rules) > rankOf(next.best.plan, rules) ||
      (rankOf(facts.plan, rules) === rankOf(next.best.plan, rules) && newer(facts, next.best))
    ) {
      next.best = facts;
    }
  }
  return next;
}

/** The billing state an account should have. */
export interface TargetState {
  plan: string;
  subscriptionId: string | null;
  status: string | null;
  periodEnd: number | null;
}

/** Why an account is left as it is although billing-sync cannot confirm it. */
export type KeepReason = "missing" | "unmapped";

/**
 * The state an account should have from its customer's summary, or why it is kept: a customer with
 * no subscription at all (`missing`, unless `downgradeMissing`), or one with any entitled
 * subscription carrying a price the plan map does not know, or only subscriptions of statuses
 * billing-sync does not know (`unmapped`). A map gap never moves a payer to a lower plan.
 */
export function targetOf(
  summary: CustomerSummary | undefined,
  rules: PlanRules,
  downgradeMissing: boolean,
): { target: TargetState } | { keep: KeepReason } {
  if (!summary) {
    if (!downgradeMissing) return { keep: "missing" };
    return { target: { plan: rules.freePlan, subscriptionId: null, status: null, periodEnd: null } };
  }
  if (summary.gaps.length > 0) return { keep: "unmapped" };
  const best = summary.best;
  if (best) return { target: { plan: best.plan as string, subscriptionId: best.id, status: best.status, periodEnd: best.periodEnd } };
  if (summary.unknownStatus) return { keep: "unmapped" };
  const latest = summary.latest;
  return { target: { plan: rules.freePlan, subscriptionId: latest.id, status: latest.status, periodEnd: latest.periodEnd } };
}
