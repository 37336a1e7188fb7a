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
    /** The plan id: the price's id. */
    id: price.id,
    /** Stripe's object type, `"plan"`. */
    object: "plan" as const,
    /** Whether the plan can be used for new purchases. */
    active: price.active,
    /** The amount per unit in the smallest currency unit. */
    amount: price.unit_amount,
    /** `amount` as a decimal string. */
    amount_decimal: price.unit_amount_decimal,
    /** How the amount is computed, as the price's. */
    billing_scheme: price.billing_scheme,
    /** Epoch seconds of its creation. */
    created: price.created,
    /** Three-letter ISO currency code, lower-case. */
    currency: price.currency,
    /** The billing period's unit. */
    interval: price.recurring.interval,
    /** Periods between two bills. */
    interval_count: price.recurring.interval_count,
    /** Whether the plan lives in live mode. */
    livemode: price.livemode,
    /** Key-value pairs the account attached; empty here. */
    metadata: {},
    /** The usage meter billed by; null, the plan is licensed. */
    meter: null,
    /** A display name for the plan; null here. */
    nickname: null,
    /** The product id (`prod_…`). */
    product: price.product,
    /** How tiers apply when the plan is tiered; null, it is not. */
    tiers_mode: null,
    /** How usage is transformed before billing; null here. */
    transform_usage: null,
    /** Trial days granted by the plan; null here. */
    trial_period_days: null,
    /** `"licensed"`: billed by quantity, not by metered usage. */
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
      /** The line item id (`il_…`). */
      id: `il_${tail(invoice.id)}_${index}`,
      /** Stripe's object type, `"line_item"`. */
      object: "line_item",
      /** The line's amount in the smallest currency unit (cents). */
      amount,
      /** Three-letter ISO currency code, lower-case; always `"usd"` here. */
      currency: "usd",
      /** What the line bills, such as `1 × price_pro`. */
      description: `1 × ${price.id}`,
      /** The discounts' amounts on this line; empty here. */
      discount_amounts: [],
      /** Whether discounts apply to the line. */
      discountable: true,
      /** The discounts applied to the line; empty here. */
      discounts: [],
      /** The id of the invoice the line belongs to. */
      invoice: invoice.id,
      /** Whether the line lives in live mode. */
      livemode,
      /** Key-value pairs the account attached; empty here. */
      metadata: {},
      /** What the line comes from: a subscription item here. */
      parent: {
        /** Set when the line comes from an invoice item; null here. */
        invoice_item_details: null,
        /** The subscription item the line bills. */
        subscription_item_details: {
          /** The invoice item behind a proration; null here. */
          invoice_item: null,
          /** Whether the line is a proration; false here. */
          proration: false,
          /** What a proration credits. */
          proration_details: {
            /** The items a proration credits; null here. */
            credited_items: null,
          },
          /** The subscription id (`sub_…`). */
          subscription: sub.id,
          /** The subscription item id (`si_…`). */
          subscription_item: `si_${tail(sub.id)}_${index}`,
        },
        /** Which parent detail is set: `"subscription_item_details"`. */
        type: "subscription_item_details",
      },
      /** The period the line bills. */
      period: {
        /** Epoch seconds: the period's end. */
        end: invoice.periodEnd,
        /** Epoch seconds: the period's start. */
        start: invoice.periodStart,
      },
      /** Credits applied before tax; empty here. */
      pretax_credit_amounts: [],
      /** How the line is priced. */
      pricing: {
        /** The price the line bills. */
        price_details: {
          /** The price id (`price_…`). */
          price: price.id,
          /** The product id (`prod_…`). */
          product: price.product ?? `prod_${tail(price.id)}`,
        },
        /** Which pricing detail is set: `"price_details"`. */
        type: "price_details",
        /** The unit amount as a decimal string. */
        unit_amount_decimal: String(amount),
      },
      /** The quantity billed; 1 here. */
      quantity: 1,
      /** `quantity` as a decimal string. */
      quantity_decimal: "1",
      /** The line's amount before discounts and tax. */
      subtotal: amount,
      /** The taxes on the line; empty here. */
      taxes: [],
    };
  });
  return {
    /** The invoice id (`in_…`). */
    id: invoice.id,
    /** Stripe's object type, `"invoice"`. */
    object: "invoice" as const,
    /** The issuing account's country; `"US"` here. */
    account_country: "US",
    /** The issuing account's public name. */
    account_name: "Upkeep test account",
    /** The account's tax ids shown on the invoice; null here. */
    account_tax_ids: null,
    /** What the customer owes, in the smallest currency unit. */
    amount_due: amountDue,
    /** What was paid above `amount_due`; 0 here. */
    amount_overpaid: 0,
    /** What was paid, in the smallest currency unit. */
    amount_paid: paid ? amountDue : 0,
    /** What is still owed, in the smallest currency unit. */
    amount_remaining: paid || invoice.status === "void" ? 0 : amountDue,
    /** The shipping cost; 0 here. */
    amount_shipping: 0,
    /** The Connect application that made the invoice; null here. */
    application: null,
    /** Payment attempts made so far. */
    attempt_count: invoice.attemptCount ?? 0,
    /** Whether a payment was attempted. */
    attempted: (invoice.attemptCount ?? 0) > 0,
    /** Whether Stripe advances the invoice by itself (finalizes, charges, retries). */
    auto_advance: invoice.status === "open" || invoice.status === "draft",
    /** Automatic tax settings; disabled here. */
    automatic_tax: {
      /** Why automatic tax is disabled; null here. */
      disabled_reason: null,
      /** Whether automatic tax is on; false here. */
      enabled: false,
      /** Who is liable for the tax; null here. */
      liability: null,
      /** The tax provider; null here. */
      provider: null,
      /** The tax calculation's status; null here. */
      status: null,
    },
    /** Epoch seconds when a draft finalizes by itself; null once finalized. */
    automatically_finalizes_at: invoice.status === "draft" ? invoice.created + HOUR : null,
    /** Why Stripe made the invoice. */
    billing_reason: invoice.billingReason ?? "subscription_cycle",
    /** How it is paid: `charge_automatically` or `send_invoice`. */
    collection_method: sub.collectionMethod,
    /** Epoch seconds of its creation. */
    created: invoice.created,
    /** Three-letter ISO currency code, lower-case; always `"usd"` here. */
    currency: "usd",
    /** Custom fields printed on the invoice; null here. */
    custom_fields: null,
    /** The customer id; null plays malformed data. */
    customer,
    /** The customer's account id (Accounts v2); null here. */
    customer_account: null,
    /** The customer's address at finalization; null here. */
    customer_address: null,
    /** The customer's email at finalization. */
    customer_email: customer === null ? null : `${tail(customer).toLowerCase()}@example.com`,
    /** The customer's name at finalization; null here. */
    customer_name: null,
    /** The customer's phone at finalization; null here. */
    customer_phone: null,
    /** The customer's shipping details at finalization; null here. */
    customer_shipping: null,
    /** The customer's tax exemption: `"none"`. */
    customer_tax_exempt: "none",
    /** The customer's tax ids at finalization; empty here. */
    customer_tax_ids: [],
    /** The payment method the invoice is charged to; null here. */
    default_payment_method: null,
    /** The payment source the invoice is charged to (legacy); null here. */
    default_source: null,
    /** Tax rates applied to every line; empty here. */
    default_tax_rates: [],
    /** A memo shown on the invoice; null here. */
    description: null,
    /** The discounts applied; empty here. */
    discounts: [],
    /** Epoch seconds when a `send_invoice` invoice is due; null when charged automatically. */
    due_date: invoice.dueDate ?? null,
    /** Epoch seconds from which the invoice is in effect: its finalization; null while a draft. */
    effective_at: finalizedAt,
    /** The customer's balance after the invoice; null while a draft. */
    ending_balance: finalizedAt === null ? null : 0,
    /** The invoice's footer text; null here. */
    footer: null,
    /** The invoice this one revises; null here. */
    from_invoice: null,
    /** The page where the customer pays the invoice; null while a draft. */
    hosted_invoice_url: finalizedAt === null ? null : `https://invoice.stripe.com/i/acct_test/${invoice.id}`,
    /** The invoice's PDF; null while a draft. */
    invoice_pdf: finalizedAt === null ? null : `https://pay.stripe.com/invoice/acct_test/${invoice.id}/pdf`,
    /** Who issues the invoice. */
    issuer: {
      /** `"self"`: the account itself. */
      type: "self",
    },
    /** Why the last finalization failed; null here. */
    last_finalization_error: null,
    /** The latest revision of the invoice; null here. */
    latest_revision: null,
    /** The invoice's line items, one per subscription item, as a list object. */
    lines: {
      /** Stripe's list type, `"list"`. */
      object: "list",
      /** The line items. */
      data: lines,
      /** Whether more lines exist beyond `data`; false here. */
      has_more: false,
      /** The lines' own listing path. */
      url: `/v1/invoices/${invoice.id}/lines`,
    },
    /** Whether the invoice lives in live mode. */
    livemode,
    /** Key-value pairs the account attached; empty here. */
    metadata: {},
    /** Epoch seconds of the next automatic payment attempt; null when none is planned. */
    next_payment_attempt: invoice.nextPaymentAttempt ?? null,
    /** The invoice number, set at finalization; null while a draft. */
    number: finalizedAt === null ? null : `${tail(invoice.id).slice(0, 8).toUpperCase()}-0001`,
    /** The Connect account the invoice is made for; null here. */
    on_behalf_of: null,
    /** What the invoice comes from: a subscription here. */
    parent: {
      /** Set when it comes from a quote; null here. */
      quote_details: null,
      /** The subscription the invoice bills. */
      subscription_details: {
        /** The subscription's metadata at finalization; empty here. */
        metadata: {},
        /** The subscription id (`sub_…`). */
        subscription: sub.id,
      },
      /** Which parent detail is set: `"subscription_details"`. */
      type: "subscription_details",
    },
    /** How the invoice may be paid; all defaults here. */
    payment_settings: {
      /** The mandate used for payment; null here. */
      default_mandate: null,
      /** Per-method payment options; null here. */
      payment_method_options: null,
      /** The payment method types accepted; null for the account's defaults. */
      payment_method_types: null,
    },
    /** Epoch seconds: the end of the period the invoice bills. */
    period_end: invoice.periodEnd,
    /** Epoch seconds: the start of the period the invoice bills. */
    period_start: invoice.periodStart,
    /** Credit notes issued after payment; 0 here. */
    post_payment_credit_notes_amount: 0,
    /** Credit notes issued before payment; 0 here. */
    pre_payment_credit_notes_amount: 0,
    /** The receipt number; null here. */
    receipt_number: null,
    /** How the PDF is rendered; null here. */
    rendering: null,
    /** The shipping cost details; null here. */
    shipping_cost: null,
    /** The shipping address; null here. */
    shipping_details: null,
    /** The customer's balance before the invoice; 0 here. */
    starting_balance: 0,
    /** What appears on the customer's statement; null here. */
    statement_descriptor: null,
    /** Stripe's invoice status: `draft`, `open`, `paid`, `uncollectible` or `void`. */
    status: invoice.status,
    /** The subscription id (`sub_…`), as older API versions carry it. */
    subscription: sub.id,
    /** When the invoice changed status. */
    status_transitions: {
      /** Epoch seconds of its finalization; null while a draft. */
      finalized_at: finalizedAt,
      /** Epoch seconds when it was marked uncollectible; null otherwise. */
      marked_uncollectible_at: invoice.markedUncollectibleAt ?? null,
      /** Epoch seconds of its payment; null until paid. */
      paid_at: invoice.paidAt ?? null,
      /** Epoch seconds when it was voided; null otherwise. */
      voided_at: invoice.voidedAt ?? null,
    },
    /** The amount before discounts and tax. */
    subtotal: amountDue,
    /** The subtotal without tax. */
    subtotal_excluding_tax: amountDue,
    /** The test clock the invoice belongs to; null here. */
    test_clock: null,
    /** The amount after discounts and tax. */
    total: amountDue,
    /** The discounts' amounts; empty here. */
    total_discount_amounts: [],
    /** The total without tax. */
    total_excluding_tax: amountDue,
    /** Credits applied before tax; empty here. */
    total_pretax_credit_amounts: [],
    /** The taxes on the invoice; empty here. */
    total_taxes: [],
    /** Epoch seconds when the invoice's webhooks were delivered (here: at finalization); null while a draft. */
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
      /** The subscription item id (`si_…`). */
      id: `si_${tail(sub.id)}_${index}`,
      /** Stripe's object type, `"subscription_item"`. */
      object: "subscription_item" as const,
      /** Usage thresholds that trigger an invoice; null here. */
      billing_thresholds: null,
      /** Epoch seconds of its creation. */
      created: sub.created,
      ...(shape.periodsOnItems
        ? {
            /** Epoch seconds: the current period's end (API 2025-03-31.basil and later). */
            current_period_end: sub.end,
            /** Epoch seconds: the current period's start (API 2025-03-31.basil and later). */
            current_period_start: sub.start,
          }
        : {}),
      /** The discounts applied to the item; empty here. */
      discounts: [],
      /** Key-value pairs the account attached; empty here. */
      metadata: {},
      /** The legacy plan object mirroring the price. */
      plan: planObject(priceObj),
      /** The item's price. */
      price: priceObj,
      /** The quantity subscribed; 1 here. */
      quantity: 1,
      /** The subscription id (`sub_…`). */
      subscription: sub.id,
      /** Tax rates applied to the item; empty here. */
      tax_rates: [],
    };
  });
  const customer =
    shape.expandCustomer && sub.customer !== null
      ? customerObject(sub.customer, livemode, sub.created - DAY, sub.status === "past_due" || sub.status === "unpaid")
      : sub.customer;
  return {
    /** The subscription id (`sub_…`). */
    id: sub.id,
    /** Stripe's object type, `"subscription"`. */
    object: "subscription" as const,
    /** The Connect application that made it; null here. */
    application: null,
    /** The Connect application fee, in percent; null here. */
    application_fee_percent: null,
    /** Automatic tax settings; disabled here. */
    automatic_tax: {
      /** Why automatic tax is disabled; null here. */
      disabled_reason: null,
      /** Whether automatic tax is on; false here. */
      enabled: false,
      /** Who is liable for the tax; null here. */
      liability: null,
    },
    /** Epoch seconds the billing cycle is anchored to: the current period's start. */
    billing_cycle_anchor: sub.start,
    /** The anchor's calendar settings; null here. */
    billing_cycle_anchor_config: null,
    /** How the subscription bills: `"classic"`. */
    billing_mode: {
      /** Flexible billing settings; null here. */
      flexible: null,
      /** `"classic"` billing. */
      type: "classic",
    },
    /** Billing schedules; empty here. */
    billing_schedules: [],
    /** Usage thresholds that trigger an invoice; null here. */
    billing_thresholds: null,
    /** Epoch seconds when it is set to cancel; null when it is not. */
    cancel_at: sub.cancelAt,
    /** Whether it cancels at the end of its current period. */
    cancel_at_period_end: sub.cancelAtPeriodEnd,
    /** Epoch seconds when it was canceled (or asked to be); null when it was not. */
    canceled_at: sub.canceledAt,
    /** Why it was canceled. */
    cancellation_details: {
      /** The customer's comment; null here. */
      comment: null,
      /** The customer's feedback; null here. */
      feedback: null,
      /** `payment_failed` for an expired first payment, `cancellation_requested` otherwise; null when not canceled. */
      reason: sub.canceledAt === null ? null : sub.status === "incomplete_expired" ? "payment_failed" : "cancellation_requested",
    },
    /** How it is paid: `charge_automatically` or `send_invoice`. */
    collection_method: sub.collectionMethod,
    /** Epoch seconds of its creation. */
    created: sub.created,
    /** Three-letter ISO currency code, lower-case; always `"usd"` here. */
    currency: "usd",
    ...(shape.periodsOnItems
      ? {}
      : {
          /** Epoch seconds: the current period's end (API versions before 2025-03-31.basil). */
          current_period_end: sub.end,
          /** Epoch seconds: the current period's start (API versions before 2025-03-31.basil). */
          current_period_start: sub.start,
        }),
    /** The customer id, or the customer object when expanded; null plays malformed data. */
    customer,
    /** The customer's account id (Accounts v2); null here. */
    customer_account: null,
    /** Net days of a `send_invoice` subscription; null when charged automatically. */
    days_until_due: sub.daysUntilDue,
    /** The payment method it is charged to; null when paused. */
    default_payment_method: sub.status === "paused" ? null : `pm_${tail(sub.id)}`,
    /** The payment source it is charged to (legacy); null here. */
    default_source: null,
    /** Tax rates applied to every invoice; empty here. */
    default_tax_rates: [],
    /** A free-text description; null here. */
    description: null,
    /** The discounts applied; empty here. */
    discounts: [],
    /** Epoch seconds when it ended; null while it lasts. */
    ended_at: sub.endedAt,
    /** Defaults of its invoices. */
    invoice_settings: {
      /** The account tax ids shown on its invoices; null here. */
      account_tax_ids: null,
      /** Who issues its invoices. */
      issuer: {
        /** `"self"`: the account itself. */
        type: "self",
      },
    },
    /** Its items, one per price, as a list object. */
    items: {
      /** Stripe's list type, `"list"`. */
      object: "list" as const,
      /** The subscription items. */
      data: items,
      /** Whether more items exist beyond `data`; false here. */
      has_more: false,
      /** The items' own listing path. */
      url: `/v1/subscription_items?subscription=${sub.id}`,
    },
    /** The latest invoice: its id, the invoice object when expanded, or null when there is none. */
    latest_invoice: invoice === null ? null : shape.expandInvoice ? invoiceObject(invoice, sub, livemode) : invoice.id,
    /** Whether it lives in live mode. */
    livemode,
    /** Managed payments settings; null here. */
    managed_payments: null,
    /** Key-value pairs the account attached. */
    metadata: { ...(sub.metadata ?? {}) },
    /** The invoice pending invoice items go to; null here. */
    next_pending_invoice_item_invoice: null,
    /** The Connect account it is made for; null here. */
    on_behalf_of: null,
    /** Paused collection; null when collection runs. */
    pause_collection:
      sub.pauseCollection === null
        ? null
        : {
            /** What happens to invoices while paused. */
            behavior: sub.pauseCollection.behavior,
            /** Epoch seconds when collection resumes; null for no set date. */
            resumes_at: sub.pauseCollection.resumesAt,
          },
    /** How its invoices may be paid. */
    payment_settings: {
      /** Per-method payment options; null here. */
      payment_method_options: null,
      /** The payment method types accepted; null for the account's defaults. */
      payment_method_types: null,
      /** Whether a successful payment's method becomes the default: `"off"`. */
      save_default_payment_method: "off",
    },
    /** The interval pending invoice items are billed at; null here. */
    pending_invoice_item_interval: null,
    /** A setup intent collecting a payment method; null here. */
    pending_setup_intent: null,
    /** Changes waiting for a payment; null here. */
    pending_update: null,
    /** The subscription schedule managing it; null here. */
    schedule: null,
    /** Epoch seconds when it started. */
    start_date: sub.created,
    /** Stripe's status, such as `active`, `trialing`, `past_due` or `canceled`. */
    status: sub.status,
    /** The test clock it belongs to; null here. */
    test_clock: null,
    /** Where Connect transfers go; null here. */
    transfer_data: null,
    /** Epoch seconds when the trial ends; null without a trial. */
    trial_end: sub.trialEnd,
    /** What happens when the trial ends. */
    trial_settings: {
      /** The trial's end behaviour. */
      end_behavior: {
        /** What happens without a payment method: `pause`, or `create_invoice`. */
        missing_payment_method: sub.status === "paused" ? "pause" : "create_invoice",
      },
    },
    /** Epoch seconds when the trial started; null without a trial. */
    trial_start: sub.trialStart,
  };
}
