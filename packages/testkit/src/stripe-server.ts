import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A price as the local server stores it. */
export interface PriceFixture {
  id: string;
  /** @default null */
  lookupKey?: string | null;
  /** The product id. @default `prod_` and the price id's tail */
  product?: string;
}

/** A subscription as the local server stores it; the server fills in the rest of Stripe's shape. */
export interface SubscriptionFixture {
  id: string;
  /** The customer id; null plays malformed data. */
  customer: string | null;
  /** Stripe's status: `active`, `trialing`, `past_due`, `canceled`, `unpaid`, `incomplete`, `incomplete_expired`, `paused`. */
  status: string;
  /** One subscription item each: a price id, or a price with its lookup key and product. */
  prices: Array<string | PriceFixture>;
  /** Epoch seconds. @default 1_700_000_000 */
  created?: number;
  /** Epoch seconds of the current period's start, on every item. @default created */
  currentPeriodStart?: number;
  /** Epoch seconds of the current period's end, on every item. @default currentPeriodStart + 30 days */
  currentPeriodEnd?: number;
}

/**
 * A fault the server injects into `GET /v1/subscriptions`. `page` is the listing page the request
 * asks for (1-based, from `starting_after` and `limit`), so a retried request for the same page
 * meets the same fault until `times` is used up.
 */
export type StripeFault =
  /** 429 with `Retry-After` (seconds); `shouldRetry` adds `Stripe-Should-Retry: true`. */
  | { kind: "rate-limit"; page: number; times?: number; retryAfter?: number; shouldRetry?: boolean }
  /** 500 with a Stripe `api_error` body. */
  | { kind: "server-error"; page: number; times?: number }
  /** 200 whose body is not JSON. */
  | { kind: "malformed-json"; page: number; times?: number }
  /** The body is cut off half-way and the connection dropped. */
  | { kind: "truncated-body"; page: number; times?: number }
  /** The listing claims it is complete at this page (`has_more: false`) although more remain. */
  | { kind: "early-end"; page: number; times?: number }
  /** 401 as Stripe answers an unknown key: the message names the key masked but for its tail. */
  | { kind: "invalid-key"; page: number; times?: number };

export interface StripeServerOptions {
  subscriptions?: SubscriptionFixture[];
  faults?: StripeFault[];
}

/** Request counts, for asserting how the client paged. */
export interface StripeServerStats {
  /** Every request received. */
  requests: number;
  /** `GET /v1/subscriptions` requests (the listing, faults included). */
  listRequests: number;
  /** `GET /v1/subscriptions/:id` requests. */
  retrieveRequests: number;
}

/** A local HTTP server speaking enough of Stripe's API for the real `stripe` client. */
export interface StripeServer {
  readonly host: string;
  readonly port: number;
  readonly protocol: "http";
  /** Spread into `new Stripe(key, { ...server.clientOptions, maxNetworkRetries })`. */
  readonly clientOptions: { host: string; port: number; protocol: "http" };
  /** The stored subscriptions, in listing order; mutate through the methods below. */
  readonly subscriptions: readonly SubscriptionFixture[];
  readonly stats: StripeServerStats;
  /** Replaces every subscription. */
  setSubscriptions(subscriptions: SubscriptionFixture[]): void;
  /** Changes one subscription in place (its position in the listing stays). */
  updateSubscription(id: string, change: Partial<Omit<SubscriptionFixture, "id" | "customer">>): void;
  /** Adds faults; each fires on its page until its `times` are used up. */
  inject(...faults: StripeFault[]): void;
  /** Drops pending faults and zeroes the counters. */
  reset(): void;
  /**
   * Called, and awaited, before a listing page is answered: a test changes its database here to
   * play a webhook that lands while the listing runs.
   */
  onPage?: (page: number) => unknown;
  close(): Promise<void>;
}

const DAY = 86_400;
const STATUSES = new Set(["active", "trialing", "past_due", "canceled", "unpaid", "incomplete", "incomplete_expired", "paused"]);

interface PendingFault {
  fault: StripeFault;
  left: number;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "stripe-version": "2025-01-01",
    ...headers,
  });
  res.end(text);
}

function stripeError(res: ServerResponse, status: number, type: string, message: string, extra: Record<string, unknown> = {}) {
  send(res, status, { error: { type, message, ...extra } });
}

function priceObject(price: string | PriceFixture, livemode: boolean) {
  const fixture = typeof price === "string" ? { id: price } : price;
  return {
    id: fixture.id,
    object: "price",
    livemode,
    lookup_key: fixture.lookupKey ?? null,
    product: fixture.product ?? `prod_${fixture.id.replace(/^price_/, "")}`,
  };
}

function toStripe(sub: SubscriptionFixture, livemode: boolean) {
  const created = sub.created ?? 1_700_000_000;
  const start = sub.currentPeriodStart ?? created;
  const end = sub.currentPeriodEnd ?? start + 30 * DAY;
  return {
    id: sub.id,
    object: "subscription",
    customer: sub.customer,
    status: sub.status,
    created,
    livemode,
    items: {
      object: "list",
      has_more: false,
      url: `/v1/subscription_items?subscription=${sub.id}`,
      data: sub.prices.map((price, index) => ({
        id: `si_${sub.id}_${index}`,
        object: "subscription_item",
        price: priceObject(price, livemode),
        current_period_start: start,
        current_period_end: end,
      })),
    },
  };
}

/** The mode of the bearer key: `live`, `test`, or undefined when absent or not a secret key. */
function keyModeOf(req: IncomingMessage): "live" | "test" | undefined {
  const match = /^Bearer (?:sk|rk)_(live|test)_\S+$/.exec(req.headers.authorization ?? "");
  return match ? (match[1] as "live" | "test") : undefined;
}

/**
 * Starts a Stripe-speaking server on 127.0.0.1 and a random port: `GET /v1/subscriptions` with
 * Stripe's list semantics (`limit` 1–100, default 10; `starting_after`; `status`, default every
 * status but `canceled`; `customer`; `has_more`, `data`, `object: "list"`, `url`) and
 * `GET /v1/subscriptions/:id`. Objects carry `livemode` from the key's mode. Faults are injected per
 * listing page; requests are counted.
 */
export async function startStripeServer(options: StripeServerOptions = {}): Promise<StripeServer> {
  let subscriptions: SubscriptionFixture[] = [];
  let index = new Map<string, number>();
  let byCustomer = new Map<string, number[]>();
  let faults: PendingFault[] = [];
  const stats: StripeServerStats = { requests: 0, listRequests: 0, retrieveRequests: 0 };
  let requestIds = 0;

  const setSubscriptions = (list: SubscriptionFixture[]) => {
    subscriptions = list.map((sub) => ({ ...sub, prices: sub.prices.map((price) => (typeof price === "string" ? price : { ...price })) }));
    index = new Map(subscriptions.map((sub, position) => [sub.id, position]));
    byCustomer = new Map();
    subscriptions.forEach((sub, position) => {
      if (sub.customer === null) return;
      const own = byCustomer.get(sub.customer);
      if (own) own.push(position);
      else byCustomer.set(sub.customer, [position]);
    });
  };
  setSubscriptions(options.subscriptions ?? []);
  const inject = (...added: StripeFault[]) => {
    for (const fault of added) faults.push({ fault, left: fault.times ?? 1 });
  };
  inject(...(options.faults ?? []));

  const takeFault = (page: number): StripeFault | undefined => {
    const pending = faults.find((entry) => entry.fault.page === page && entry.left > 0);
    if (!pending) return undefined;
    pending.left--;
    return pending.fault;
  };

  function list(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, livemode: boolean) {
    stats.listRequests++;
    const limitText = query.get("limit");
    const limit = limitText === null ? 10 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      return stripeError(res, 400, "invalid_request_error", "Invalid integer: limit must be between 1 and 100.", { param: "limit" });
    }
    const status = query.get("status");
    if (status !== null && status !== "all" && status !== "ended" && !STATUSES.has(status)) {
      return stripeError(res, 400, "invalid_request_error", "Invalid status.", { param: "status" });
    }
    const customer = query.get("customer");
    const matches = (sub: SubscriptionFixture) =>
      (customer === null || sub.customer === customer) &&
      (status === "all" ||
        (status === null && sub.status !== "canceled") ||
        (status === "ended" && (sub.status === "canceled" || sub.status === "incomplete_expired")) ||
        sub.status === status);
    const after = query.get("starting_after");
    let from = 0;
    if (after !== null) {
      const position = index.get(after);
      if (position === undefined) {
        return stripeError(res, 400, "invalid_request_error", `No such subscription: '${after}'`, {
          code: "resource_missing",
          param: "starting_after",
        });
      }
      from = position + 1;
    }
    // Candidate positions in listing order: a customer's own, or the whole store.
    const own = customer === null ? undefined : (byCustomer.get(customer) ?? []);
    const total = own ? own.length : subscriptions.length;
    const at = (i: number) => (own ? (own[i] as number) : i);
    let start = 0;
    if (own) while (start < own.length && (own[start] as number) < from) start++;
    else start = from;
    // The page a request asks for, counted over the whole listing, so faults stay put across retries.
    const page = Math.floor((status === "all" ? start : countMatching(start, at, matches)) / limit) + 1;
    const fault = takeFault(page);
    const data: ReturnType<typeof toStripe>[] = [];
    let i = start;
    for (; i < total && data.length < limit; i++) {
      const sub = subscriptions[at(i)] as SubscriptionFixture;
      if (matches(sub)) data.push(toStripe(sub, livemode));
    }
    let hasMore = false;
    for (; i < total && !hasMore; i++) hasMore = matches(subscriptions[at(i)] as SubscriptionFixture);
    const body = { object: "list", data, has_more: hasMore, url: "/v1/subscriptions" };
    switch (fault?.kind) {
      case "rate-limit":
        return send(
          res,
          429,
          { error: { type: "invalid_request_error", code: "rate_limit", message: "Too many requests hit the API too quickly." } },
          { "retry-after": String(fault.retryAfter ?? 1), ...(fault.shouldRetry ? { "stripe-should-retry": "true" } : {}) },
        );
      case "server-error":
        return stripeError(res, 500, "api_error", "An unknown error occurred while processing your request.");
      case "invalid-key": {
        const key = (req.headers.authorization ?? "").replace(/^Bearer /, "");
        return stripeError(res, 401, "invalid_request_error", `Invalid API Key provided: ${key.slice(0, 8)}****${key.slice(-4)}`);
      }
      case "malformed-json": {
        const text = "<html><body>502 Bad Gateway</body></html>";
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      case "truncated-body": {
        const text = JSON.stringify(body);
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        res.write(text.slice(0, Math.floor(text.length / 2)));
        res.destroy();
        return;
      }
      default: {
        const answer = fault?.kind === "early-end" ? { ...body, has_more: false } : body;
        Promise.resolve(server.onPage?.(page)).then(
          () => send(res, 200, answer, { "request-id": `req_${++requestIds}` }),
          () => stripeError(res, 500, "api_error", "The test's onPage hook failed."),
        );
      }
    }
  }

  function countMatching(end: number, at: (i: number) => number, matches: (sub: SubscriptionFixture) => boolean): number {
    let count = 0;
    for (let i = 0; i < end; i++) if (matches(subscriptions[at(i)] as SubscriptionFixture)) count++;
    return count;
  }

  const http = createServer((req, res) => {
    stats.requests++;
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const livemode = keyModeOf(req);
    if (livemode === undefined) {
      return stripeError(res, 401, "invalid_request_error", "You did not provide an API key.");
    }
    if (req.method !== "GET") return stripeError(res, 405, "invalid_request_error", "Only GET is served here.");
    if (url.pathname === "/v1/subscriptions") return list(req, res, url.searchParams, livemode === "live");
    const one = /^\/v1\/subscriptions\/([^/]+)$/.exec(url.pathname);
    if (one) {
      stats.retrieveRequests++;
      const position = index.get(decodeURIComponent(one[1] as string));
      if (position === undefined) {
        return stripeError(res, 404, "invalid_request_error", "No such subscription.", { code: "resource_missing" });
      }
      return send(res, 200, toStripe(subscriptions[position] as SubscriptionFixture, livemode === "live"));
    }
    stripeError(res, 404, "invalid_request_error", `Unrecognized request URL (GET: ${url.pathname}).`);
  });
  http.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (http.address() as AddressInfo).port;

  const server: StripeServer = {
    host: "127.0.0.1",
    port,
    protocol: "http",
    clientOptions: { host: "127.0.0.1", port, protocol: "http" },
    get subscriptions() {
      return subscriptions;
    },
    stats,
    setSubscriptions,
    updateSubscription(id, change) {
      const position = index.get(id);
      if (position === undefined) throw new Error(`no subscription ${id}`);
      subscriptions[position] = { ...(subscriptions[position] as SubscriptionFixture), ...change };
    },
    inject,
    reset() {
      faults = [];
      stats.requests = 0;
      stats.listRequests = 0;
      stats.retrieveRequests = 0;
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        http.close((error) => (error ? reject(error) : resolve()));
        http.closeAllConnections();
      });
    },
  };
  return server;
}
