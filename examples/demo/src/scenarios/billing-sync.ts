import { billingSyncTask } from "@upkeep/core";
import { type StripeServer, startStripeServer } from "@upkeep/testkit";
import Stripe from "stripe";
import type { DemoScenario } from "../scenario.ts";

const DAY = 86_400;
let server: StripeServer | undefined;
let stripe: Stripe | undefined;
let before: Record<string, string> = {};

const ACCOUNTS = [
  { name: "acme", customer: "cus_acme", plan: "free" },
  { name: "globex", customer: "cus_globex", plan: "pro" },
  { name: "initech", customer: "cus_initech", plan: "pro" },
  { name: "umbrella", customer: "cus_umbrella", plan: "pro" },
  { name: "stark", customer: "cus_stark", plan: "starter" },
  { name: "hooli (comped)", customer: null, plan: "business" },
];

/** billing-sync against a local Stripe-speaking server (from @upkeep/testkit) and the real `stripe` client. */
export const billingSync: DemoScenario = {
  title: "billing-sync: local plans reconciled with Stripe subscriptions",
  async seed(db, now) {
    const nowS = Math.floor(now.getTime() / 1000);
    const sub = (id: string, customer: string, status: string, price: string, daysAgo: number) => ({
      id,
      customer,
      status,
      prices: [price],
      created: nowS - daysAgo * DAY,
      currentPeriodStart: nowS - daysAgo * DAY,
    });
    server = await startStripeServer({
      subscriptions: [
        sub("sub_acme", "cus_acme", "active", "price_pro", 3),
        sub("sub_globex", "cus_globex", "canceled", "price_pro", 40),
        sub("sub_initech", "cus_initech", "past_due", "price_pro", 2),
        sub("sub_umbrella", "cus_umbrella", "past_due", "price_pro", 10),
        sub("sub_stark", "cus_stark", "trialing", "price_business", 1),
        sub("sub_ghost", "cus_ghost", "active", "price_pro", 5),
      ],
    });
    stripe = new Stripe("sk_test_demo", { ...server.clientOptions, maxNetworkRetries: 2, telemetry: false });
    await db.schema.createTable("demo_accounts", (table) => {
      table.increments("id");
      table.string("name").notNullable();
      table.string("stripe_customer_id").nullable();
      table.string("plan").notNullable();
      table.string("stripe_subscription_id").nullable();
      table.string("subscription_status").nullable();
      table.datetime("current_period_end").nullable();
      table.datetime("updated_at").nullable();
    });
    await db("demo_accounts").insert(
      ACCOUNTS.map((account) => ({
        name: account.name,
        stripe_customer_id: account.customer,
        plan: account.plan,
        updated_at: new Date(now.getTime() - 7 * DAY * 1000),
      })),
    );
    before = Object.fromEntries(ACCOUNTS.map((account) => [account.name, account.plan]));
  },
  tasks: () => [
    {
      task: billingSyncTask({
        stripe: stripe as Stripe,
        mode: "test",
        plans: { price_starter: "starter", price_pro: "pro", price_business: "business" },
        ranks: { starter: 1, pro: 2, business: 3 },
        accounts: { table: "demo_accounts" },
        // Four paid accounts: let two lapse in the demo (the default guard allows 20%, at least one).
        guard: { maxDowngradeShare: 0.5 },
      }),
    },
  ],
  async show(db) {
    const rows: Array<{ name: string; plan: string; subscription_status: string | null }> = await db("demo_accounts")
      .select("name", "plan", "subscription_status")
      .orderBy("id");
    for (const row of rows) {
      const change = before[row.name] === row.plan ? "kept" : `${before[row.name]} → ${row.plan}`;
      console.log(`    ${row.name.padEnd(16)} ${(row.subscription_status ?? "-").padEnd(10)} ${change}`);
    }
    console.log(`    (${server?.stats.listRequests ?? 0} listing request(s) to the local Stripe server)`);
  },
  async close() {
    await server?.close();
  },
};
