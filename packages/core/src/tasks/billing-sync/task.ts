import { TaskError } from "../../errors.ts";
import { defineTask, type TaskContext, type TaskDefinition, type TaskEvent } from "../../task.ts";
import { type AccountChange, type AccountId, type AccountRow, applyChanges, countComped, differs, readAccounts } from "./accounts.ts";
import { type CustomerSummary, foldSubscription, type PlanMapGap, type PlanRules, rankOf, targetOf } from "./entitlement.ts";
import { type GuardVerdict, judgeDowngrades } from "./guard.ts";
import { customerOf, listAllSubscriptions } from "./listing.ts";
import { type BillingSyncInput, type BillingSyncOptions, billingSyncInput } from "./options.ts";
import { loadPastDue, pastDueSince, pastDueTable, savePastDue } from "./past-due.ts";
import { keyModeOf } from "./stripe-client.ts";

/** A change as a dry run reports it. */
export interface BillingChangeReport {
  /** The local account's id. */
  accountId: AccountId;
  /** What the change is: an upgrade, a downgrade, or a refresh of the subscription fields. */
  kind: AccountChange["kind"];
  /** The account's plan before; null when it had none. */
  fromPlan: string | null;
  /** The plan the account moves (or stays) to. */
  toPlan: string;
  /** The deciding subscription's id; null when the account lapses to the free plan without one. */
  subscriptionId: string | null;
  /** The deciding subscription's Stripe status; null when there is no deciding subscription. */
  status: string | null;
}

/** What a billing-sync run returns (stored as the run's result): counts and ids, never a key. */
export interface BillingSyncResult {
  /** Whether this was a dry run, which changed nothing. */
  dryRun: boolean;
  /** Subscriptions listed, of every status. */
  subscriptions: number;
  /** Distinct Stripe customers among them. */
  customers: number;
  /** Local accounts with a Stripe customer that were compared. */
  accounts: number;
  /** Accounts among them on a plan other than the free plan. */
  paidAccounts: number;
  /** Accounts moved to a higher-ranked plan. */
  upgraded: number;
  /** Accounts moved to a lower-ranked plan (or the free plan). */
  downgraded: number;
  /** Same plan, other subscription fields refreshed (status, subscription id, period end). */
  updated: number;
  /** Accounts already matching Stripe, left as they were. */
  unchanged: number;
  /** Accounts with no Stripe customer, never touched. */
  comped: number;
  /** Changes not made because the account changed after the listing started (a webhook won). */
  skippedConcurrent: number;
  /** Accounts kept because their customer has no subscription in the listing. */
  missing: number;
  /**
   * Accounts kept as they are because an entitled subscription carries a price the plan map does not
   * know (each also gets a warning line and a `billing.unmapped` event), or every subscription has a
   * status billing-sync does not know.
   */
  unmapped: number;
  /** Stripe customers with subscriptions but no local account: reported, never created. */
  unknownCustomers: number;
  /** Downgrades not made because the account is on a `neverDowngrade` plan or marked by its column. */
  neverDowngraded: number;
  /** The ids of the `neverDowngraded` accounts, up to `reportLimit`. */
  neverDowngradedIds: AccountId[];
  /** Subscriptions skipped because they have no customer (malformed data). */
  withoutCustomer: number;
  /** The ids of the subscriptions without a customer, up to `reportLimit`. */
  withoutCustomerIds: string[];
  /** The ids of the unknown Stripe customers, up to `reportLimit`. */
  unknownCustomerIds: string[];
  /** Price ids seen in Stripe that `plans` does not map. */
  unmappedPriceIds: string[];
  /** The ids of the upgraded accounts, up to `reportLimit`. */
  upgradedIds: AccountId[];
  /** The ids of the downgraded accounts, up to `reportLimit`. */
  downgradedIds: AccountId[];
  /** The ids of the refreshed accounts, up to `reportLimit`. */
  updatedIds: AccountId[];
  /** The ids of the accounts skipped because they changed meanwhile, up to `reportLimit`. */
  skippedConcurrentIds: AccountId[];
  /** What the downgrade guard decided. */
  guard: GuardVerdict;
  /** A dry run's list of every change it would make (up to `reportLimit`). */
  changes?: BillingChangeReport[];
  /** Some id list above was cut at `reportLimit`; the counts are complete. */
  truncated: boolean;
}

const SECOND = 1000;

function capped<T>(values: Iterable<T>, limit: number, note: () => void): T[] {
  const out: T[] = [];
  for (const value of values) {
    if (out.length >= limit) {
      note();
      break;
    }
    out.push(value);
  }
  return out;
}

/**
 * A plan map gap: the account keeps its plan, and the host hears of it (a warning line and a
 * `billing.unmapped` event, none in a dry run) so that it can map the price.
 */
function reportGap(ctx: TaskContext, account: AccountRow, gaps: readonly PlanMapGap[]): void {
  const data = {
    accountId: account.id,
    customerId: account.customerId,
    plan: account.plan,
    subscriptionIds: gaps.map((gap) => gap.subscriptionId),
    priceIds: [...new Set(gaps.flatMap((gap) => gap.priceIds))],
  };
  ctx.logger.warn(data, "[upkeep] billing-sync kept an account's plan: an entitled subscription has an unmapped price");
  if (!ctx.dryRun) ctx.emit({ type: "billing.unmapped", severity: "warning", data });
}

/**
 * Most accounts' customers have no subscription at all in the listed Stripe account: with a key of
 * the right mode, that is a key to another Stripe account (or customer ids from one). The accounts
 * are kept (`missing`); this says why loudly, as a warning line and a `billing.customers_missing` event.
 */
function reportMostMissing(ctx: TaskContext, missing: number, accounts: number, customers: number): void {
  const data = { missing, accounts, customersInStripe: customers };
  ctx.logger.warn(
    data,
    "[upkeep] billing-sync: most accounts' Stripe customers have no subscription in this Stripe account; the key most likely belongs to another Stripe account of the same mode, or the accounts' customer ids come from another account. They were kept, not downgraded",
  );
  if (!ctx.dryRun) ctx.emit({ type: "billing.customers_missing", severity: "warning", data });
}

/** The `billing.upgraded` / `billing.downgraded` event of an applied plan change. */
function planEvent(change: AccountChange): TaskEvent {
  return {
    type: change.kind === "upgrade" ? "billing.upgraded" : "billing.downgraded",
    severity: change.kind === "downgrade" ? "warning" : "info",
    data: {
      accountId: change.accountId,
      customerId: change.customerId,
      from: change.from.plan,
      to: change.to.plan,
      subscriptionId: change.to.subscriptionId,
      status: change.to.status,
    },
  };
}

async function sync(ctx: TaskContext, input: BillingSyncInput): Promise<BillingSyncResult> {
  const db = ctx.db;
  if (!db) throw new TaskError("billing-sync needs the host's database: set `db` in the upkeep config", { reason: "NO_DATABASE" });
  const { accounts: columns } = input;
  const log = ctx.logger;

  const keyMode = keyModeOf(input.stripe);
  if (keyMode !== undefined && keyMode !== input.mode) {
    throw new TaskError(
      `billing-sync refused: the Stripe client holds a ${keyMode}-mode key but mode is "${input.mode}"; nothing was listed or changed`,
      { reason: "STRIPE_KEY_MODE" },
    );
  }
  if (keyMode === undefined)
    log.warn({ mode: input.mode }, "[upkeep] billing-sync cannot tell the client's key mode; checking each subscription's livemode");

  const rules: PlanRules = { plans: input.plans, ranks: input.ranks, freePlan: input.freePlan, pastDueGraceMs: input.pastDueGrace };
  const startedMs = ctx.now().getTime();
  const cutoffMs = Math.floor(startedMs / SECOND) * SECOND;
  const summaries = new Map<string, CustomerSummary>();
  const unmappedPrices = new Set<string>();
  const ledger = pastDueTable(ctx.tablePrefix);
  const recordedPastDue = await loadPastDue(db, ledger);
  const pastDue = new Map<string, number>();
  const noLongerPastDue: string[] = [];
  const withoutCustomer: string[] = [];
  const subscriptions = await listAllSubscriptions(input.stripe, {
    mode: input.mode,
    signal: ctx.signal,
    logger: log,
    rateLimitRetries: input.rateLimitRetries,
    maxRateLimitWaitMs: input.maxRateLimitWait,
    onSubscription(sub) {
      const customer = customerOf(sub);
      if (customer === undefined) {
        withoutCustomer.push(sub.id);
        return;
      }
      let since: number | undefined;
      if (sub.status === "past_due") {
        since = pastDueSince(sub, recordedPastDue.get(sub.id), startedMs);
        pastDue.set(sub.id, since);
      } else if (recordedPastDue.has(sub.id)) noLongerPastDue.push(sub.id);
      summaries.set(customer, foldSubscription(summaries.get(customer), sub, rules, startedMs, unmappedPrices, since));
    },
    onProgress: (listed) => ctx.progress({ done: listed, unit: "subscriptions", label: "listing" }),
  });
  log.info({ subscriptions, customers: summaries.size }, "[upkeep] billing-sync listed every subscription");
  if (!ctx.dryRun) await savePastDue(db, ledger, pastDue, noLongerPastDue, startedMs);

  const changes: AccountChange[] = [];
  const seenCustomers = new Set<string>();
  const skippedConcurrentIds: AccountId[] = [];
  let accounts = 0;
  let paidAccounts = 0;
  let missing = 0;
  let unmapped = 0;
  let unchanged = 0;
  const neverDowngradePlans = new Set(input.neverDowngrade.plans);
  const neverDowngradedIds: AccountId[] = [];
  for await (const page of readAccounts(db, columns, input.neverDowngrade.column)) {
    for (const account of page) {
      accounts++;
      // A NULL plan is the free plan: not paid, and NULL to free is an update, not an upgrade.
      const current = account.plan ?? input.freePlan;
      if (current !== input.freePlan) paidAccounts++;
      const summary = summaries.get(account.customerId);
      if (summary) seenCustomers.add(account.customerId);
      const decision = targetOf(summary, rules, input.missing === "downgrade");
      if ("keep" in decision) {
        if (decision.keep === "missing") missing++;
        else unmapped++;
        if (summary && summary.gaps.length > 0) reportGap(ctx, account, summary.gaps);
        continue;
      }
      const target = decision.target;
      if (!differs(account, target, columns)) {
        unchanged++;
        continue;
      }
      if (account.updatedAt !== null && account.updatedAt >= cutoffMs) {
        skippedConcurrentIds.push(account.id);
        continue;
      }
      const kind = current === target.plan ? "update" : rankOf(target.plan, rules) < rankOf(current, rules) ? "downgrade" : "upgrade";
      if (kind === "downgrade" && (account.neverDowngrade || neverDowngradePlans.has(current))) {
        neverDowngradedIds.push(account.id);
        continue;
      }
      changes.push({
        accountId: account.id,
        customerId: account.customerId,
        kind,
        from: { plan: account.plan, subscriptionId: account.subscriptionId, status: account.status, periodEnd: account.periodEnd },
        to: target,
      });
    }
    if (ctx.signal.aborted)
      throw new TaskError("billing-sync stopped while comparing accounts; nothing was changed", { reason: "ABORTED" });
  }

  if (missing > 0 && missing * 2 > accounts) reportMostMissing(ctx, missing, accounts, summaries.size);
  if (withoutCustomer.length > 0)
    log.warn({ subscriptions: withoutCustomer.length }, "[upkeep] billing-sync skipped subscriptions that have no customer");

  const downgrades = changes.filter((change) => change.kind === "downgrade").length;
  const guard = judgeDowngrades(downgrades, paidAccounts, input.guard, input.force);
  if (guard.tripped && !input.force && !ctx.dryRun) {
    throw new TaskError(
      `billing-sync refused: it would downgrade ${downgrades} of ${paidAccounts} paid accounts (allowed ${guard.allowed}); nothing was changed. Check the Stripe key and the plan map, or run once with force: true`,
      { reason: "BILLING_GUARD" },
    );
  }
  if (guard.tripped && input.force && !ctx.dryRun)
    log.warn({ downgrades, paidAccounts }, "[upkeep] billing-sync guard overridden by force");

  let truncated = false;
  const note = () => {
    truncated = true;
  };
  const applied: AccountChange[] = [];
  if (ctx.dryRun) {
    for (const change of changes) {
      log.info(
        { accountId: change.accountId, kind: change.kind, from: change.from.plan, to: change.to.plan, status: change.to.status },
        "[upkeep] billing-sync dry run: would change account",
      );
    }
    applied.push(...changes);
  } else {
    for (let start = 0; start < changes.length; start += input.batchSize) {
      if (ctx.signal.aborted) break;
      const batch = changes.slice(start, start + input.batchSize);
      // The batch's plan changes and their events commit in one transaction.
      const took = await applyChanges(db, columns, batch, cutoffMs, ctx.now().getTime(), async (trx, changed) => {
        const events = changed.filter((change) => change.kind !== "update").map(planEvent);
        if (events.length > 0) await ctx.emit(events, { trx });
      });
      const tookSet = new Set(took);
      for (const change of batch) if (!tookSet.has(change)) skippedConcurrentIds.push(change.accountId);
      applied.push(...took);
      ctx.progress({ done: Math.min(start + batch.length, changes.length), total: changes.length, unit: "accounts", label: "applying" });
    }
  }

  const idsOf = (kind: AccountChange["kind"]) =>
    capped(
      applied.filter((change) => change.kind === kind).map((change) => change.accountId),
      input.reportLimit,
      note,
    );
  const unknown = [...summaries.keys()].filter((customer) => !seenCustomers.has(customer));
  const count = (kind: AccountChange["kind"]) => applied.filter((change) => change.kind === kind).length;
  const result: BillingSyncResult = {
    dryRun: ctx.dryRun,
    subscriptions,
    customers: summaries.size,
    accounts,
    paidAccounts,
    upgraded: count("upgrade"),
    downgraded: count("downgrade"),
    updated: count("update"),
    unchanged,
    comped: await countComped(db, columns),
    skippedConcurrent: skippedConcurrentIds.length,
    neverDowngraded: neverDowngradedIds.length,
    neverDowngradedIds: capped(neverDowngradedIds, input.reportLimit, note),
    withoutCustomer: withoutCustomer.length,
    withoutCustomerIds: capped(withoutCustomer, input.reportLimit, note),
    missing,
    unmapped,
    unknownCustomers: unknown.length,
    unknownCustomerIds: capped(unknown, input.reportLimit, note),
    unmappedPriceIds: capped(unmappedPrices, input.reportLimit, note),
    upgradedIds: idsOf("upgrade"),
    downgradedIds: idsOf("downgrade"),
    updatedIds: idsOf("update"),
    skippedConcurrentIds: capped(skippedConcurrentIds, input.reportLimit, note),
    guard,
    truncated: false,
  };
  if (ctx.dryRun) {
    result.changes = capped(
      changes.map((change) => ({
        accountId: change.accountId,
        kind: change.kind,
        fromPlan: change.from.plan,
        toPlan: change.to.plan,
        subscriptionId: change.to.subscriptionId,
        status: change.to.status,
      })),
      input.reportLimit,
      note,
    );
  }
  result.truncated = truncated;
  if (ctx.signal.aborted && !ctx.dryRun) {
    log.warn(
      { applied: applied.length, planned: changes.length },
      "[upkeep] billing-sync stopped between batches; a rerun finishes the rest",
    );
  }
  if (unknown.length > 0)
    log.info({ unknownCustomers: unknown.length }, "[upkeep] billing-sync found Stripe customers with no local account");
  return result;
}

/**
 * The built-in `billing-sync` task: reconciles local plans with Stripe subscriptions, the backstop
 * for missed webhooks. Lists every subscription once, decides each account's plan, and applies
 * upgrades and downgrades in batched compare-and-set transactions behind a mass-downgrade guard.
 */
export function billingSyncTask(options: BillingSyncOptions): TaskDefinition<BillingSyncInput, BillingSyncResult> {
  const { id, schedule, timezone, ...input } = options;
  return defineTask<BillingSyncInput, BillingSyncResult>({
    needsDb: true,
    id: id ?? "billing-sync",
    description: "Reconciles local plans with Stripe subscriptions: downgrades lapsed paid accounts, upgrades entitled ones",
    schedule: schedule ?? "0 2 * * *",
    timezone,
    input: billingSyncInput,
    defaultInput: input,
    run: sync,
  });
}
