import { readFileSync } from "node:fs";
import Stripe from "stripe";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { stripeScenarios } from "./stripe-scenarios.ts";
import { type StripeServer, startStripeServer } from "./stripe-server.ts";

/** Stripe's published example objects (stripe/openapi fixtures3.json; see the file's `_source`). */
const published = JSON.parse(readFileSync(new URL("./fixtures/stripe-published-objects.fixture.json", import.meta.url), "utf8"))
  .resources as Record<string, Record<string, unknown>>;
const keysOf = (value: unknown) => Object.keys(value as object).sort();
const publishedKeys = (name: string) => keysOf(published[name]);

const T0 = new Date("2026-03-01T02:00:00Z");
const at = stripeScenarios(T0);
const base = { customer: "cus_1", prices: [{ id: "price_pro", lookupKey: "pro_monthly", product: "prod_pro" }] };
const EVERY_STATUS = [
  at.active({ id: "sub_active", ...base }),
  at.trialing({ id: "sub_trialing", ...base, trialEndsInDays: 5 }),
  at.pastDue({ id: "sub_past_due", ...base, collection: "send_invoice", netDays: 14, daysLate: 3 }),
  at.unpaid({ id: "sub_unpaid", ...base, daysLate: 20 }),
  at.canceled({ id: "sub_canceled", ...base, endedDaysAgo: 3 }),
  at.incomplete({ id: "sub_incomplete", ...base, hoursAgo: 2 }),
  at.incompleteExpired({ id: "sub_incomplete_expired", ...base, daysAgo: 3 }),
  at.paused({ id: "sub_paused", ...base, trialEndedDaysAgo: 2 }),
];

describe("the testkit's Stripe server", () => {
  let server: StripeServer;
  const client = (apiVersion?: string) =>
    new Stripe("sk_test_server", {
      ...server.clientOptions,
      maxNetworkRetries: 0,
      telemetry: false,
      // An older pinned version, as a host that never upgraded sends it.
      ...(apiVersion ? { apiVersion: apiVersion as Stripe.LatestApiVersion } : {}),
    });
  const raw = (path: string, headers: Record<string, string> = {}) =>
    fetch(`http://${server.host}:${server.port}${path}`, { headers: { authorization: "Bearer sk_test_raw", ...headers } });

  beforeAll(async () => {
    server = await startStripeServer({ subscriptions: EVERY_STATUS });
  });
  afterAll(() => server.close());
  beforeEach(() => {
    server.reset();
    server.setSubscriptions(EVERY_STATUS);
  });

  it("answers every status with every field of Stripe's published subscription, item, price, plan and invoice", async () => {
    const listed = [];
    for await (const sub of client().subscriptions.list({ status: "all", limit: 100, expand: ["data.latest_invoice"] })) listed.push(sub);
    expect(listed.map((sub) => sub.status).sort()).toEqual([...EVERY_STATUS.map((sub) => sub.status)].sort());
    for (const sub of listed) {
      expect(keysOf(sub), sub.status).toEqual(publishedKeys("subscription").filter((key) => !key.startsWith("current_period")));
      const item = sub.items.data[0];
      expect(keysOf(item), sub.status).toEqual(publishedKeys("subscription_item"));
      expect(keysOf(item?.price)).toEqual(publishedKeys("price"));
      expect(keysOf(item?.plan)).toEqual(publishedKeys("plan"));
      if (sub.status === "paused") expect(sub.latest_invoice).toBeNull();
      else expect(keysOf(sub.latest_invoice), sub.status).toEqual(publishedKeys("invoice"));
    }
  });

  it("gives each status the values Stripe sets", async () => {
    const byStatus = new Map<string, Stripe.Subscription>();
    for await (const sub of client().subscriptions.list({ status: "all", expand: ["data.latest_invoice"] })) byStatus.set(sub.status, sub);
    const invoice = (status: string) => byStatus.get(status)?.latest_invoice as Stripe.Invoice;
    expect(byStatus.get("past_due")).toMatchObject({ collection_method: "send_invoice", days_until_due: 14, ended_at: null });
    expect(invoice("past_due")).toMatchObject({ status: "open", due_date: T0.getTime() / 1000 - 3 * 86_400 });
    expect(invoice("unpaid")).toMatchObject({ status: "open", attempt_count: 4 });
    expect(byStatus.get("trialing")?.trial_end).toBe(T0.getTime() / 1000 + 5 * 86_400);
    expect(invoice("trialing")).toMatchObject({ status: "paid", amount_due: 0 });
    expect(byStatus.get("canceled")).toMatchObject({ canceled_at: expect.any(Number), ended_at: expect.any(Number) });
    expect(invoice("incomplete_expired").status).toBe("void");
    expect(byStatus.get("paused")?.trial_settings?.end_behavior.missing_payment_method).toBe("pause");
    expect(byStatus.get("active")?.items.data[0]?.price).toMatchObject({ lookup_key: "pro_monthly", product: "prod_pro" });
  });

  it("puts the period on items from 2025-03-31.basil and on the subscription before", async () => {
    const [recent] = (await client().subscriptions.list({ limit: 1 })).data;
    expect(recent?.items.data[0]?.current_period_start).toEqual(expect.any(Number));
    expect(recent).not.toHaveProperty("current_period_start");
    const [old] = (await client("2024-06-20").subscriptions.list({ limit: 1 })).data as unknown as Array<Record<string, unknown>>;
    expect(old?.current_period_start).toEqual(expect.any(Number));
    expect((old?.items as Stripe.ApiList<Stripe.SubscriptionItem> | undefined)?.data[0]).not.toHaveProperty("current_period_start");
    expect(server.stats.lastApiVersion).toBe("2024-06-20");
  });

  it("lists newest first and pages with starting_after and ending_before", async () => {
    server.setSubscriptions([
      { id: "sub_old", customer: "cus_1", status: "active", prices: ["price_pro"], created: 100 },
      { id: "sub_new", customer: "cus_1", status: "active", prices: ["price_pro"], created: 300 },
      { id: "sub_mid", customer: "cus_1", status: "active", prices: ["price_pro"], created: 200 },
    ]);
    const ids = [];
    for await (const sub of client().subscriptions.list({ limit: 1 })) ids.push(sub.id);
    expect(ids).toEqual(["sub_new", "sub_mid", "sub_old"]);
    const before = await client().subscriptions.list({ ending_before: "sub_old", limit: 1 });
    expect(before.data.map((sub) => sub.id)).toEqual(["sub_mid"]);
    expect(before.has_more).toBe(true);
  });

  it("rejects an unknown parameter or expansion with 400, and sends a request id on every answer", async () => {
    const unknown = await raw("/v1/subscriptions?statuz=all");
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: unknown }).error).toMatchObject({ code: "parameter_unknown", param: "statuz" });
    expect(unknown.headers.get("request-id")).toMatch(/^req_/);
    const badExpand = await raw("/v1/subscriptions?expand[0]=data.schedule");
    expect(badExpand.status).toBe(400);
    const anonymous = await fetch(`http://${server.host}:${server.port}/v1/subscriptions`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("request-id")).toMatch(/^req_/);
  });

  it("answers 401, 403, 429 with and without Retry-After, and 500 with and without Stripe-Should-Retry, at the page asked", async () => {
    const page2 = `/v1/subscriptions?limit=2&starting_after=${server.subscriptions[1]?.id}`;
    const cases = [
      [{ kind: "invalid-key" }, 401, {}],
      [{ kind: "forbidden" }, 403, {}],
      [{ kind: "rate-limit", retryAfter: 3 }, 429, { "retry-after": "3" }],
      [{ kind: "rate-limit", retryAfter: null }, 429, { "retry-after": null }],
      [{ kind: "server-error", shouldRetry: false }, 500, { "stripe-should-retry": "false" }],
      [{ kind: "server-error" }, 500, { "stripe-should-retry": null }],
    ] as const;
    for (const [fault, status, headers] of cases) {
      server.inject({ ...fault, page: 2 });
      expect((await raw("/v1/subscriptions?limit=2")).status).toBe(200);
      const answer = await raw(page2);
      expect(answer.status, fault.kind).toBe(status);
      expect(answer.headers.get("request-id")).toMatch(/^req_/);
      for (const [name, value] of Object.entries(headers)) expect(answer.headers.get(name), `${fault.kind} ${name}`).toBe(value);
      expect((await raw(page2)).status).toBe(200);
    }
    server.inject({ kind: "forbidden", page: 1 });
    await expect(client().subscriptions.list({ limit: 2 })).rejects.toMatchObject({ type: "StripePermissionError", statusCode: 403 });
  });
});
