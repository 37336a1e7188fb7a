// Stripe's API objects as the local server answers them: subscription, subscription item, price,
// plan, customer and invoice, each with every field of Stripe's published object.
//
// Source: the field sets and value shapes of stripe/openapi `openapi/fixtures3.json` (the published
// example objects, commit f6c2a48fbac2819d1feba8143d942ffc65e1c0d2, API 2026-07-29.dahlia) and the
// type definitions of stripe/stripe-node `src/resources/Subscriptions.ts`, `SubscriptionItems.ts`,
// `Prices.ts`, `Customers.ts`, `Invoices.ts` (commit 663942164d3876f04bb26617b88f498ba785e580).
// The values are ours: realistic for each status (what Stripe sets when a subscription is created,
// renews, fails to collect, is canceled or paused), not the fixtures' placeholders.
//
// Versioning: API 2025-03-31.basil moved `current_period_start`/`current_period_end` from the
// subscription to each item; `periodsOnItems` tells which shape to answer.

/** A price as the local server stores it. */
export interface PriceFixture {
  /** The price id (`price_…`). */
  id: string;
  /** The price's lookup key. @default null */
  lookupKey?: string | null;
  /** The product id. @default `prod_` and the price id's tail */
  product?: string;
  /** Smallest currency unit. @default 2000 */
  unitAmount?: number;
  /** How often the price bills. @default "month" */
  interval?: "day" | "week" | "month" | "year";
}

/** An invoice as the local server stores it (a subscription's `latest_invoice`). */
export interface InvoiceFixture {
  /** The invoice id (`in_…`). */
  id: string;
  /** Stripe's invoice status. */
  status: "draft" | "open" | "paid" | "uncollectible" | "void";
  /** Epoch seconds. */
  created: number;
  /** Epoch seconds: when it was finalized (and, charged automatically, first attempted). @default created + 1 hour, unless a draft */
  finalizedAt?: number | null;
  /** Epoch seconds; set for `send_invoice` invoices. @default null */
  dueDate?: number | null;
  /** Payment attempts made. @default 0 */
  attemptCount?: number;
  /** Epoch seconds of the next automatic attempt. @default null */
  nextPaymentAttempt?: number | null;
  /** Epoch seconds. @default null */
  paidAt?: number | null;
  /** Epoch seconds. @default null */
  voidedAt?: number | null;
  /** Epoch seconds. @default null */
  markedUncollectibleAt?: number | null;
  /** Why Stripe made the invoice. @default "subscription_cycle" */
  billingReason?: "subscription_create" | "subscription_cycle" | "subscription_update" | "manual";
  /** The period the invoice bills (epoch seconds); its lines carry it. */
  periodStart: number;
  /** The end of the period the invoice bills (epoch seconds). */
  periodEnd: number;
  /** Smallest currency unit. @default the sum of the items' unit amounts */
  amountDue?: number;
}

/** A subscription as the local server stores it; the server fills in the rest of Stripe's shape. */
export interface SubscriptionFixture {
  /** The subscription id (`sub_…`). */
  id: string;
  /** The customer id; null plays malformed data. */
  customer: string | null;
  /** Stripe's status: `active`, `trialing`, `past_due`, `canceled`, `unpaid`, `incomplete`, `incomplete_expired`, `paused`. */
  status: string;
  /** One subscription item each: a price id, or a price with its lookup key and product. */
  prices: Array<string | PriceFixture>;
  /** Epoch seconds. @default 1_700_000_000 */
  created?: number;
  /** Epoch seconds of the current period's start. @default created */
  currentPeriodStart?: number;
  /** Epoch seconds of the current period's end. @default currentPeriodStart + 30 days */
  currentPeriodEnd?: number;
  /** How the subscription is paid: charged automatically, or invoiced. @default "charge_automatically" */
  collectionMethod?: "charge_automatically" | "send_invoice";
  /** Net days of a `send_invoice` subscription. @default 30 for send_invoice, else null */
  daysUntilDue?: number | null;
  /** Whether the subscription cancels at the end of its current period. @default false */
  cancelAtPeriodEnd?: boolean;
  /** Epoch seconds. @default currentPeriodEnd when cancelAtPeriodEnd, else null */
  cancelAt?: number | null;
  /** Epoch seconds. @default set for `canceled` and `incomplete_expired`, and when cancelAtPeriodEnd */
  canceledAt?: number | null;
  /** Epoch seconds. @default set for `canceled` and `incomplete_expired` */
  endedAt?: number | null;
  /** Collection paused on a live subscription. @default null */
  pauseCollection?: {
    /** What happens to invoices while paused, as Stripe's `pause_collection.behavior`. */
    behavior: "keep_as_draft" | "mark_uncollectible" | "void";
    /** Epoch seconds when collection resumes; null for no set date. */
    resumesAt: number | null;
  } | null;
  /** Epoch seconds. @default null */
  trialStart?: number | null;
  /** Epoch seconds. @default null */
  trialEnd?: number | null;
  /**
   * The latest invoice. @default one realistic for the status: paid for `active` and `canceled`,
   * a paid zero-amount invoice for `trialing`, open and attempted for `past_due`, `unpaid` and
   * `incomplete`, void for `incomplete_expired`, none for `paused`
   */
  latestInvoice?: InvoiceFixture | null;
  /** The subscription's metadata. @default {} */
  metadata?: Record<string, string>;
}

const HOUR = 3600;
const DAY = 86_400;

/** Whether an API version carries the period fields on items (2025-03-31.basil and later). */
export function periodsOnItems(apiVersion: string): boolean {
  return apiVersion.slice(0, 10) >= "2025-03-31";
}

function tail(id: string): string {
  return id.replace(/^[a-z]+_/, "");
}

/** The defaults of a subscription fixture, filled in. */
export function resolveSubscription(sub: SubscriptionFixture) {
  const created = sub.created ?? 1_700_000_000;
  const start = sub.currentPeriodStart ?? created;
  const end = sub.currentPeriodEnd ?? start + 30 * DAY;
  const collectionMethod = sub.collectionMethod ?? "charge_automatically";
  const cancelAtPeriodEnd = sub.cancelAtPeriodEnd ?? false;
  const ended = sub.status === "canceled" || sub.status === "incomplete_expired";
  const endedAt =
    sub.endedAt !== undefined ? sub.endedAt : ended ? (sub.status === "incomplete_expired" ? created + 23 * HOUR : end) : null;
  const canceledAt = sub.canceledAt !== undefined ? sub.canceledAt : ended ? endedAt : cancelAtPeriodEnd ? start + DAY : null;
  return {
    ...sub,
    created,
    start,
    end,
    collectionMethod,
    daysUntilDue: sub.daysUntilDue !== undefined ? sub.daysUntilDue : collectionMethod === "send_invoice" ? 30 : null,
    cancelAtPeriodEnd,
    cancelAt: sub.cancelAt !== undefined ? sub.cancelAt : cancelAtPeriodEnd ? end : null,
    canceledAt,
    endedAt,
    trialStart: sub.trialStart ?? null,
    trialEnd: sub.trialEnd ?? null,
    pauseCollection: sub.pauseCollection ?? null,
  };
}
type Resolved = ReturnType<typeof resolveSubscription>;

const priceOf = (price: string | PriceFixture): PriceFixture => (typeof price === "string" ? { id: price } : price);

/** The invoice a subscription of this status would have as its latest, when the fixture names none. */
export function defaultInvoice(sub: Resolved): InvoiceFixture | null {
  const id = `in_${tail(sub.id)}`;
  const amount = sub.prices.reduce((sum, price) => sum + (priceOf(price).unitAmount ?? 2000), 0);
  const base = { id, created: sub.start, periodStart: sub.start, periodEnd: sub.end, amountDue: amount };
  const sendInvoice = sub.collectionMethod === "send_invoice";
  const dueDate = sendInvoice ? sub.start + HOUR + (sub.daysUntilDue ?? 30) * DAY : null;
  switch (sub.status) {
    case "paused":
      return null;
    case "trialing":
      return { ...base, status: "paid", amountDue: 0, billingReason: "subscription_create", paidAt: sub.start + HOUR, dueDate };
    case "past_due":
    case "unpaid":
      return sendInvoice
        ? { ...base, status: "open", dueDate, attemptCount: 0 }
        : {
            ...base,
            status: "open",
            attemptCount: sub.status === "unpaid" ? 4 : 1,
            nextPaymentAttempt: sub.status === "unpaid" ? null : sub.start + 3 * DAY,
          };
    case "incomplete":
      return { ...base, status: "open", billingReason: "subscription_create", attemptCount: sendInvoice ? 0 : 1, dueDate };
    case "incomplete_expired":
      return { ...base, status: "void", billingReason: "subscription_create", attemptCount: 1, voidedAt: sub.created + 23 * HOUR };
    default:
      return { ...base, status: "paid", attemptCount: sendInvoice ? 0 : 1, paidAt: sub.start + HOUR, dueDate };
  }
}

/** A price object (every field of Stripe's `price`). */
export function priceObject(fixture: string | PriceFixture, livemode: boolean, created: number) {
  const price = priceOf(fixture);
  const amount = price.unitAmount ?? 2000;
  return {
    /** The price id (`price_…`). */
    id: price.id,
    /** Stripe's object type, `"price"`. */
    object: "price" as const,
    /** Whether the price can be used for new purchases; always true here. */
    active: true,
    /** How the amount is computed: `"per_unit"`, one unit amount per quantity. */
    billing_scheme: "per_unit",
    /** Epoch seconds of its creation. */
    created,
    /** Three-letter ISO currency code, lower-case; always `"usd"` here. */
    currency: "usd",
    /** A customer-chosen amount's settings; null, the price has a fixed amount. */
    custom_unit_amount: null,
    /** Whether the price lives in live mode. */
    livemode,
    /** The price's lookup key; null when it has none. */
    lookup_key: price.lookupKey ?? null,
    /** Key-value pairs the account attached; empty here. */
    metadata: {},
    /** A display name for the price; null here. */
    nickname: null,
    /** The product id (`prod_…`). */
    product: price.product ?? `prod_${tail(price.id)}`,
    /** How the price recurs. */
    recurring: {
      /** The billing period's unit. */
      interval: price.interval ?? "month",
      /** Periods between two bills; always 1 here. */
      interval_count: 1,
      /** The usage meter billed by; null, the price is licensed. */
      meter: null,
      /** `"licensed"`: billed by quantity, not by metered usage. */
      usage_type: "licensed",
      /** Trial days granted by the price; null here. */
      trial_period_days: null,
    },
    /** Whether the amount includes tax; `"unspecified"` here. */
    tax_behavior: "unspecified",
    /** How tiers apply when the price is tiered; null, it is not. */
    tiers_mode: null,
    /** How the quantity is transformed before billing; null here. */
    transform_quantity: null,
    /** `"recurring"`, as opposed to a one-time price. */
    type: "recurring",
    /** The amount per unit in the smallest currency unit (cents). */
    unit_amount: amount,
    /** `unit_amount` as a decimal string. */
    unit_amount_decimal: String(amount),
  };
}

/** The legacy `plan` object Stripe still sends on each item, mirroring its price. */
function planObject(price: ReturnType<typeof priceObject>) {
  return {
    id: price.id,
    object: "plan" as const,
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal,
    billing_scheme: price.billing_scheme,
    created: price.created,
    currency: price.currency,
    interval: price.recurring.interval,
    interval_count: price.recurring.interval_count,
    livemode: price.livemode,
    metadata: {},
    meter: null,
    nickname: null,
    product: price.product,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: null,
    usage_type: "licensed",
  };
}

/** A customer object (every field of Stripe's `customer`); `delinquent` when an invoice is overdue. */
export function customerObject(id: string, livemode: boolean, created: number, delinquent: boolean) {
  return {
    /** The customer id (`cus_…`). */
    id,
    /** Stripe's object type, `"customer"`. */
    object: "customer" as const,
    /** The customer's address; null here. */
    address: null,
    /** Credit balance in the smallest currency unit, applied to the next invoice; 0 here. */
    balance: 0,
    /** Epoch seconds of its creation. */
    created,
    /** The currency the customer is billed in; always `"usd"` here. */
    currency: "usd",
    /** The default payment source (legacy); null here. */
    default_source: null,
    /** Whether the customer's latest invoice is overdue. */
    delinquent,
    /** A free-text description; null here. */
    description: null,
    /** An active customer-level discount; null here. */
    discount: null,
    /** The customer's email, made from the id's tail. */
    email: `${tail(id).toLowerCase()}@example.com`,
    /** The prefix of the customer's invoice numbers, made from the id's tail. */
    invoice_prefix: tail(id).slice(0, 8).toUpperCase(),
    /** The customer's invoice defaults; all unset here. */
    invoice_settings: {
      /** Custom fields printed on invoices; null here. */
      custom_fields: null,
      /** The payment method invoices are charged to; null here. */
      default_payment_method: null,
      /** The invoices' footer text; null here. */
      footer: null,
      /** How invoice PDFs are rendered; null here. */
      rendering_options: null,
    },
    /** Whether the customer lives in live mode. */
    livemode,
    /** Key-value pairs the account attached; empty here. */
    metadata: {},
    /** The customer's name; null here. */
    name: null,
    /** The sequence number of the customer's next invoice. */
    next_invoice_sequence: 2,
    /** The customer's phone number; null here. */
    phone: null,
    /** The customer's preferred locales, most preferred first; empty here. */
    preferred_locales: [],
    /** The customer's shipping details; null here. */
    shipping: null,
    /** The customer's tax exemption: `"none"`. */
    tax_exempt: "none",
    /** The test clock the customer belongs to; null here. */
    test_clock: null,
  };
}

/** An invoice object (every field of Stripe's `invoice`) for a subscription. */
export function invoiceObject(invoice: InvoiceFixture, sub: Resolved, livemode: boolean) {
  const finalizedAt = invoice.finalizedAt !== undefined ? invoice.finalizedAt : invoice.status === "draft" ? null : invoice.created + HOUR;
  const amountDue = invoice.amountDue ?? 0;
  const paid = invoice.status === "paid";
  const customer = sub.customer;
  const lines = sub.prices.map((fixture, index) => {
    const price = priceOf(fixture);
    const amount = invoice.amountDue === 0 ? 0 : (price.unitAmount ?? 2000);
    return {
      id: `il_${tail(invoice.id)}_${index}`,
      object: "line_item",
      amount,
      currency: "usd",
      description: `1 × ${price.id}`,
      discount_amounts: [],
      discountable: true,
      discounts: [],
      invoice: invoice.id,
      livemode,
      metadata: {},
      parent: {
        invoice_item_details: null,
        subscription_item_details: {
          invoice_item: null,
          proration: false,
          proration_details: { credited_items: null },
          subscription: sub.id,
          subscription_item: `si_${tail(sub.id)}_${index}`,
        },
        type: "subscription_item_details",
      },
      period: { end: invoice.periodEnd, start: invoice.periodStart },
      pretax_credit_amounts: [],
      pricing: {
        price_details: { price: price.id, product: price.product ?? `prod_${tail(price.id)}` },
        type: "price_details",
        unit_amount_decimal: String(amount),
      },
      quantity: 1,
      quantity_decimal: "1",
      subtotal: amount,
      taxes: [],
    };
  });
  return {
    id: invoice.id,
    object: "invoice" as const,
    account_country: "US",
    account_name: "Upkeep test account",
    account_tax_ids: null,
    amount_due: amountDue,
    amount_overpaid: 0,
    amount_paid: paid ? amountDue : 0,
    amount_remaining: paid || invoice.status === "void" ? 0 : amountDue,
    amount_shipping: 0,
    application: null,
    attempt_count: invoice.attemptCount ?? 0,
    attempted: (invoice.attemptCount ?? 0) > 0,
    auto_advance: invoice.status === "open" || invoice.status === "draft",
    automatic_tax: { disabled_reason: null, enabled: false, liability: null, provider: null, status: null },
    automatically_finalizes_at: invoice.status === "draft" ? invoice.created + HOUR : null,
    billing_reason: invoice.billingReason ?? "subscription_cycle",
    collection_method: sub.collectionMethod,
    created: invoice.created,
    currency: "usd",
    custom_fields: null,
    customer,
    customer_account: null,
    customer_address: null,
    customer_email: customer === null ? null : `${tail(customer).toLowerCase()}@example.com`,
    customer_name: null,
    customer_phone: null,
    customer_shipping: null,
    customer_tax_exempt: "none",
    customer_tax_ids: [],
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    due_date: invoice.dueDate ?? null,
    effective_at: finalizedAt,
    ending_balance: finalizedAt === null ? null : 0,
    footer: null,
    from_invoice: null,
    hosted_invoice_url: finalizedAt === null ? null : `https://invoice.stripe.com/i/acct_test/${invoice.id}`,
    invoice_pdf: finalizedAt === null ? null : `https://pay.stripe.com/invoice/acct_test/${invoice.id}/pdf`,
    issuer: { type: "self" },
    last_finalization_error: null,
    latest_revision: null,
    lines: { object: "list", data: lines, has_more: false, url: `/v1/invoices/${invoice.id}/lines` },
    livemode,
    metadata: {},
    next_payment_attempt: invoice.nextPaymentAttempt ?? null,
    number: finalizedAt === null ? null : `${tail(invoice.id).slice(0, 8).toUpperCase()}-0001`,
    on_behalf_of: null,
    parent: { quote_details: null, subscription_details: { metadata: {}, subscription: sub.id }, type: "subscription_details" },
    payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
    period_end: invoice.periodEnd,
    period_start: invoice.periodStart,
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    receipt_number: null,
    rendering: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: 0,
    statement_descriptor: null,
    status: invoice.status,
    subscription: sub.id,
    status_transitions: {
      finalized_at: finalizedAt,
      marked_uncollectible_at: invoice.markedUncollectibleAt ?? null,
      paid_at: invoice.paidAt ?? null,
      voided_at: invoice.voidedAt ?? null,
    },
    subtotal: amountDue,
    subtotal_excluding_tax: amountDue,
    test_clock: null,
    total: amountDue,
    total_discount_amounts: [],
    total_excluding_tax: amountDue,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: finalizedAt,
  };
}

/** How the server answers one subscription: its API version's shape, and what to expand. */
export interface SubscriptionShape {
  /** The object's `livemode`: the key's mode. */
  livemode: boolean;
  /** Whether the period fields sit on the items (API 2025-03-31.basil and later) rather than on the subscription. */
  periodsOnItems: boolean;
  /** Whether `latest_invoice` is the invoice object rather than its id (`expand: ["data.latest_invoice"]`). */
  expandInvoice: boolean;
  /** Whether `customer` is the customer object rather than its id. */
  expandCustomer: boolean;
}

/** A subscription object (every field of Stripe's `subscription`, items with every field of `subscription_item`). */
export function subscriptionObject(fixture: SubscriptionFixture, shape: SubscriptionShape) {
  const sub = resolveSubscription(fixture);
  const { livemode } = shape;
  const invoice = sub.latestInvoice !== undefined ? sub.latestInvoice : defaultInvoice(sub);
  const items = sub.prices.map((price, index) => {
    const priceObj = priceObject(price, livemode, sub.created - DAY);
    return {
      id: `si_${tail(sub.id)}_${index}`,
      object: "subscription_item" as const,
      billing_thresholds: null,
      created: sub.created,
      ...(shape.periodsOnItems ? { current_period_end: sub.end, current_period_start: sub.start } : {}),
      discounts: [],
      metadata: {},
      plan: planObject(priceObj),
      price: priceObj,
      quantity: 1,
      subscription: sub.id,
      tax_rates: [],
    };
  });
  const customer =
    shape.expandCustomer && sub.customer !== null
      ? customerObject(sub.customer, livemode, sub.created - DAY, sub.status === "past_due" || sub.status === "unpaid")
      : sub.customer;
  return {
    id: sub.id,
    object: "subscription" as const,
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: sub.start,
    billing_cycle_anchor_config: null,
    billing_mode: { flexible: null, type: "classic" },
    billing_schedules: [],
    billing_thresholds: null,
    cancel_at: sub.cancelAt,
    cancel_at_period_end: sub.cancelAtPeriodEnd,
    canceled_at: sub.canceledAt,
    cancellation_details: {
      comment: null,
      feedback: null,
      reason: sub.canceledAt === null ? null : sub.status === "incomplete_expired" ? "payment_failed" : "cancellation_requested",
    },
    collection_method: sub.collectionMethod,
    created: sub.created,
    currency: "usd",
    ...(shape.periodsOnItems ? {} : { current_period_end: sub.end, current_period_start: sub.start }),
    customer,
    customer_account: null,
    days_until_due: sub.daysUntilDue,
    default_payment_method: sub.status === "paused" ? null : `pm_${tail(sub.id)}`,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    ended_at: sub.endedAt,
    invoice_settings: { account_tax_ids: null, issuer: { type: "self" } },
    items: { object: "list" as const, data: items, has_more: false, url: `/v1/subscription_items?subscription=${sub.id}` },
    latest_invoice: invoice === null ? null : shape.expandInvoice ? invoiceObject(invoice, sub, livemode) : invoice.id,
    livemode,
    managed_payments: null,
    metadata: { ...(sub.metadata ?? {}) },
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection:
      sub.pauseCollection === null ? null : { behavior: sub.pauseCollection.behavior, resumes_at: sub.pauseCollection.resumesAt },
    payment_settings: { payment_method_options: null, payment_method_types: null, save_default_payment_method: "off" },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: sub.created,
    status: sub.status,
    test_clock: null,
    transfer_data: null,
    trial_end: sub.trialEnd,
    trial_settings: { end_behavior: { missing_payment_method: sub.status === "paused" ? "pause" : "create_invoice" } },
    trial_start: sub.trialStart,
  };
}
