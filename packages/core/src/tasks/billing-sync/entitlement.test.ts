import { describe, expect, it } from "vitest";
import { entitlementOf, foldSubscription, type PlanRules, periodOf, planOfPrice, targetOf } from "./entitlement.ts";
import { judgeDowngrades } from "./guard.ts";
import { describeStripeError, keyModeOf, type StripeClient, type StripeSubscriptionLike } from "./stripe-client.ts";

const NOW = Date.UTC(2026, 2, 1);
const DAY_MS = 86_400_000;
const rules: PlanRules = {
  plans: { p_s: "starter", p_p: "pro", p_b: "business" },
  ranks: { starter: 1, pro: 2, business: 3 },
  freePlan: "free",
  pastDueGraceMs: 3 * DAY_MS,
};

function sub(id: string, status: string, prices: string[], startMs = NOW - 10 * DAY_MS, created = startMs / 1000): StripeSubscriptionLike {
  return {
    id,
    customer: "cus_1",
    status,
    created,
    items: {
      data: prices.map((price) => ({
        price: { id: price },
        current_period_start: startMs / 1000,
        current_period_end: startMs / 1000 + 2_592_000,
      })),
    },
  };
}

describe("entitlementOf", () => {
  it.each([
    ["active", "entitled"],
    ["trialing", "entitled"],
    ["canceled", "lapsed"],
    ["unpaid", "lapsed"],
    ["incomplete", "lapsed"],
    ["incomplete_expired", "lapsed"],
    ["paused", "lapsed"],
    ["some_future_status", "unknown"],
  ])("treats %s as %s", (status, expected) => {
    expect(entitlementOf(sub("s", status, ["p_p"]), NOW, rules.pastDueGraceMs)).toBe(expected);
  });

  it("entitles past_due up to the grace boundary from when it became past due, inclusive, and not a millisecond past it", () => {
    const late = sub("s", "past_due", ["p_p"], NOW - 30 * DAY_MS);
    expect(entitlementOf(late, NOW, rules.pastDueGraceMs, NOW - 3 * DAY_MS)).toBe("entitled");
    expect(entitlementOf(late, NOW + 1, rules.pastDueGraceMs, NOW - 3 * DAY_MS)).toBe("lapsed");
    expect(entitlementOf(late, NOW, rules.pastDueGraceMs)).toBe("entitled");
  });

  it("reads the period from the subscription itself on older API versions", () => {
    const old = { ...sub("s", "past_due", []), current_period_start: (NOW - DAY_MS) / 1000, current_period_end: NOW / 1000 };
    expect(periodOf(old)).toEqual({ start: (NOW - DAY_MS) / 1000, end: NOW / 1000 });
  });
});

describe("foldSubscription and targetOf", () => {
  const fold = (subs: StripeSubscriptionLike[], unmapped?: Set<string>) =>
    subs.reduce<ReturnType<typeof foldSubscription> | undefined>(
      (summary, s) => foldSubscription(summary, s, rules, NOW, unmapped),
      undefined,
    );

  it("picks the highest-ranked entitled plan, item by item and subscription by subscription", () => {
    const summary = fold([sub("a", "active", ["p_s"]), sub("b", "canceled", ["p_b"]), sub("c", "trialing", ["p_s", "p_p"])]);
    expect(targetOf(summary, rules, false)).toMatchObject({ target: { plan: "pro", subscriptionId: "c", status: "trialing" } });
  });

  it("breaks a rank tie by the newest subscription", () => {
    const summary = fold([sub("old", "active", ["p_p"], NOW - 20 * DAY_MS), sub("new", "active", ["p_p"], NOW - DAY_MS)]);
    expect(targetOf(summary, rules, false)).toMatchObject({ target: { subscriptionId: "new" } });
  });

  it("moves a customer with only lapsed subscriptions to the free plan, citing the newest", () => {
    const summary = fold([sub("x", "canceled", ["p_b"], NOW - 40 * DAY_MS), sub("y", "unpaid", ["p_p"], NOW - 5 * DAY_MS)]);
    expect(targetOf(summary, rules, false)).toMatchObject({ target: { plan: "free", subscriptionId: "y", status: "unpaid" } });
  });

  it("keeps a customer whose entitled subscription has no mapped price, and collects the price", () => {
    const unmapped = new Set<string>();
    expect(targetOf(fold([sub("t", "active", ["p_typo"])], unmapped), rules, false)).toEqual({ keep: "unmapped" });
    expect([...unmapped]).toEqual(["p_typo"]);
  });

  it("keeps a customer with a mapped plan when any entitled subscription also carries an unmapped price", () => {
    expect(targetOf(fold([sub("m", "active", ["p_s", "p_new"])]), rules, false)).toEqual({ keep: "unmapped" });
    expect(targetOf(fold([sub("a", "active", ["p_p"]), sub("b", "trialing", ["p_new"])]), rules, false)).toEqual({ keep: "unmapped" });
    expect(targetOf(fold([sub("a", "active", ["p_p"]), sub("b", "canceled", ["p_new"])]), rules, false)).toMatchObject({
      target: { plan: "pro" },
    });
  });

  it("keeps a customer with no subscription unless told to downgrade it", () => {
    expect(targetOf(undefined, rules, false)).toEqual({ keep: "missing" });
    expect(targetOf(undefined, rules, true)).toMatchObject({ target: { plan: "free" } });
  });
});

describe("planOfPrice", () => {
  const plans = { price_a: "starter", pro_monthly: "pro", prod_biz: "business" };
  it("maps by price id, then lookup key, then product id, and never by an inherited key", () => {
    expect(planOfPrice({ id: "price_a", lookup_key: "pro_monthly", product: "prod_biz" }, plans)).toBe("starter");
    expect(planOfPrice({ id: "price_b", lookup_key: "pro_monthly", product: "prod_biz" }, plans)).toBe("pro");
    expect(planOfPrice({ id: "price_c", lookup_key: null, product: { id: "prod_biz" } }, plans)).toBe("business");
    expect(planOfPrice({ id: "price_d", lookup_key: "constructor", product: "toString" }, plans)).toBeUndefined();
  });
});

describe("judgeDowngrades", () => {
  it("allows the configured share, at least one, and at most maxDowngrades", () => {
    expect(judgeDowngrades(2, 10, { maxDowngradeShare: 0.2 }, false)).toMatchObject({ allowed: 2, tripped: false });
    expect(judgeDowngrades(3, 10, { maxDowngradeShare: 0.2 }, false)).toMatchObject({ allowed: 2, tripped: true, forced: false });
    expect(judgeDowngrades(1, 3, { maxDowngradeShare: 0.2 }, false)).toMatchObject({ allowed: 1, tripped: false });
    expect(judgeDowngrades(5, 100, { maxDowngradeShare: 0.2, maxDowngrades: 4 }, true)).toMatchObject({
      allowed: 4,
      tripped: true,
      forced: true,
    });
  });
});

describe("Stripe client helpers", () => {
  const list = () => (async function* () {})();

  it("tells the key mode from the client without returning the key", () => {
    const client = (key: string) => ({ subscriptions: { list }, _authenticator: { _apiKey: key } }) as unknown as StripeClient;
    expect(keyModeOf(client("sk_live_abc"))).toBe("live");
    expect(keyModeOf(client("rk_test_abc"))).toBe("test");
    expect(keyModeOf({ subscriptions: { list }, _api: { auth: "Bearer sk_test_abc" } } as unknown as StripeClient)).toBe("test");
    expect(keyModeOf({ subscriptions: { list } })).toBeUndefined();
  });

  it("redacts anything key-shaped from a Stripe error and reads Retry-After", () => {
    const error = Object.assign(new Error("Invalid API Key provided: sk_live_****WXYZ"), {
      type: "StripeRateLimitError",
      statusCode: 429,
      headers: { "retry-after": "2", authorization: "Bearer sk_live_secret" },
    });
    const failure = describeStripeError(error);
    expect(failure).toMatchObject({ type: "StripeRateLimitError", statusCode: 429, retryAfter: 2 });
    expect(JSON.stringify(failure)).not.toMatch(/sk_live|WXYZ|secret/);
  });
});
