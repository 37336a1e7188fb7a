// billing-sync's decision table: every subscription status with and without cancel_at_period_end,
// both collection methods, trials ending inside and outside the past_due grace, multi-item and
// multi-subscription customers, unmapped prices, lookup keys and product ids, on the current and
// an older pinned API version, through the real `stripe` client and the testkit's Stripe-faithful
// server, on SQLite and PostgreSQL.
import { type BillingSyncResult, billingSyncTask, manualAdapter, registerTasks, silentLogger } from "@upkeep/core";
import { createTestDatabase, probeDialects, type SubscriptionFixture, startStripeServer, stripeScenarios } from "@upkeep/testkit";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import { createAccountsTable } from "../fixtures/billing-accounts.ts";

const T0 = new Date("2026-03-01T02:00:00Z");
const at = stripeScenarios(T0);
const PLANS = { price_starter: "starter", price_pro: "pro", price_business: "business", pro_monthly: "pro", prod_business: "business" };
const RANKS = { starter: 1, pro: 2, business: 3 };
const GRACE_DAYS = 7;

interface Row {
  name: string;
  /** The account's plan before the run. */
  from: string;
  /** Its plan after. */
  to: string;
  subscriptions(customer: string, n: number): SubscriptionFixture[];
}

const rows: Row[] = [];
const COLLECTIONS = ["charge_automatically", "send_invoice"] as const;
for (const collection of COLLECTIONS) {
  const c = { collection, netDays: 14 } as const;
  const lifecycles: Array<[string, boolean, (id: string, customer: string) => SubscriptionFixture]> = [
    ["active", true, (id, customer) => at.active({ id, customer, ...c })],
    ["trialing", true, (id, customer) => at.trialing({ id, customer, trialEndsInDays: 4 })],
    ["past_due inside the grace", true, (id, customer) => at.pastDue({ id, customer, ...c, daysLate: GRACE_DAYS - 2 })],
    ["past_due past the grace", false, (id, customer) => at.pastDue({ id, customer, ...c, daysLate: GRACE_DAYS + 3 })],
    ["past_due across a renewal", false, (id, customer) => at.pastDue({ id, customer, ...c, daysLate: 40 })],
    ["unpaid", false, (id, customer) => at.unpaid({ id, customer, ...c, daysLate: 30 })],
    ["canceled", false, (id, customer) => at.canceled({ id, customer, ...c, endedDaysAgo: 2 })],
    ["incomplete", false, (id, customer) => at.incomplete({ id, customer, ...c, hoursAgo: 3 })],
    ["incomplete_expired", false, (id, customer) => at.incompleteExpired({ id, customer, daysAgo: 2 })],
    ["paused", false, (id, customer) => at.paused({ id, customer, trialEndedDaysAgo: 3 })],
    ["collection paused", true, (id, customer) => at.pausedCollection({ id, customer, resumesInDays: 10 })],
    ["trial converted and paid", true, (id, customer) => at.trialConverting({ id, customer, ...c, trialEndedDaysAgo: 3, paid: true })],
    // An invoiced trial falls past due only net days after the trial's end.
    [
      "trial converted unpaid, inside the grace",
      true,
      (id, customer) =>
        at.trialConverting({ id, customer, ...c, trialEndedDaysAgo: (collection === "send_invoice" ? 14 : 0) + 3, paid: false }),
    ],
    [
      "trial converted unpaid, past the grace",
      false,
      (id, customer) =>
        at.trialConverting({ id, customer, ...c, trialEndedDaysAgo: (collection === "send_invoice" ? 14 : 0) + 10, paid: false }),
    ],
  ];
  for (const [name, entitled, make] of lifecycles) {
    for (const cancelAtPeriodEnd of [false, true]) {
      rows.push({
        name: `${name}, ${collection}${cancelAtPeriodEnd ? ", cancel_at_period_end" : ""}`,
        from: entitled ? "free" : "pro",
        to: entitled ? "pro" : "free",
        subscriptions: (customer, n) => {
          const sub = make(`sub_${n}`, customer);
          // Canceling at the period's end changes nothing until the period ends.
          return [
            cancelAtPeriodEnd && sub.status !== "canceled" ? { ...sub, cancelAtPeriodEnd: true, cancelAt: sub.currentPeriodEnd } : sub,
          ];
        },
      });
    }
  }
}
rows.push(
  {
    name: "several items: the highest-ranked plan",
    from: "free",
    to: "business",
    subscriptions: (customer, n) => [at.active({ id: `sub_${n}`, customer, prices: ["price_starter", "price_business"] })],
  },
  {
    name: "several subscriptions: the entitled one decides",
    from: "business",
    to: "starter",
    subscriptions: (customer, n) => [
      at.canceled({ id: `sub_${n}_a`, customer, prices: ["price_business"], endedDaysAgo: 5 }),
      at.active({ id: `sub_${n}_b`, customer, prices: ["price_starter"] }),
    ],
  },
  {
    name: "an unmapped price on an entitled subscription keeps the plan",
    from: "business",
    to: "business",
    subscriptions: (customer, n) => [at.active({ id: `sub_${n}`, customer, prices: ["price_pro", "price_seats_2027"] })],
  },
  {
    name: "an unmapped price on a lapsed subscription does not",
    from: "pro",
    to: "free",
    subscriptions: (customer, n) => [at.canceled({ id: `sub_${n}`, customer, prices: ["price_legacy"], endedDaysAgo: 4 })],
  },
  {
    name: "a new price found by its lookup key",
    from: "free",
    to: "pro",
    subscriptions: (customer, n) => [at.active({ id: `sub_${n}`, customer, prices: [{ id: "price_1New", lookupKey: "pro_monthly" }] })],
  },
  {
    name: "a new price found by its product",
    from: "starter",
    to: "business",
    subscriptions: (customer, n) => [at.active({ id: `sub_${n}`, customer, prices: [{ id: "price_1Biz", product: "prod_business" }] })],
  },
);

const API_VERSIONS = [undefined, "2024-06-20"] as const;

for (const { dialect, available } of await probeDialects(["sqlite", "postgres"])) {
  describe.skipIf(!available)(`billing-sync decision table on ${dialect}`, () => {
    for (const apiVersion of API_VERSIONS) {
      it(`decides every row as the table says (API ${apiVersion ?? "the client's own"})`, async () => {
        const database = await createTestDatabase(dialect);
        const server = await startStripeServer();
        try {
          const customers = rows.map((_, n) => `cus_${String(n).padStart(3, "0")}`);
          server.setSubscriptions(rows.flatMap((row, n) => row.subscriptions(customers[n] as string, n)));
          await createAccountsTable(database.knex, "accounts");
          await database
            .knex("accounts")
            .insert(
              rows.map((row, n) => ({ stripe_customer_id: customers[n], plan: row.from, updated_at: new Date(T0.getTime() - 86_400_000) })),
            );
          const stripe = new Stripe("sk_test_decisions", {
            ...server.clientOptions,
            maxNetworkRetries: 1,
            telemetry: false,
            ...(apiVersion ? { apiVersion: apiVersion as Stripe.LatestApiVersion } : {}),
          });
          const upkeep = registerTasks(manualAdapter(), {
            db: database.knex,
            clock: () => T0,
            logger: silentLogger,
            tasks: [
              billingSyncTask({
                stripe,
                mode: "test",
                plans: PLANS,
                ranks: RANKS,
                pastDueGrace: `${GRACE_DAYS}d`,
                guard: { maxDowngradeShare: 1 },
              }),
            ],
          });
          const record = await upkeep.run("billing-sync");
          expect(record.status, record.errorMessage ?? "").toBe("succeeded");
          const stored: Array<{ stripe_customer_id: string; plan: string }> = await database
            .knex("accounts")
            .select("stripe_customer_id", "plan");
          const plans = new Map(stored.map((row) => [row.stripe_customer_id, row.plan]));
          const decided = rows.map((row, n) => `${row.name}: ${plans.get(customers[n] as string)}`);
          expect(decided).toEqual(rows.map((row) => `${row.name}: ${row.to}`));
          const result = record.result as BillingSyncResult;
          expect(result.unmapped).toBe(1);
          expect(server.stats.listRequests).toBe(1);
          expect(server.stats.lastApiVersion).toBe(apiVersion ?? Stripe.API_VERSION);
        } finally {
          await server.close();
          await database.destroy();
        }
      });
    }
  });
}
