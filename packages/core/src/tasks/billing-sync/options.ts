import * as z from "zod";
import { type Duration, parseDuration } from "../../duration.ts";
import { isStripeClient, type StripeClient } from "./stripe-client.ts";

/** The host's account table and the columns billing-sync reads and writes. */
export interface BillingAccountsOptions {
  /** The host's account table (`schema.table` allowed). @default "accounts" */
  table?: string;
  /** The accounts table's primary key column. @default "id" */
  id?: string;
  /** The Stripe customer id; NULL marks a comped account, which is never touched. @default "stripe_customer_id" */
  customerId?: string;
  /** The local plan name. @default "plan" */
  plan?: string;
  /** Where the deciding subscription's id is written; `null` to keep no such column. @default "stripe_subscription_id" */
  subscriptionId?: string | null;
  /** Where the deciding subscription's status is written; `null` for none. @default "subscription_status" */
  status?: string | null;
  /** Where the deciding subscription's current period end is written; `null` for none. @default "current_period_end" */
  currentPeriodEnd?: string | null;
  /**
   * The account's last-change time. An account changed after the listing started (a webhook that
   * landed meanwhile) is left alone; billing-sync sets it on every account it changes.
   * @default "updated_at"
   */
  updatedAt?: string;
  /**
   * How the time columns (`updatedAt`, `currentPeriodEnd`) are stored: a date/timestamp column,
   * or a number of epoch milliseconds.
   * @default "date"
   */
  timeFormat?: "date" | "epoch-ms";
}

/** The safety guard against a run that would downgrade too many paying accounts at once. */
export interface BillingGuardOptions {
  /**
   * Refuse a run that would downgrade more than this share of the paid accounts (0–1). One
   * downgrade is always allowed, so a small customer base is not blocked by a single lapse.
   * @default 0.2
   */
  maxDowngradeShare?: number;
  /** Refuse a run that would downgrade more than this many accounts. @default unlimited */
  maxDowngrades?: number;
}

/** Accounts the sweep never moves to a lower plan: hand-granted plans, staff-marked accounts. */
export interface BillingNeverDowngradeOptions {
  /** Accounts on one of these plans are never downgraded (such as `["enterprise"]`). @default [] */
  plans?: string[];
  /**
   * A column of the accounts table; an account whose value is true (or 1) is never downgraded.
   * `null` for no such column.
   * @default null
   */
  column?: string | null;
}

/** Options of `billingSyncTask`. */
export interface BillingSyncOptions {
  /** The host's own Stripe client (`new Stripe(key, { maxNetworkRetries: 2 })`); its retry setting is used. */
  stripe: StripeClient;
  /**
   * Which kind of key the client must hold. A client whose key is of the other mode is refused
   * before anything is listed, and every listed subscription's `livemode` is checked too.
   * @default "live"
   */
  mode?: "live" | "test";
  /**
   * Maps Stripe prices to local plan names. Each key is a price id (`price_…`), a price lookup key
   * (`pro_monthly`) or a product id (`prod_…`). For each subscription item the price id wins, then
   * the price's lookup key, then its product's id.
   */
  plans: Record<string, string>;
  /**
   * Rank of each plan; when a customer has several entitled subscriptions the highest-ranked plan
   * wins, and a move to a lower rank is a downgrade. Unranked plans rank 0; the free plan ranks
   * below every plan.
   * @default {}
   */
  ranks?: Record<string, number>;
  /** The plan a lapsed account is moved to. @default "free" */
  freePlan?: string;
  /** How long a `past_due` subscription stays entitled, counted from its current period's start. @default "7d" */
  pastDueGrace?: Duration;
  /** The host's account table and the columns billing-sync reads and writes. @default the defaults of each field */
  accounts?: BillingAccountsOptions;
  /**
   * What to do with an account whose Stripe customer has no subscription in the listing at all:
   * `keep` it (the safe default: a listing that ended early cannot downgrade it) or `downgrade` it.
   * @default "keep"
   */
  missing?: "keep" | "downgrade";
  /** The guard that refuses a run downgrading too many paying accounts at once. @default { maxDowngradeShare: 0.2 } */
  guard?: BillingGuardOptions;
  /**
   * Accounts never downgraded by the sweep (they may still be upgraded); off by default. Each one
   * the sweep would have downgraded is counted in `neverDowngraded`.
   * @default { plans: [], column: null }
   */
  neverDowngrade?: BillingNeverDowngradeOptions;
  /** Apply changes even when the guard refuses them (for a one-off manual run). @default false */
  force?: boolean;
  /** Accounts updated per transaction. @default 100 */
  batchSize?: number;
  /**
   * Times the listing resumes from where it stopped after a 429 rate-limit answer (which the
   * client itself does not retry), waiting for `Retry-After`.
   * @default 3
   */
  rateLimitRetries?: number;
  /** The longest wait for one `Retry-After`. @default "30s" */
  maxRateLimitWait?: Duration;
  /** Most account or customer ids listed in the run result per kind; counts are always complete. @default 1000 */
  reportLimit?: number;
  /** The task id. @default "billing-sync" */
  id?: string;
  /** @default "0 2 * * *" */
  schedule?: string;
  /** The IANA time zone of the schedule. @default the configuration's timezone */
  timezone?: string;
}

const duration = z.union([z.number(), z.string()]).refine((value) => parseDuration(value) !== undefined, {
  message: "expected milliseconds or a duration such as '30s', '15m', '1h', '7d'",
});
const column = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "expected a column name");
const table = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63})?$/, "expected a table name");

export const billingSyncInput = z
  .object({
    /** The host's own Stripe client (`new Stripe(key, { maxNetworkRetries: 2 })`); its retry setting is used. */
    stripe: z.custom<StripeClient>(isStripeClient, "expected a Stripe client (new Stripe(key))"),
    /**
     * Which kind of key the client must hold. A client whose key is of the other mode is refused
     * before anything is listed, and every listed subscription's `livemode` is checked too.
     * @default "live"
     */
    mode: z.enum(["live", "test"]).default("live"),
    /** Maps Stripe price ids, price lookup keys and product ids to local plan names. */
    plans: z
      .record(z.string().min(1), z.string().min(1))
      .refine((plans) => Object.keys(plans).length > 0, "expected at least one price id, lookup key or product id mapped to a plan"),
    /**
     * Rank of each plan; when a customer has several entitled subscriptions the highest-ranked plan
     * wins, and a move to a lower rank is a downgrade. Unranked plans rank 0; the free plan ranks
     * below every plan.
     * @default {}
     */
    ranks: z.record(z.string().min(1), z.number().finite()).default({}),
    /** The plan a lapsed account is moved to. @default "free" */
    freePlan: z.string().min(1).default("free"),
    /** How long a `past_due` subscription stays entitled, counted from its current period's start. @default "7d" */
    pastDueGrace: duration.default("7d").transform((value) => parseDuration(value) as number),
    /** The host's account table and the columns billing-sync reads and writes. */
    accounts: z
      .object({
        /** The host's account table (`schema.table` allowed). @default "accounts" */
        table: table.default("accounts"),
        /** The accounts table's primary key column. @default "id" */
        id: column.default("id"),
        /** The Stripe customer id; NULL marks a comped account, which is never touched. @default "stripe_customer_id" */
        customerId: column.default("stripe_customer_id"),
        /** The local plan name. @default "plan" */
        plan: column.default("plan"),
        /** Where the deciding subscription's id is written; `null` to keep no such column. @default "stripe_subscription_id" */
        subscriptionId: column.nullable().default("stripe_subscription_id"),
        /** Where the deciding subscription's status is written; `null` for none. @default "subscription_status" */
        status: column.nullable().default("subscription_status"),
        /** Where the deciding subscription's current period end is written; `null` for none. @default "current_period_end" */
        currentPeriodEnd: column.nullable().default("current_period_end"),
        /**
         * The account's last-change time. An account changed after the listing started (a webhook that
         * landed meanwhile) is left alone; billing-sync sets it on every account it changes.
         * @default "updated_at"
         */
        updatedAt: column.default("updated_at"),
        /**
         * How the time columns (`updatedAt`, `currentPeriodEnd`) are stored: a date/timestamp column,
         * or a number of epoch milliseconds.
         * @default "date"
         */
        timeFormat: z.enum(["date", "epoch-ms"]).default("date"),
      })
      .strict()
      .prefault({}),
    /**
     * What to do with an account whose Stripe customer has no subscription in the listing at all:
     * `keep` it (the safe default: a listing that ended early cannot downgrade it) or `downgrade` it.
     * @default "keep"
     */
    missing: z.enum(["keep", "downgrade"]).default("keep"),
    /** The guard that refuses a run downgrading too many paying accounts at once. */
    guard: z
      .object({
        /**
         * Refuse a run that would downgrade more than this share of the paid accounts (0–1). One
         * downgrade is always allowed, so a small customer base is not blocked by a single lapse.
         * @default 0.2
         */
        maxDowngradeShare: z.number().min(0).max(1).default(0.2),
        /** Refuse a run that would downgrade more than this many accounts. @default unlimited */
        maxDowngrades: z.number().int().min(0).optional(),
      })
      .strict()
      .prefault({}),
    /**
     * Accounts never downgraded by the sweep (they may still be upgraded); off by default. Each one
     * the sweep would have downgraded is counted in `neverDowngraded`.
     * @default { plans: [], column: null }
     */
    neverDowngrade: z
      .object({
        /** Accounts on one of these plans are never downgraded. @default [] */
        plans: z.array(z.string().min(1)).default([]),
        /**
         * A column of the accounts table; an account whose value is true (or 1) is never downgraded.
         * `null` for no such column.
         * @default null
         */
        column: column.nullable().default(null),
      })
      .strict()
      .prefault({}),
    /** Apply changes even when the guard refuses them (for a one-off manual run). @default false */
    force: z.boolean().default(false),
    /** Accounts updated per transaction. @default 100 */
    batchSize: z.number().int().min(1).max(5000).default(100),
    /**
     * Times the listing resumes from where it stopped after a 429 rate-limit answer (which the
     * client itself does not retry), waiting for `Retry-After`.
     * @default 3
     */
    rateLimitRetries: z.number().int().min(0).max(20).default(3),
    /** The longest wait for one `Retry-After`. @default "30s" */
    maxRateLimitWait: duration.default("30s").transform((value) => parseDuration(value) as number),
    /** Most account or customer ids listed in the run result per kind; counts are always complete. @default 1000 */
    reportLimit: z.number().int().min(0).max(100_000).default(1000),
  })
  .strict();

/** The validated input a run receives. */
export type BillingSyncInput = z.output<typeof billingSyncInput>;
