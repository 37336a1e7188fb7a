import {
  type BillingSyncOptions,
  type BillingSyncResult,
  billingSyncTask,
  ConfigError,
  createJsonLogger,
  manualAdapter,
  registerTasks,
  type StripeClient,
  silentLogger,
  type TaskEvent,
} from "@upkeep/core";
import {
  createTestDatabase,
  probeDialects,
  type StripeServer,
  type SubscriptionFixture,
  startStripeServer,
  stripeScenarios,
  type TestDatabase,
} from "@upkeep/testkit";
import Stripe from "stripe";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { applyChanges } from "../../packages/core/src/tasks/billing-sync/accounts.ts";
import { billingSyncInput } from "../../packages/core/src/tasks/billing-sync/options.ts";
import { createAccountsTable } from "../fixtures/billing-accounts.ts";

// The real client satisfies the structural type billing-sync asks for.
const _typeCheck: StripeClient = new Stripe("sk_test_x");

const T0 = new Date("2026-03-01T02:00:00Z");
const T0s = T0.getTime() / 1000;
const DAY = 86_400;
/** Upper-case tail: it cannot occur in a uuid or a request id, so finding it anywhere means a leak. */
const KEY = "sk_test_51HushHushDoNotLeakQWXZ";
const PLANS = { price_starter: "starter", price_pro: "pro", price_business: "business" };
const RANKS = { starter: 1, pro: 2, business: 3 };

function sub(
  id: string,
  customer: string | null,
  status: string,
  prices: SubscriptionFixture["prices"] = ["price_pro"],
  periodStart = T0s - 10 * DAY,
): SubscriptionFixture {
  return { id, customer, status, prices, created: periodStart, currentPeriodStart: periodStart, currentPeriodEnd: periodStart + 30 * DAY };
}

interface Seed {
  customer: string | null;
  plan: string | null;
  updatedAt?: Date;
  /** The `staff_granted` column, for `neverDowngrade.column`. */
  staffGranted?: boolean;
}

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`billing-sync on ${dialect}`, () => {
    let database: TestDatabase;
    let server: StripeServer;
    let tables = 0;
    let prefixes = 0;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      server = await startStripeServer();
    });
    afterAll(async () => {
      await server?.close();
      await database?.destroy();
    });
    beforeEach(() => {
      server.reset();
      server.onPage = undefined;
      server.setSubscriptions([]);
    });

    const client = (key = KEY) => new Stripe(key, { ...server.clientOptions, maxNetworkRetries: 1, telemetry: false });

    /** A fresh accounts table with the default column names; returns its name. */
    async function accounts(rows: Seed[]): Promise<string> {
      const table = `accounts_${++tables}`;
      await createAccountsTable(database.knex, table);
      if (rows.length > 0) {
        await database.knex.batchInsert(
          table,
          rows.map((row) => ({
            stripe_customer_id: row.customer,
            plan: row.plan,
            staff_granted: row.staffGranted ?? false,
            updated_at: row.updatedAt ?? new Date(T0.getTime() - DAY * 1000),
          })),
          500,
        );
      }
      return table;
    }

    async function plans(table: string): Promise<Record<string, string | null>> {
      const rows: Array<{ stripe_customer_id: string | null; plan: string | null; id: number }> = await database
        .knex(table)
        .select("id", "stripe_customer_id", "plan")
        .orderBy("id");
      return Object.fromEntries(rows.map((row) => [row.stripe_customer_id ?? `comped-${row.id}`, row.plan]));
    }

    function host(table: string, options: Partial<BillingSyncOptions> = {}) {
      const lines: string[] = [];
      const events: TaskEvent[] = [];
      let minute = 0;
      let offsetMs = 0;
      const upkeep = registerTasks(manualAdapter(), {
        db: database.knex,
        tablePrefix: `bs${++prefixes}_`,
        clock: () => new Date(T0.getTime() + offsetMs + minute * 60_000),
        logger: createJsonLogger({ level: "debug", write: (line) => lines.push(line) }),
        tasks: [billingSyncTask({ stripe: client(), mode: "test", plans: PLANS, ranks: RANKS, accounts: { table }, ...options })],
      });
      upkeep.on("event", ({ event }) => {
        events.push(event);
      });
      return {
        lines,
        events,
        /** Moves the run clock forward (a later nightly run). */
        advance(ms: number) {
          offsetMs += ms;
        },
        /** The next run happens at exactly this time (epoch ms). */
        setTime(ms: number) {
          offsetMs = ms - T0.getTime() - minute * 60_000;
        },
        async run(runOptions: { dryRun?: boolean; input?: Record<string, unknown> } = {}) {
          const record = await upkeep.run("billing-sync", runOptions);
          minute++;
          return { record, result: record.result as BillingSyncResult };
        },
      };
    }

    it("upgrades active and trialing customers and downgrades every lapsed status", async () => {
      const table = await accounts([
        { customer: "cus_active", plan: "free" },
        { customer: "cus_trial", plan: "free" },
        { customer: "cus_canceled", plan: "pro" },
        { customer: "cus_unpaid", plan: "pro" },
        { customer: "cus_incomplete", plan: "pro" },
        { customer: "cus_expired", plan: "pro" },
        { customer: "cus_paused", plan: "pro" },
        { customer: "cus_same", plan: "pro" },
      ]);
      server.setSubscriptions([
        sub("sub_a", "cus_active", "active"),
        sub("sub_t", "cus_trial", "trialing", ["price_business"]),
        sub("sub_c", "cus_canceled", "canceled"),
        sub("sub_u", "cus_unpaid", "unpaid"),
        sub("sub_i", "cus_incomplete", "incomplete"),
        sub("sub_e", "cus_expired", "incomplete_expired"),
        sub("sub_p", "cus_paused", "paused"),
        sub("sub_s", "cus_same", "active"),
      ]);
      const { run, events } = host(table, { guard: { maxDowngradeShare: 1 } });
      const { record, result } = await run();
      expect(record.status).toBe("succeeded");
      expect(await plans(table)).toEqual({
        cus_active: "pro",
        cus_trial: "business",
        cus_canceled: "free",
        cus_unpaid: "free",
        cus_incomplete: "free",
        cus_expired: "free",
        cus_paused: "free",
        cus_same: "pro",
      });
      expect(result).toMatchObject({ upgraded: 2, downgraded: 5, subscriptions: 8, customers: 8, accounts: 8 });
      expect(result.upgradedIds).toHaveLength(2);
      expect(events.filter((event) => event.type === "billing.upgraded")).toHaveLength(2);
      const downgrade = events.find((event) => event.type === "billing.downgraded" && event.data?.subscriptionId === "sub_u");
      expect(downgrade?.data).toMatchObject({ from: "pro", to: "free", status: "unpaid", customerId: "cus_unpaid" });
      const row = await database.knex(table).where({ stripe_customer_id: "cus_active" }).first();
      expect(row.stripe_subscription_id).toBe("sub_a");
      expect(row.subscription_status).toBe("active");
      expect(new Date(row.current_period_end).getTime()).toBe((T0s + 20 * DAY) * 1000);
      expect(new Date(row.updated_at).getTime()).toBe(T0.getTime());
    });

    it("keeps a past_due account through the grace period, inclusive, and downgrades it one second later", async () => {
      const table = await accounts([{ customer: "cus_late", plan: "pro" }]);
      // The card's first charge failed exactly three days before T0.
      server.setSubscriptions([stripeScenarios(T0).pastDue({ id: "sub_late", customer: "cus_late", daysLate: 3 })]);
      const sync = host(table, { pastDueGrace: "3d" });
      sync.setTime(T0.getTime());
      expect((await sync.run()).result).toMatchObject({ downgraded: 0, updated: 1 });
      sync.setTime(T0.getTime() + 1000);
      expect((await sync.run()).result).toMatchObject({ downgraded: 1 });
      expect(await plans(table)).toEqual({ cus_late: "free" });
    });

    it("gives a customer with several subscriptions the highest-ranked entitled plan", async () => {
      const table = await accounts([
        { customer: "cus_many", plan: "starter" },
        { customer: "cus_items", plan: "free" },
        { customer: "cus_lapsed", plan: "business" },
      ]);
      server.setSubscriptions([
        sub("sub_m1", "cus_many", "canceled", ["price_business"]),
        sub("sub_m2", "cus_many", "active", ["price_pro"]),
        sub("sub_m3", "cus_many", "trialing", ["price_starter"]),
        sub("sub_i1", "cus_items", "active", ["price_starter", "price_business"]),
        sub("sub_l1", "cus_lapsed", "canceled", ["price_business"], T0s - 40 * DAY),
        sub("sub_l2", "cus_lapsed", "unpaid", ["price_pro"], T0s - 5 * DAY),
      ]);
      const { result } = await host(table, { guard: { maxDowngradeShare: 1 } }).run();
      expect(await plans(table)).toEqual({ cus_many: "pro", cus_items: "business", cus_lapsed: "free" });
      const lapsed = await database.knex(table).where({ stripe_customer_id: "cus_lapsed" }).first();
      expect(lapsed.stripe_subscription_id).toBe("sub_l2");
      expect(lapsed.subscription_status).toBe("unpaid");
      const many = await database.knex(table).where({ stripe_customer_id: "cus_many" }).first();
      expect(many.stripe_subscription_id).toBe("sub_m2");
      expect(result).toMatchObject({ upgraded: 2, downgraded: 1 });
    });

    it("never touches a comped account and reports unknown customers without creating them", async () => {
      const table = await accounts([
        { customer: null, plan: "business" },
        { customer: "cus_known", plan: "free" },
      ]);
      server.setSubscriptions([
        sub("sub_k", "cus_known", "active"),
        sub("sub_g1", "cus_ghost", "active"),
        sub("sub_g2", "cus_gone", "canceled"),
      ]);
      const before = await database.knex(table).where({ id: 1 }).first();
      const { result } = await host(table).run();
      expect(await database.knex(table).where({ id: 1 }).first()).toEqual(before);
      expect(Number((await database.knex(table).count({ n: "*" }).first())?.n)).toBe(2);
      expect(result).toMatchObject({ comped: 1, upgraded: 1, unknownCustomers: 2 });
      expect(result.unknownCustomerIds.sort()).toEqual(["cus_ghost", "cus_gone"]);
    });

    // Regression (issue 19, bug 1): grace was counted from current_period_start, so an invoiced
    // customer (net 14) one day late had been "past due" for 15 days and was downgraded at once.
    it("counts past_due grace from when the subscription became past due, not from its period start", async () => {
      const table = await accounts([
        { customer: "cus_net14", plan: "pro" },
        { customer: "cus_renewed", plan: "pro" },
      ]);
      const at = stripeScenarios(T0);
      server.setSubscriptions([
        at.pastDue({ id: "sub_net14", customer: "cus_net14", collection: "send_invoice", netDays: 14, daysLate: 1 }),
        // 20 days past due across a renewal: the latest invoice is the renewal's, not due yet.
        at.pastDue({ id: "sub_renewed", customer: "cus_renewed", collection: "send_invoice", netDays: 14, daysLate: 20 }),
      ]);
      const { result } = await host(table, { pastDueGrace: "7d" }).run();
      expect(await plans(table)).toEqual({ cus_net14: "pro", cus_renewed: "free" });
      expect(result.downgraded).toBe(1);
      expect(server.stats.listRequests).toBe(1);
      expect(decodeURIComponent(server.stats.lastListQuery ?? "")).toContain("expand[0]=data.latest_invoice");
    });

    // Regression (issue 19, bug 1): a subscription Stripe leaves past_due across a renewal got a new
    // grace from the new period's start, so it was re-upgraded (billing.upgraded) at every renewal.
    it("never re-entitles a past_due subscription at a renewal while it stays unpaid", async () => {
      const table = await accounts([{ customer: "cus_late", plan: "pro" }]);
      server.setSubscriptions([sub("sub_late", "cus_late", "past_due", ["price_pro"], T0s - DAY)]);
      const sync = host(table, { pastDueGrace: "7d" });
      expect((await sync.run()).result.downgraded).toBe(0);
      expect(await plans(table)).toEqual({ cus_late: "pro" });
      sync.advance(9 * DAY * 1000);
      expect((await sync.run()).result.downgraded).toBe(1);
      expect(await plans(table)).toEqual({ cus_late: "free" });
      // The renewal: a new period starts, Stripe keeps the subscription past_due.
      server.updateSubscription("sub_late", { currentPeriodStart: T0s + 29 * DAY, currentPeriodEnd: T0s + 59 * DAY });
      sync.advance(21 * DAY * 1000);
      const renewed = await sync.run();
      expect(renewed.result.upgraded).toBe(0);
      expect(await plans(table)).toEqual({ cus_late: "free" });
      expect(sync.events.filter((event) => event.type === "billing.upgraded")).toHaveLength(0);
    });

    // Regression (issue 19, bug 2): an entitled subscription with one mapped and one unmapped price,
    // or a second entitled subscription on an unmapped price, downgraded a payer to the mapped plan.
    it("keeps the plan of an account with any entitled subscription carrying an unmapped price, and warns", async () => {
      const table = await accounts([
        { customer: "cus_items", plan: "business" },
        { customer: "cus_two", plan: "pro" },
      ]);
      server.setSubscriptions([
        sub("sub_items", "cus_items", "active", ["price_starter", "price_business_2027"]),
        sub("sub_two_a", "cus_two", "active", ["price_starter"]),
        sub("sub_two_b", "cus_two", "active", ["price_pro_2027"]),
      ]);
      const sync = host(table, { guard: { maxDowngradeShare: 1 } });
      const { result } = await sync.run();
      expect(await plans(table)).toEqual({ cus_items: "business", cus_two: "pro" });
      expect(result).toMatchObject({ unmapped: 2, downgraded: 0 });
      expect([...result.unmappedPriceIds].sort()).toEqual(["price_business_2027", "price_pro_2027"]);
      const unmapped = sync.events.filter((event) => event.type === "billing.unmapped");
      expect(unmapped.map((event) => event.data?.customerId).sort()).toEqual(["cus_items", "cus_two"]);
      expect(unmapped.find((event) => event.data?.customerId === "cus_two")?.data).toMatchObject({
        plan: "pro",
        priceIds: ["price_pro_2027"],
        subscriptionIds: ["sub_two_b"],
      });
      expect(sync.lines.filter((line) => line.includes('"level":"warn"') && line.includes("unmapped price"))).toHaveLength(2);
    });

    // Regression (issue 19, bug 3): plans were matched by price id only, so a new price behind a
    // known lookup key, or of a known product, left its subscribers on the free plan.
    it("maps plans by price id, then price lookup key, then product id", async () => {
      const table = await accounts([
        { customer: "cus_lookup", plan: "free" },
        { customer: "cus_product", plan: "free" },
        { customer: "cus_both", plan: "free" },
      ]);
      server.setSubscriptions([
        sub("sub_lookup", "cus_lookup", "active", [{ id: "price_1NewPro", lookupKey: "pro_monthly" }]),
        sub("sub_product", "cus_product", "active", [{ id: "price_1NewBiz", product: "prod_business" }]),
        sub("sub_both", "cus_both", "active", [{ id: "price_starter", lookupKey: "pro_monthly", product: "prod_business" }]),
      ]);
      const { result } = await host(table, {
        plans: { ...PLANS, pro_monthly: "pro", prod_business: "business" },
      }).run();
      expect(await plans(table)).toEqual({ cus_lookup: "pro", cus_product: "business", cus_both: "starter" });
      expect(result).toMatchObject({ upgraded: 3, unmapped: 0, unmappedPriceIds: [] });
    });

    // Issue 19: a hand-granted plan (enterprise, set by staff on an account with a Stripe customer)
    // was downgraded when an old subscription was cancelled.
    it("never downgrades an account on a neverDowngrade plan or marked by the neverDowngrade column", async () => {
      const table = await accounts([
        { customer: "cus_ent", plan: "enterprise" },
        { customer: "cus_staff", plan: "business", staffGranted: true },
        { customer: "cus_plain", plan: "pro" },
        { customer: "cus_up", plan: "starter", staffGranted: true },
      ]);
      server.setSubscriptions([
        sub("sub_ent", "cus_ent", "canceled"),
        sub("sub_staff", "cus_staff", "active", ["price_starter"]),
        sub("sub_plain", "cus_plain", "canceled"),
        sub("sub_up", "cus_up", "active", ["price_business"]),
      ]);
      const { result } = await host(table, {
        ranks: { ...RANKS, enterprise: 9 },
        neverDowngrade: { plans: ["enterprise"], column: "staff_granted" },
        guard: { maxDowngradeShare: 1 },
      }).run();
      expect(await plans(table)).toEqual({ cus_ent: "enterprise", cus_staff: "business", cus_plain: "free", cus_up: "business" });
      expect(result).toMatchObject({ downgraded: 1, upgraded: 1, neverDowngraded: 2 });
      expect([...result.neverDowngradedIds].sort()).toEqual([1, 2]);
    });

    // Issue 19: a subscription with `customer: null` failed the whole run with a TypeError.
    it("skips and reports a subscription with no customer", async () => {
      const table = await accounts([{ customer: "cus_1", plan: "free" }]);
      server.setSubscriptions([sub("sub_orphan", null, "active"), sub("sub_1", "cus_1", "active")]);
      const { record, result } = await host(table).run();
      expect(record.status).toBe("succeeded");
      expect(result).toMatchObject({ upgraded: 1, withoutCustomer: 1, withoutCustomerIds: ["sub_orphan"] });
    });

    // Issue 19: a key to another Stripe account in the same mode "succeeded" with every account
    // missing, logged at info only.
    it("warns loudly when most accounts' customers are missing from the Stripe account", async () => {
      const table = await accounts(Array.from({ length: 5 }, (_, i) => ({ customer: `cus_ours_${i}`, plan: "pro" })));
      server.setSubscriptions([sub("sub_t1", "cus_theirs_1", "active"), sub("sub_t2", "cus_ours_0", "active")]);
      const sync = host(table);
      const { result } = await sync.run();
      expect(result).toMatchObject({ missing: 4, accounts: 5, downgraded: 0 });
      const warning = sync.lines.find((line) => line.includes('"level":"warn"') && line.includes("another Stripe account"));
      expect(warning).toBeDefined();
      expect(sync.events.find((event) => event.type === "billing.customers_missing")?.data).toMatchObject({ missing: 4, accounts: 5 });
    });

    // Issue 19: a NULL local plan was counted as paid, and NULL to free emitted billing.upgraded.
    it("treats a NULL local plan as the free plan", async () => {
      const table = await accounts([
        { customer: "cus_none", plan: null },
        { customer: "cus_new", plan: null },
      ]);
      server.setSubscriptions([sub("sub_none", "cus_none", "canceled"), sub("sub_new", "cus_new", "active")]);
      const sync = host(table);
      const { result } = await sync.run();
      expect(await plans(table)).toEqual({ cus_none: "free", cus_new: "pro" });
      expect(result).toMatchObject({ paidAccounts: 0, upgraded: 1, downgraded: 0, updated: 1 });
      expect(sync.events.map((event) => [event.type, event.data?.customerId])).toEqual([["billing.upgraded", "cus_new"]]);
    });

    it("keeps an account whose entitled subscription has an unmapped price, and reports the price", async () => {
      const table = await accounts([{ customer: "cus_typo", plan: "pro" }]);
      server.setSubscriptions([sub("sub_x", "cus_typo", "active", ["price_pro_v2"])]);
      const { result } = await host(table).run();
      expect(await plans(table)).toEqual({ cus_typo: "pro" });
      expect(result).toMatchObject({ unmapped: 1, downgraded: 0, unmappedPriceIds: ["price_pro_v2"] });
    });

    it("resumes the listing after a 429 with Retry-After and completes with one extra request", async () => {
      const subs = Array.from({ length: 250 }, (_, i) => sub(`sub_${String(i).padStart(4, "0")}`, `cus_${i}`, "active"));
      const table = await accounts(subs.map((_, i) => ({ customer: `cus_${i}`, plan: "free" })));
      server.setSubscriptions(subs);
      server.inject({ kind: "rate-limit", page: 2, retryAfter: 1 });
      const { record, result } = await host(table).run();
      expect(record.status).toBe("succeeded");
      expect(result.subscriptions).toBe(250);
      expect(result.upgraded).toBe(250);
      expect(server.stats.listRequests).toBe(4);
    });

    it("resumes after a 429 without Retry-After, and fails without retrying a 500 Stripe marks not retryable or a 403", async () => {
      const subs = Array.from({ length: 150 }, (_, i) => sub(`sub_${String(i).padStart(4, "0")}`, `cus_${i}`, "active"));
      const table = await accounts(subs.map((_, i) => ({ customer: `cus_${i}`, plan: "free" })));
      server.setSubscriptions(subs);
      server.inject({ kind: "rate-limit", page: 2, retryAfter: null });
      const limited = await host(table).run();
      expect(limited.record.status).toBe("succeeded");
      expect(server.stats.listRequests).toBe(3);
      await database.knex(table).update({ plan: "free" });
      for (const fault of [{ kind: "server-error", shouldRetry: false }, { kind: "forbidden" }] as const) {
        server.reset();
        server.inject({ ...fault, page: 2, times: 9 });
        const { record } = await host(table).run();
        expect(record.status, fault.kind).toBe("failed");
        expect(record.reason).toBe("STRIPE_LISTING_FAILED");
        expect(record.errorMessage).toMatch(/nothing was changed/);
        // One good page, then page 2 once: neither answer is retried by the client.
        expect(server.stats.listRequests, fault.kind).toBe(2);
      }
      expect(Object.values(await plans(table)).every((plan) => plan === "free")).toBe(true);
    });

    it("changes nothing on a rerun with nothing new (idempotent)", async () => {
      const at = stripeScenarios(T0);
      const table = await accounts([
        { customer: "cus_a", plan: "free" },
        { customer: "cus_b", plan: "pro" },
        { customer: "cus_c", plan: "pro" },
      ]);
      server.setSubscriptions([
        at.active({ id: "sub_a", customer: "cus_a" }),
        at.canceled({ id: "sub_b", customer: "cus_b", endedDaysAgo: 2 }),
        at.pastDue({ id: "sub_c", customer: "cus_c", daysLate: 2 }),
      ]);
      const sync = host(table, { guard: { maxDowngradeShare: 1 } });
      const first = await sync.run();
      expect(first.result).toMatchObject({ upgraded: 1, downgraded: 1, updated: 1 });
      const before = await database.knex(table).select("*").orderBy("id");
      const events = sync.events.length;
      const second = await sync.run();
      expect(second.result).toMatchObject({ upgraded: 0, downgraded: 0, updated: 0, unchanged: 3 });
      expect(await database.knex(table).select("*").orderBy("id")).toEqual(before);
      expect(sync.events).toHaveLength(events);
    });

    it("changes nothing when page 7 of 10 keeps failing with 500", async () => {
      const subs = Array.from({ length: 1000 }, (_, i) =>
        sub(`sub_${String(i).padStart(4, "0")}`, `cus_${i}`, i < 500 ? "active" : "canceled"),
      );
      const table = await accounts(subs.map((_, i) => ({ customer: `cus_${i}`, plan: i < 500 ? "free" : "pro" })));
      server.setSubscriptions(subs);
      server.inject({ kind: "server-error", page: 7, times: 99 });
      const before = await plans(table);
      const { record } = await host(table, { force: true }).run();
      expect(record.status).toBe("failed");
      expect(record.reason).toBe("STRIPE_LISTING_FAILED");
      expect(record.errorMessage).toMatch(/after 600 .*status 500.*nothing was changed/);
      expect(await plans(table)).toEqual(before);
      // Six good pages, then page 7 once plus the client's one retry.
      expect(server.stats.listRequests).toBe(8);
    });

    it("changes nothing when a page is malformed JSON or cut off", async () => {
      const subs = Array.from({ length: 300 }, (_, i) => sub(`sub_${String(i).padStart(4, "0")}`, `cus_${i}`, "canceled"));
      const table = await accounts(subs.map((_, i) => ({ customer: `cus_${i}`, plan: "pro" })));
      server.setSubscriptions(subs);
      const before = await plans(table);
      server.inject({ kind: "malformed-json", page: 2 });
      const first = await host(table, { force: true }).run();
      expect(first.record.status).toBe("failed");
      expect(first.record.errorMessage).toMatch(/Invalid JSON/);
      server.inject({ kind: "truncated-body", page: 3, times: 9 });
      const second = await host(table, { force: true }).run();
      expect(second.record.status).toBe("failed");
      expect(second.record.reason).toBe("STRIPE_LISTING_FAILED");
      expect(await plans(table)).toEqual(before);
    });

    it("downgrades no account its listing did not reach when the listing ends early", async () => {
      const subs = Array.from({ length: 300 }, (_, i) => sub(`sub_${String(i).padStart(4, "0")}`, `cus_${i}`, "canceled"));
      const table = await accounts(subs.map((_, i) => ({ customer: `cus_${i}`, plan: "pro" })));
      server.setSubscriptions(subs);
      server.inject({ kind: "early-end", page: 1 });
      const { result } = await host(table, { force: true }).run();
      expect(result).toMatchObject({ subscriptions: 100, downgraded: 100, missing: 200 });
      const rows = await plans(table);
      expect(Object.values(rows).filter((plan) => plan === "pro")).toHaveLength(200);
    });

    it("refuses a mass downgrade by share and by count, and force applies it", async () => {
      const subs = Array.from({ length: 10 }, (_, i) => sub(`sub_${i}`, `cus_${i}`, i < 5 ? "canceled" : "active"));
      const table = await accounts(subs.map((_, i) => ({ customer: `cus_${i}`, plan: "pro" })));
      server.setSubscriptions(subs);
      const before = await plans(table);
      const sync = host(table);
      const refused = await sync.run();
      expect(refused.record.status).toBe("failed");
      expect(refused.record.reason).toBe("BILLING_GUARD");
      expect(refused.record.errorMessage).toMatch(/downgrade 5 of 10 paid accounts \(allowed 2\)/);
      expect(await plans(table)).toEqual(before);
      expect(sync.events).toHaveLength(0);

      const byCount = await host(table, { guard: { maxDowngradeShare: 1, maxDowngrades: 4 } }).run();
      expect(byCount.record.reason).toBe("BILLING_GUARD");
      expect(await plans(table)).toEqual(before);

      const forced = await sync.run({ input: { force: true } });
      expect(forced.record.status).toBe("succeeded");
      expect(forced.result.downgraded).toBe(5);
      expect(forced.result.guard).toMatchObject({ tripped: true, forced: true, downgrades: 5, allowed: 2 });
      expect(Object.values(await plans(table)).filter((plan) => plan === "free")).toHaveLength(5);
    });

    it("refuses a key of the other mode before listing anything", async () => {
      const table = await accounts([{ customer: "cus_1", plan: "pro" }]);
      server.setSubscriptions([sub("sub_1", "cus_1", "canceled")]);
      const { record } = await host(table, { mode: "live" }).run();
      expect(record.status).toBe("failed");
      expect(record.reason).toBe("STRIPE_KEY_MODE");
      expect(server.stats.requests).toBe(0);
      expect(await plans(table)).toEqual({ cus_1: "pro" });
    });

    it("refuses subscriptions of the other mode when the client's key cannot be read", async () => {
      const table = await accounts([{ customer: "cus_1", plan: "pro" }]);
      server.setSubscriptions([sub("sub_1", "cus_1", "canceled")]);
      const live = new Stripe(null as unknown as string, {
        ...server.clientOptions,
        telemetry: false,
        authenticator: async (request) => {
          request.headers.Authorization = "Bearer sk_live_HiddenBehindAnAuthenticatorQWXZ";
        },
      });
      const { record, result } = await host(table, { stripe: live, mode: "test" }).run();
      expect(record.status).toBe("failed");
      expect(record.reason).toBe("STRIPE_KEY_MODE");
      expect(result).toBeNull();
      expect(await plans(table)).toEqual({ cus_1: "pro" });
    });

    it("keeps a webhook's change that landed while the listing ran", async () => {
      const subs = Array.from({ length: 150 }, (_, i) =>
        sub(`sub_${String(i).padStart(4, "0")}`, `cus_${i}`, i === 0 ? "canceled" : "active"),
      );
      const table = await accounts(subs.map((_, i) => ({ customer: `cus_${i}`, plan: i === 0 ? "pro" : "free" })));
      server.setSubscriptions(subs);
      server.onPage = (page) =>
        page === 2 &&
        database
          .knex(table)
          .where({ stripe_customer_id: "cus_0" })
          .update({ plan: "business", updated_at: new Date(T0.getTime() + 5000) });
      const { result } = await host(table).run();
      expect((await plans(table)).cus_0).toBe("business");
      expect(result.skippedConcurrent).toBe(1);
      expect(result.downgraded).toBe(0);
      expect(result.upgraded).toBe(149);
    });

    it("does not overwrite an account changed between the diff and its update (compare-and-set)", async () => {
      const table = await accounts([
        { customer: "cus_raced", plan: "pro" },
        { customer: "cus_calm", plan: "pro" },
      ]);
      const columns = billingSyncInput.parse({ stripe: client(), plans: PLANS, accounts: { table } }).accounts;
      const change = (id: number, customerId: string) => ({
        accountId: id,
        customerId,
        kind: "downgrade" as const,
        from: { plan: "pro", subscriptionId: null, status: null, periodEnd: null },
        to: { plan: "free", subscriptionId: `sub_${id}`, status: "canceled", periodEnd: null },
      });
      await database
        .knex(table)
        .where({ id: 1 })
        .update({ plan: "business", updated_at: new Date(T0.getTime() + 2000) });
      const applied = await applyChanges(
        database.knex,
        columns,
        [change(1, "cus_raced"), change(2, "cus_calm")],
        T0.getTime(),
        T0.getTime() + 3000,
      );
      expect(applied.map((c) => c.accountId)).toEqual([2]);
      expect(await plans(table)).toEqual({ cus_raced: "business", cus_calm: "free" });
    });

    it("lists every change in a dry run and changes nothing", async () => {
      const table = await accounts([
        { customer: "cus_up", plan: "free" },
        { customer: "cus_down", plan: "pro" },
        { customer: "cus_down2", plan: "pro" },
      ]);
      server.setSubscriptions([
        sub("sub_up", "cus_up", "active"),
        sub("sub_d", "cus_down", "canceled"),
        sub("sub_d2", "cus_down2", "unpaid"),
      ]);
      const before = await plans(table);
      const { run, events, lines } = host(table);
      const { record, result } = await run({ dryRun: true });
      expect(record.status).toBe("succeeded");
      expect(await plans(table)).toEqual(before);
      expect(events).toHaveLength(0);
      expect(result.dryRun).toBe(true);
      expect(result.guard.tripped).toBe(true);
      expect(result.changes?.map((change) => [change.kind, change.fromPlan, change.toPlan]).sort()).toEqual([
        ["downgrade", "pro", "free"],
        ["downgrade", "pro", "free"],
        ["upgrade", "free", "pro"],
      ]);
      expect(lines.filter((line) => line.includes("would change account"))).toHaveLength(3);
    });

    it("never lets the Stripe key reach a log line, an error or a result", async () => {
      const table = await accounts([{ customer: "cus_1", plan: "free" }]);
      server.setSubscriptions([sub("sub_1", "cus_1", "active")]);
      const sync = host(table);
      const ok = await sync.run();
      server.inject({ kind: "invalid-key", page: 1 });
      const failed = await sync.run();
      expect(ok.record.status).toBe("succeeded");
      expect(failed.record.status).toBe("failed");
      expect(failed.record.errorMessage).toMatch(/StripeAuthenticationError, status 401.*\[redacted\]/);
      const stored = await database.knex(`bs${prefixes}_runs`).select("*");
      const everything = JSON.stringify([sync.lines, sync.events, ok.record, failed.record, stored]);
      expect(everything).not.toContain("QWXZ");
      expect(everything).not.toContain("sk_test");
    });

    it("works with renamed columns, epoch-ms times and no subscription columns", async () => {
      const table = `billing_${++tables}`;
      await database.knex.schema.createTable(table, (t) => {
        t.string("uid", 36).primary();
        t.string("cus", 64).nullable();
        t.string("tier", 32).notNullable();
        t.bigInteger("changed_ms").nullable();
      });
      await database.knex(table).insert([
        { uid: "a", cus: "cus_a", tier: "free", changed_ms: T0.getTime() - 10_000 },
        { uid: "b", cus: "cus_b", tier: "pro", changed_ms: null },
        { uid: "c", cus: "cus_c", tier: "pro", changed_ms: T0.getTime() + 10_000 },
      ]);
      server.setSubscriptions([
        sub("sub_a", "cus_a", "active"),
        sub("sub_b", "cus_b", "active", ["price_starter"]),
        sub("sub_c", "cus_c", "canceled"),
      ]);
      const { result } = await host(table, {
        accounts: {
          table,
          id: "uid",
          customerId: "cus",
          plan: "tier",
          updatedAt: "changed_ms",
          subscriptionId: null,
          status: null,
          currentPeriodEnd: null,
          timeFormat: "epoch-ms",
        },
      }).run();
      const rows = await database.knex(table).select("uid", "tier", "changed_ms").orderBy("uid");
      expect(rows.map((row) => [row.uid, row.tier, Number(row.changed_ms)])).toEqual([
        ["a", "pro", T0.getTime()],
        ["b", "starter", T0.getTime()],
        ["c", "pro", T0.getTime() + 10_000],
      ]);
      expect(result).toMatchObject({ upgraded: 1, downgraded: 1, skippedConcurrent: 1, skippedConcurrentIds: ["c"] });
    });

    // Regression: on SQLite the cutoff was bound as epoch ms, which no text sorts before, so a Django
    // table's accounts were all "changed concurrently"; and a write stored ms Django cannot read.
    it.skipIf(dialect !== "sqlite")("on SQLite compares and writes a Django datetime column in Django's own text", async () => {
      const table = `billing_${++tables}`;
      await database.knex.raw(
        `create table "${table}" (id integer primary key, customer varchar(64) null, plan varchar(32) not null, updated_at datetime null)`,
      );
      await database.knex(table).insert([
        { id: 1, customer: "cus_a", plan: "free", updated_at: "2026-03-01 01:59:50.123456" },
        { id: 2, customer: "cus_b", plan: "pro", updated_at: null },
        { id: 3, customer: "cus_c", plan: "pro", updated_at: "2026-03-01 02:00:10" },
      ]);
      server.setSubscriptions([
        sub("sub_a", "cus_a", "active"),
        sub("sub_b", "cus_b", "active", ["price_starter"]),
        sub("sub_c", "cus_c", "canceled"),
      ]);
      const accounts = { table, customerId: "customer", subscriptionId: null, status: null, currentPeriodEnd: null };
      const { result } = await host(table, { accounts }).run();
      expect(await database.knex(table).select("id", "plan", "updated_at").orderBy("id")).toEqual([
        { id: 1, plan: "pro", updated_at: "2026-03-01 02:00:00.000000" },
        { id: 2, plan: "starter", updated_at: "2026-03-01 02:00:00.000000" },
        { id: 3, plan: "pro", updated_at: "2026-03-01 02:00:10" },
      ]);
      expect(result).toMatchObject({ upgraded: 1, downgraded: 1, skippedConcurrent: 1, skippedConcurrentIds: [3] });
    });
  });
}

describe("billing-sync options", () => {
  it("names each invalid field and never its value", () => {
    const stripe = new Stripe(KEY);
    const task = billingSyncTask({
      stripe,
      plans: {},
      accounts: { plan: "plan; drop table accounts" },
      guard: { maxDowngradeShare: 3 },
      pastDueGrace: "soon" as "7d",
    });
    let error: unknown;
    try {
      registerTasks(manualAdapter(), { tasks: [task], logger: silentLogger });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    for (const path of ["plans", "accounts.plan", "guard.maxDowngradeShare", "pastDueGrace"]) {
      expect(message).toContain(`tasks.billing-sync.input.${path}`);
    }
    expect(message).not.toContain("drop table");
    expect(message).not.toContain("QWXZ");
  });

  it("rejects something that is not a Stripe client", () => {
    const task = billingSyncTask({ stripe: { key: KEY } as unknown as StripeClient, plans: PLANS });
    expect(() => registerTasks(manualAdapter(), { tasks: [task], logger: silentLogger })).toThrow(
      /tasks\.billing-sync\.input\.stripe: expected a Stripe client/,
    );
  });

  it("defaults to the daily 02:00 schedule and the billing-sync id", () => {
    const task = billingSyncTask({ stripe: new Stripe(KEY), plans: PLANS });
    expect(task.id).toBe("billing-sync");
    expect(task.schedule).toBe("0 2 * * *");
    expect(billingSyncTask({ stripe: new Stripe(KEY), plans: PLANS, schedule: "30 4 * * *", id: "stripe-sync" }).schedule).toBe(
      "30 4 * * *",
    );
  });
});
