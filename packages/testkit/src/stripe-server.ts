import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { periodsOnItems, type SubscriptionFixture, subscriptionObject } from "./stripe-objects.ts";

/**
 * A fault the server injects into `GET /v1/subscriptions`. `page` is the listing page the request
 * asks for (1-based, from `starting_after` and `limit`), so a retried request for the same page
 * meets the same fault until `times` is used up.
 */
export type StripeFault = StripeFaultMatch &
  (
    | {
        /** 429 `rate_limit`. */
        kind: "rate-limit";
        /** Seconds sent as `Retry-After`; `null` sends none. @default 1 */
        retryAfter?: number | null;
        /** Whether to send `Stripe-Should-Retry: true`. @default false */
        shouldRetry?: boolean;
      }
    | {
        /** 500 with a Stripe `api_error` body. */
        kind: "server-error";
        /** The `Stripe-Should-Retry` value sent. @default no such header */
        shouldRetry?: boolean;
      }
    | {
        /** 200 whose body is not JSON (`malformed-json`); the body cut off half-way and the connection dropped (`truncated-body`). */
        kind: "malformed-json" | "truncated-body";
      }
    | {
        /** The listing claims it is complete at this page (`has_more: false`) although more remain. */
        kind: "early-end";
      }
    | {
        /** 401 as Stripe answers an unknown key (`invalid-key`: the message names the key masked but for its tail), or 403 as it answers a restricted key without read access to subscriptions (`forbidden`). */
        kind: "invalid-key" | "forbidden";
      }
  );

/** Which listing requests a Stripe fault hits, and how many. */
export interface StripeFaultMatch {
  /** The listing page it hits, counted from 1. */
  page: number;
  /** Requests for that page that fail. @default 1 */
  times?: number;
}

/** Options of `startStripeServer`: what it serves at first, and the faults to inject. */
export interface StripeServerOptions {
  /** The subscriptions served at start. @default [] */
  subscriptions?: SubscriptionFixture[];
  /** Faults to inject from the first request. @default [] */
  faults?: StripeFault[];
  /**
   * The account's default API version, used when a request sends no `Stripe-Version` (the `stripe`
   * package always sends its own pinned one, or `apiVersion`).
   * @default "2025-03-31.basil"
   */
  defaultApiVersion?: string;
}

/** Request counts, for asserting how the client paged. */
export interface StripeServerStats {
  /** Every request received. */
  requests: number;
  /** `GET /v1/subscriptions` requests (the listing, faults included). */
  listRequests: number;
  /** `GET /v1/subscriptions/:id` requests. */
  retrieveRequests: number;
  /** The query string of the last listing request, as sent. */
  lastListQuery: string | undefined;
  /** The `Stripe-Version` of the last request (or the default). */
  lastApiVersion: string | undefined;
}

/** A local HTTP server speaking Stripe's subscription API for the real `stripe` client. */
export interface StripeServer {
  /** The address it listens on, `127.0.0.1`. */
  readonly host: string;
  /** The port it listens on, chosen by the system. */
  readonly port: number;
  /** Always `"http"`: the server speaks plain HTTP. */
  readonly protocol: "http";
  /** Spread into `new Stripe(key, { ...server.clientOptions, maxNetworkRetries })`. */
  readonly clientOptions: {
    /** As `host`. */
    host: string;
    /** As `port`. */
    port: number;
    /** As `protocol`. */
    protocol: "http";
  };
  /** The stored subscriptions, in listing order (newest first); mutate through the methods below. */
  readonly subscriptions: readonly SubscriptionFixture[];
  /** Request counts since start or the last `reset`. */
  readonly stats: StripeServerStats;
  /** Replaces every subscription; they are listed newest first (`created` descending, then given order). */
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
  /** Stops the server and ends its open connections. */
  close(): Promise<void>;
}

const STATUSES = new Set(["active", "trialing", "past_due", "canceled", "unpaid", "incomplete", "incomplete_expired", "paused"]);
/** `GET /v1/subscriptions` parameters, as in stripe-node's `SubscriptionListParams` and its pagination. */
const LIST_PARAMS = new Set([
  "automatic_tax",
  "collection_method",
  "created",
  "current_period_end",
  "current_period_start",
  "customer",
  "customer_account",
  "ending_before",
  "expand",
  "limit",
  "plan",
  "price",
  "starting_after",
  "status",
  "test_clock",
]);
const EXPANDABLE = new Set(["latest_invoice", "customer"]);

interface PendingFault {
  fault: StripeFault;
  left: number;
}

interface Answer {
  res: ServerResponse;
  apiVersion: string;
  requestId: string;
}

function send(answer: Answer, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  answer.res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "stripe-version": answer.apiVersion,
    "request-id": answer.requestId,
    ...headers,
  });
  answer.res.end(text);
}

function stripeError(
  answer: Answer,
  status: number,
  type: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  send(
    answer,
    status,
    { error: { type, message, request_log_url: `https://dashboard.stripe.com/test/logs/${answer.requestId}`, ...extra } },
    headers,
  );
}

/** The mode of the bearer key: `live`, `test`, or undefined when absent or not a secret key. */
function keyModeOf(req: IncomingMessage): "live" | "test" | undefined {
  const match = /^Bearer (?:sk|rk)_(live|test)_\S+$/.exec(req.headers.authorization ?? "");
  return match ? (match[1] as "live" | "test") : undefined;
}

/** The top-level name of a form-encoded parameter: `expand` of `expand[0]`, `created` of `created[gte]`. */
const baseName = (key: string) => key.replace(/\[.*$/, "");

/**
 * Starts a Stripe-speaking server on 127.0.0.1 and a random port: `GET /v1/subscriptions` with
 * Stripe's list semantics (`limit` 1–100, default 10; `starting_after`, `ending_before`; `status`,
 * default every status but `canceled`; `customer`; newest first; `has_more`, `data`,
 * `object: "list"`, `url`), `expand[]` of `data.latest_invoice` and `data.customer`, and
 * `GET /v1/subscriptions/:id`. Objects carry every field of Stripe's published objects
 * (stripe-objects.ts), `livemode` from the key's mode, and the period fields where the request's
 * `Stripe-Version` puts them. Unknown parameters get 400 `parameter_unknown`; every answer, errors
 * too, carries `Request-Id`. Faults are injected per listing page; requests are counted.
 */
export async function startStripeServer(options: StripeServerOptions = {}): Promise<StripeServer> {
  const defaultApiVersion = options.defaultApiVersion ?? "2025-03-31.basil";
  let subscriptions: SubscriptionFixture[] = [];
  let index = new Map<string, number>();
  let byCustomer = new Map<string, number[]>();
  let faults: PendingFault[] = [];
  const stats: StripeServerStats = {
    requests: 0,
    listRequests: 0,
    retrieveRequests: 0,
    lastListQuery: undefined,
    lastApiVersion: undefined,
  };

  const setSubscriptions = (list: SubscriptionFixture[]) => {
    subscriptions = list
      .map((sub, order) => ({ sub: structuredClone(sub), order }))
      .sort((a, b) => (b.sub.created ?? 1_700_000_000) - (a.sub.created ?? 1_700_000_000) || a.order - b.order)
      .map(({ sub }) => sub);
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

  /** The `expand[]` values of a request, or the first one this server cannot expand. */
  function expansions(query: URLSearchParams, prefix: string): { invoice: boolean; customer: boolean } | { bad: string } {
    const wanted = { invoice: false, customer: false };
    for (const [key, value] of query) {
      if (baseName(key) !== "expand") continue;
      const path = prefix === "" ? value : value.startsWith(prefix) ? value.slice(prefix.length) : undefined;
      if (path === undefined || !EXPANDABLE.has(path)) return { bad: value };
      if (path === "latest_invoice") wanted.invoice = true;
      else wanted.customer = true;
    }
    return wanted;
  }

  function list(req: IncomingMessage, answer: Answer, query: URLSearchParams, livemode: boolean) {
    stats.listRequests++;
    stats.lastListQuery = query.toString();
    for (const key of query.keys()) {
      const name = baseName(key);
      if (!LIST_PARAMS.has(name)) {
        return stripeError(answer, 400, "invalid_request_error", `Received unknown parameter: ${name}`, {
          code: "parameter_unknown",
          param: name,
          doc_url: "https://stripe.com/docs/error-codes/parameter-unknown",
        });
      }
    }
    const expand = expansions(query, "data.");
    if ("bad" in expand) {
      return stripeError(answer, 400, "invalid_request_error", `This property cannot be expanded (${expand.bad}).`, { param: "expand" });
    }
    const limitText = query.get("limit");
    const limit = limitText === null ? 10 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      return stripeError(answer, 400, "invalid_request_error", "Invalid integer: limit must be between 1 and 100.", { param: "limit" });
    }
    const status = query.get("status");
    if (status !== null && status !== "all" && status !== "ended" && !STATUSES.has(status)) {
      return stripeError(answer, 400, "invalid_request_error", "Invalid status.", { param: "status" });
    }
    const customer = query.get("customer");
    const matches = (sub: SubscriptionFixture) =>
      (customer === null || sub.customer === customer) &&
      (status === "all" ||
        (status === null && sub.status !== "canceled") ||
        (status === "ended" && (sub.status === "canceled" || sub.status === "incomplete_expired")) ||
        sub.status === status);
    const cursor = (param: "starting_after" | "ending_before") => {
      const id = query.get(param);
      if (id === null) return { position: undefined };
      const position = index.get(id);
      if (position === undefined) {
        stripeError(answer, 400, "invalid_request_error", `No such subscription: '${id}'`, { code: "resource_missing", param });
        return undefined;
      }
      return { position };
    };
    const after = cursor("starting_after");
    if (!after) return;
    const before = cursor("ending_before");
    if (!before) return;
    // Matching positions in listing order; the whole store is its own list (no copy per page).
    const everything = customer === null && status === "all";
    const eligible = everything
      ? undefined
      : (customer === null ? subscriptions.map((_, i) => i) : (byCustomer.get(customer) ?? [])).filter((position) =>
          matches(subscriptions[position] as SubscriptionFixture),
        );
    const count = (below: number) => (eligible ? eligible.filter((position) => position < below).length : below);
    let from = 0;
    let to = eligible ? eligible.length : subscriptions.length;
    if (after.position !== undefined) from = count(after.position + 1);
    if (before.position !== undefined) {
      to = count(before.position);
      from = Math.max(0, to - limit);
    }
    const end = Math.min(to, from + limit);
    const chosen = eligible ? eligible.slice(from, end) : Array.from({ length: Math.max(0, end - from) }, (_, i) => from + i);
    // The page a request asks for, counted over the whole listing, so faults stay put across retries.
    const page = Math.floor(from / limit) + 1;
    const fault = takeFault(page);
    const shape = {
      livemode,
      periodsOnItems: periodsOnItems(answer.apiVersion),
      expandInvoice: expand.invoice,
      expandCustomer: expand.customer,
    };
    const data = chosen.map((position) => subscriptionObject(subscriptions[position] as SubscriptionFixture, shape));
    const hasMore = before.position !== undefined ? from > 0 : from + chosen.length < to;
    const body = { object: "list", data, has_more: hasMore, url: "/v1/subscriptions" };
    switch (fault?.kind) {
      case "rate-limit": {
        const headers: Record<string, string> = {};
        if (fault.retryAfter !== null) headers["retry-after"] = String(fault.retryAfter ?? 1);
        if (fault.shouldRetry) headers["stripe-should-retry"] = "true";
        return stripeError(
          answer,
          429,
          "invalid_request_error",
          "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
          { code: "rate_limit", doc_url: "https://stripe.com/docs/error-codes/rate-limit" },
          headers,
        );
      }
      case "server-error":
        return stripeError(
          answer,
          500,
          "api_error",
          "An unknown error occurred while processing your request.",
          {},
          fault.shouldRetry === undefined ? {} : { "stripe-should-retry": String(fault.shouldRetry) },
        );
      case "invalid-key": {
        const key = (req.headers.authorization ?? "").replace(/^Bearer /, "");
        return stripeError(answer, 401, "invalid_request_error", `Invalid API Key provided: ${key.slice(0, 8)}****${key.slice(-4)}`);
      }
      case "forbidden": {
        const key = (req.headers.authorization ?? "").replace(/^Bearer /, "");
        return stripeError(
          answer,
          403,
          "invalid_request_error",
          `The provided key '${key.slice(0, 8)}****${key.slice(-4)}' does not have the required permissions for this endpoint on account 'acct_test'. Having the 'rak_subscription_read' permission would allow this request to continue.`,
        );
      }
      case "malformed-json": {
        const text = "<html><body>502 Bad Gateway</body></html>";
        answer.res.writeHead(200, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(text),
          "request-id": answer.requestId,
        });
        answer.res.end(text);
        return;
      }
      case "truncated-body": {
        const text = JSON.stringify(body);
        answer.res.writeHead(200, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(text),
          "request-id": answer.requestId,
        });
        answer.res.write(text.slice(0, Math.floor(text.length / 2)));
        answer.res.destroy();
        return;
      }
      default: {
        const reply = fault?.kind === "early-end" ? { ...body, has_more: false } : body;
        Promise.resolve(server.onPage?.(page)).then(
          () => send(answer, 200, reply),
          () => stripeError(answer, 500, "api_error", "The test's onPage hook failed."),
        );
      }
    }
  }

  const http = createServer((req, res) => {
    stats.requests++;
    const apiVersion = typeof req.headers["stripe-version"] === "string" ? req.headers["stripe-version"] : defaultApiVersion;
    stats.lastApiVersion = apiVersion;
    const answer: Answer = { res, apiVersion, requestId: `req_${randomBytes(7).toString("hex")}` };
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const livemode = keyModeOf(req);
    if (livemode === undefined) {
      return stripeError(
        answer,
        401,
        "invalid_request_error",
        "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth.",
      );
    }
    if (req.method !== "GET") return stripeError(answer, 405, "invalid_request_error", "Only GET is served here.");
    if (url.pathname === "/v1/subscriptions") return list(req, answer, url.searchParams, livemode === "live");
    const one = /^\/v1\/subscriptions\/([^/]+)$/.exec(url.pathname);
    if (one) {
      stats.retrieveRequests++;
      const position = index.get(decodeURIComponent(one[1] as string));
      if (position === undefined) {
        return stripeError(answer, 404, "invalid_request_error", "No such subscription.", { code: "resource_missing", param: "id" });
      }
      const expand = expansions(url.searchParams, "");
      if ("bad" in expand) {
        return stripeError(answer, 400, "invalid_request_error", `This property cannot be expanded (${expand.bad}).`, { param: "expand" });
      }
      return send(
        answer,
        200,
        subscriptionObject(subscriptions[position] as SubscriptionFixture, {
          livemode: livemode === "live",
          periodsOnItems: periodsOnItems(apiVersion),
          expandInvoice: expand.invoice,
          expandCustomer: expand.customer,
        }),
      );
    }
    stripeError(answer, 404, "invalid_request_error", `Unrecognized request URL (GET: ${url.pathname}).`);
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
      subscriptions[position] = { ...(subscriptions[position] as SubscriptionFixture), ...structuredClone(change) };
    },
    inject,
    reset() {
      faults = [];
      stats.requests = 0;
      stats.listRequests = 0;
      stats.retrieveRequests = 0;
      stats.lastListQuery = undefined;
      stats.lastApiVersion = undefined;
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
