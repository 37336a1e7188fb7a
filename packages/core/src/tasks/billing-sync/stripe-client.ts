/** The part of a Stripe price billing-sync maps to a plan: its id, its lookup key, its product. */
export interface StripePriceLike {
  /** The price id (`price_…`). */
  id: string;
  /** The price's lookup key; null or absent when it has none. */
  lookup_key?: string | null;
  /** The product id, or the product when expanded. */
  product?:
    | string
    | {
        /** The product id (`prod_…`). */
        id: string;
      }
    | null;
}

/** The part of a subscription's latest invoice (expanded in the listing) that dates a `past_due`. */
export interface StripeInvoiceLike {
  /** The invoice id (`in_…`). */
  id: string;
  /** `draft`, `open`, `paid`, `uncollectible`, `void`. */
  status?: string | null;
  /** Epoch seconds; set for `send_invoice` invoices. */
  due_date?: number | null;
  /** Epoch seconds of its creation. */
  created?: number;
  /** Payment attempts made so far (`charge_automatically`). */
  attempt_count?: number;
  /** When the invoice changed status; absent or null in older fixtures. */
  status_transitions?: {
    /** Epoch seconds of its finalization; null while a draft. */
    finalized_at?: number | null;
  } | null;
}

/**
 * The part of a Stripe subscription billing-sync reads. The `stripe` package's `Stripe.Subscription`
 * fits it; older API versions carry the period on the subscription, newer ones on each item.
 */
export interface StripeSubscriptionLike {
  /** The subscription id (`sub_…`). */
  id: string;
  /** The customer id, or the customer when expanded; null only in malformed data, which is skipped. */
  customer:
    | string
    | {
        /** The customer id (`cus_…`). */
        id: string;
      }
    | null;
  /** Stripe's status, such as `active`, `trialing`, `past_due` or `canceled`. */
  status: string;
  /** Epoch seconds of its creation. */
  created?: number;
  /** Whether it lives in live mode; checked against `mode`. */
  livemode?: boolean;
  /** `charge_automatically` or `send_invoice`. */
  collection_method?: string | null;
  /** Net days of a `send_invoice` subscription. */
  days_until_due?: number | null;
  /** Epoch seconds: the current period's start (API versions before 2025-03-31; newer ones carry it on each item). */
  current_period_start?: number;
  /** Epoch seconds: the current period's end (API versions before 2025-03-31; newer ones carry it on each item). */
  current_period_end?: number;
  /** The invoice id, or the invoice when expanded (billing-sync asks for `data.latest_invoice`). */
  latest_invoice?: string | StripeInvoiceLike | null;
  /** The subscription's items. */
  items: {
    /** Every item of the subscription. */
    data: ReadonlyArray<{
      /** The item's price; absent or null only in malformed data. */
      price?: StripePriceLike | null;
      /** Epoch seconds: the item's current period's start (API 2025-03-31 and later). */
      current_period_start?: number;
      /** Epoch seconds: the item's current period's end (API 2025-03-31 and later). */
      current_period_end?: number;
    }>;
  };
}

/** The listing parameters billing-sync sends. */
export interface SubscriptionListParams {
  /** Every status, so a lapsed subscription is seen too. */
  status: "all";
  /** Subscriptions per page. */
  limit: number;
  /** The last subscription id already read, when the listing resumes after a rate limit. */
  starting_after?: string;
  /** Fields expanded in the answer, such as `data.latest_invoice`. */
  expand?: string[];
}

/**
 * The part of the host's Stripe client billing-sync uses: `subscriptions.list` with auto-pagination
 * (`for await`). A `new Stripe(key)` instance fits; core never imports `stripe` itself.
 */
export interface StripeClient {
  /** Stripe's subscriptions resource. */
  subscriptions: {
    /** Every subscription matching `params`, page after page (`for await`). */
    list(params: SubscriptionListParams): AsyncIterable<StripeSubscriptionLike>;
  };
}

export function isStripeClient(value: unknown): value is StripeClient {
  if (typeof value !== "object" || value === null) return false;
  const subscriptions = (value as { subscriptions?: { list?: unknown } }).subscriptions;
  return typeof subscriptions === "object" && subscriptions !== null && typeof subscriptions.list === "function";
}

const MODE = /^(?:Bearer\s+)?(?:sk|rk)_(live|test)_/;

/**
 * The mode of the client's key, read from the client without keeping or returning the key: only
 * the `live`/`test` marker of its prefix leaves this function. Undefined when the client holds no
 * recognisable secret key (a custom authenticator); then each subscription's `livemode` decides.
 */
export function keyModeOf(client: StripeClient): "live" | "test" | undefined {
  const internals = client as unknown as {
    _authenticator?: { _apiKey?: unknown } | null;
    _api?: { auth?: unknown };
  };
  for (const candidate of [internals._authenticator?._apiKey, internals._api?.auth]) {
    if (typeof candidate !== "string") continue;
    const match = MODE.exec(candidate);
    if (match) return match[1] as "live" | "test";
  }
  return undefined;
}

/** What billing-sync keeps of a failed Stripe request: never the message's key, never the headers. */
export interface StripeFailure {
  /** The error class, such as `StripeAPIError` or `StripeConnectionError`. */
  type: string;
  statusCode: number | undefined;
  code: string | undefined;
  requestId: string | undefined;
  /** Stripe's message with anything shaped like a key replaced by `[redacted]`. */
  message: string;
  /** Seconds from `Retry-After`, on a rate-limit answer. */
  retryAfter: number | undefined;
}

const KEY_SHAPED = /\b(?:sk|rk|pk|whsec)_[A-Za-z0-9_*]+/g;

/** Removes anything shaped like a Stripe key from a text. */
export function redactKeys(text: string): string {
  return text.replace(KEY_SHAPED, "[redacted]");
}

/** Reads a Stripe error's safe fields. */
export function describeStripeError(error: unknown): StripeFailure {
  const source = (typeof error === "object" && error !== null ? error : {}) as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
  const headers = (typeof source.headers === "object" && source.headers !== null ? source.headers : {}) as Record<string, unknown>;
  const retryAfter = Number(text(headers["retry-after"]) ?? Number.NaN);
  return {
    type: text(source.type) ?? (error instanceof Error ? error.name : "unknown"),
    statusCode: typeof source.statusCode === "number" ? source.statusCode : undefined,
    code: text(source.code),
    requestId: text(source.requestId),
    message: redactKeys(error instanceof Error ? error.message : String(error)).slice(0, 300),
    retryAfter: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
  };
}

/** Whether a failure is worth a later retry of the whole run. */
export function isTransient(failure: StripeFailure): boolean {
  if (failure.type === "StripeConnectionError" || failure.type === "StripeRateLimitError") return true;
  if (failure.statusCode === undefined) return failure.type === "StripeAPIError";
  return failure.statusCode === 409 || failure.statusCode === 429 || failure.statusCode >= 500;
}
