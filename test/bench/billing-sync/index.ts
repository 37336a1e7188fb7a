// billing-sync: one listing of every subscription (100 a page) against the origin's approach of one
// Stripe lookup per account, both through the real `stripe` client and the testkit's local server.
import { billingSyncTask, manualAdapter, registerTasks, silentLogger } from "@upkeep/core";
import { createTestDatabase, type SubscriptionFixture, startStripeServer } from "@upkeep/testkit";
import Stripe from "stripe";
import { bench, timed } from "../lib.ts";

const PLANS = { price_starter: "starter", price_pro: "pro" };
const BASELINE_CONCURRENCY = 8;
/** The origin's lookups are timed on at most this many accounts (a rate); its request count is one per account. */
const BASELINE_SAMPLE = 20_000;
const now = new Date();
const nowS = Math.floor(now.getTime() / 1000);
const result = bench("billing-sync");

/** 90% active pro, 8% canceled, 2% trialing starter. */
function fixtures(count: number): SubscriptionFixture[] {
  return Array.from({ length: count }, (_, i) => {
    const status = i % 50 < 4 ? "canceled" : i % 50 === 4 ? "trialing" : "active";
    return {
      id: `sub_${String(i).padStart(7, "0")}`,
      customer: `cus_${i}`,
      status,
      prices: [status === "trialing" ? "price_starter" : "price_pro"],
      created: nowS - 20 * 86_400,
    };
  });
}

for (const count of [10_000, 100_000]) {
  const server = await startStripeServer({ subscriptions: fixtures(count) });
  const stripe = new Stripe("sk_test_bench", { ...server.clientOptions, maxNetworkRetries: 2, telemetry: false });
  const database = await createTestDatabase("sqlite");
  const db = database.knex;
  await db.schema.createTable("accounts", (t) => {
    t.increments("id");
    t.string("stripe_customer_id").nullable();
    t.string("plan").notNullable();
    t.string("stripe_subscription_id").nullable();
    t.string("subscription_status").nullable();
    t.datetime("current_period_end").nullable();
    t.datetime("updated_at").nullable();
  });
  // The steady state of a daily run: accounts mirror Stripe except the ~12% whose webhooks were missed.
  const subs = fixtures(count);
  const rows = subs.map((sub, i) => {
    const inSync = sub.status === "active" && i % 25 !== 0;
    return {
      stripe_customer_id: sub.customer,
      plan: inSync ? "pro" : sub.status === "trialing" ? "free" : "pro",
      stripe_subscription_id: inSync ? sub.id : null,
      subscription_status: inSync ? sub.status : null,
      current_period_end: inSync ? new Date(((sub.created as number) + 30 * 86_400) * 1000) : null,
      updated_at: new Date(now.getTime() - 86_400_000),
    };
  });
  await db.batchInsert("accounts", rows, 400);

  const upkeep = registerTasks(manualAdapter(), {
    db,
    logger: silentLogger,
    tasks: [billingSyncTask({ stripe, mode: "test", plans: PLANS, ranks: { starter: 1, pro: 2 }, batchSize: 500 })],
  });
  await upkeep.migrate();
  const ours = await timed(() => upkeep.run("billing-sync"));
  if (ours.value.status !== "succeeded") throw new Error(`billing-sync ${ours.value.status}: ${ours.value.errorMessage}`);
  const ourRequests = server.stats.requests;
  const summary = ours.value.result as { upgraded: number; downgraded: number; updated: number };
  console.log(
    `# ${count}: ${ourRequests} requests, ${summary.upgraded} upgraded, ${summary.downgraded} downgraded, ${summary.updated} updated in ${Math.round(ours.ms)} ms`,
  );

  // The origin: for each account, ask Stripe for that customer's subscriptions (decision only, no writes).
  server.reset();
  const customers: string[] = (await db("accounts").select("stripe_customer_id").limit(BASELINE_SAMPLE)).map(
    (row: { stripe_customer_id: string }) => row.stripe_customer_id,
  );
  let next = 0;
  let entitled = 0;
  const baseline = await timed(() =>
    Promise.all(
      Array.from({ length: BASELINE_CONCURRENCY }, async () => {
        while (next < customers.length) {
          const customer = customers[next++] as string;
          // The same expansion as ours, so both read the same objects.
          const page = await stripe.subscriptions.list({ customer, status: "all", limit: 100, expand: ["data.latest_invoice"] });
          if (page.data.some((sub) => sub.status === "active" || sub.status === "trialing")) entitled++;
        }
      }),
    ),
  );
  const perAccount = server.stats.requests / customers.length;
  const baselineRequests = perAccount * count;
  console.log(
    `# ${count}: baseline ${server.stats.requests} requests for ${customers.length} accounts (${entitled} entitled) in ${Math.round(baseline.ms)} ms`,
  );

  const label = count >= 1000 ? `${count / 1000}k` : String(count);
  result.report({ metric: `requests_${label}`, ours: ourRequests, baseline: baselineRequests, unit: "requests" });
  result.report({
    metric: `reconciled_per_s_${label}`,
    ours: count / (ours.ms / 1000),
    baseline: customers.length / (baseline.ms / 1000),
    unit: "accounts/s",
  });
  await server.close();
  await database.destroy();
}
result.write();
