import { randomUUID } from "node:crypto";
import type { Knex } from "knex";
import { Webhook } from "standardwebhooks";
import { type Duration, parseDuration } from "../duration.ts";
import { ConfigError, type ConfigIssue } from "../errors.ts";
import { createJsonLogger, type Logger } from "../logger.ts";
import type { EventTarget } from "../outbox.ts";
import type { StoredEvent } from "../store/event-types.ts";
import type { TaskEvent } from "../task.ts";
import { DeliveryTable } from "./deliveries.ts";
import { type PostOutcome, postSigned } from "./webhook-post.ts";

type Severity = NonNullable<TaskEvent["severity"]>;

/** Which events a webhook target sends; an event must pass every rule given. */
export interface WebhookFilter {
  /**
   * Only events a task marked `security`.
   * @default false
   */
  security?: boolean;
  /**
   * Only these event types; an entry ending in `.*` (`agent.*`) matches every type under it.
   * @default every type
   */
  types?: readonly string[];
  /**
   * Only events of this severity or above (`info` < `warning` < `critical`).
   * @default "info"
   */
  minSeverity?: Severity;
}

/** How long and how often a delivery that fails is retried before it is `failed`. */
export interface WebhookRetryOptions {
  /**
   * How long after it was accepted a delivery is retried; a retry that would fall later is not made.
   * @default "24h"
   */
  maxAge?: Duration;
  /**
   * Attempts in all, the first one included.
   * @default 50
   */
  attempts?: number;
  /**
   * Delay after the first failed attempt; each later one doubles it, up to `maxDelay`. Each delay
   * is then drawn at random between half of it and all of it (jitter).
   * @default "10s"
   */
  initialDelay?: Duration;
  /**
   * Upper bound of one delay.
   * @default "1h"
   */
  maxDelay?: Duration;
}

/** Options of `webhookTarget`. */
export interface WebhookTargetOptions {
  /** The knex instance whose `<prefix>event_deliveries` table holds the deliveries (upkeep's own `db`). */
  db: Knex;
  /** The endpoint: `https:`, or plain `http:` only for 127.0.0.1, ::1 or localhost. No credentials in it. */
  url: string;
  /** The endpoint's Standard Webhooks secret: `whsec_` and the base64 of 24 to 64 random bytes. */
  secret: string;
  /**
   * Names the target in each delivery row, in logs and in `upkeep events redeliver --target`.
   * Unique among the configured targets.
   * @default "webhook"
   */
  name?: string;
  /** Which events to send. @default every event */
  filter?: WebhookFilter;
  /** The retry bound. @default { maxAge: "24h", attempts: 50, initialDelay: "10s", maxDelay: "1h" } */
  retry?: WebhookRetryOptions;
  /**
   * How long one request may take until the endpoint's response headers.
   * @default "10s"
   */
  timeout?: Duration;
  /**
   * Requests in flight at once during a sweep.
   * @default 4
   */
  concurrency?: number;
  /**
   * The table prefix: the same as the configuration's `tablePrefix`.
   * @default "upkeep_"
   */
  tablePrefix?: string;
  /**
   * Where failed attempts are logged (a warning each); never with the secret.
   * @default JSON lines on stderr at info
   */
  logger?: Logger;
  /**
   * The clock of `accept` and of the signature's `webhook-timestamp`.
   * @default () => new Date()
   */
  clock?: () => Date;
}

/** What a sweep or a redelivery did, in attempts that ended each way. */
export interface WebhookSendReport {
  /** Attempts the endpoint accepted (a 2xx answer). */
  delivered: number;
  /** Attempts that failed and will be retried. */
  retrying: number;
  /** Attempts after which the delivery is `failed` (its bound is reached). */
  failed: number;
}

/** What `redeliver` reset, and what sending them came to. */
export interface WebhookRedeliverReport extends WebhookSendReport {
  /** Deliveries made pending again. */
  reset: number;
}

/** Options of `WebhookTarget.redeliver`. */
export interface WebhookRedeliverOptions {
  /**
   * These events' deliveries, whatever their state; without it, every `failed` delivery.
   * @default every failed delivery
   */
  eventIds?: readonly string[];
  /** Stops the sends between requests. */
  signal?: AbortSignal;
  /** The moment the reset deliveries are due from, and their maximum age counted from. @default the target's clock */
  now?: Date;
}

/** The signed-webhook delivery target: an `EventTarget`, plus redelivery and a way to wait for its sends. */
export interface WebhookTarget extends EventTarget {
  /** Sends every due pending delivery of this target, each claimed with a lease (what `sweep` does), and reports. */
  sendDue(now: Date, signal: AbortSignal): Promise<WebhookSendReport>;
  sweep(now: Date, signal: AbortSignal): Promise<void>;
  /** Makes deliveries pending again (a fresh retry bound, no attempts) and sends them once now. */
  redeliver(options?: WebhookRedeliverOptions): Promise<WebhookRedeliverReport>;
  /** Resolves once the sends that `accept` started in the background have ended. */
  idle(): Promise<void>;
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };
const LOOPBACK = new Set(["127.0.0.1", "[::1]", "localhost"]);
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Beyond the request timeout, how long a sender keeps its lease (the row's update after the response). */
const LEASE_MARGIN_MS = 30_000;
const BATCH = 100;

function urlIssue(value: unknown): string | undefined {
  if (typeof value !== "string") return "expected a URL string";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "not a valid URL";
  }
  if (url.username !== "" || url.password !== "") return "must not carry credentials (user:password@); authenticate by the signature";
  if (url.protocol === "https:") return undefined;
  if (url.protocol === "http:" && LOOPBACK.has(url.hostname)) return undefined;
  if (url.protocol === "http:") return "plain http: is allowed only for 127.0.0.1, ::1 and localhost; use https:";
  return "must be an https: URL";
}

/** Builds the signer, or says why the secret is not one; the message never quotes the value. */
function signerOf(value: unknown): Webhook | string {
  const shape = "expected a Standard Webhooks secret: whsec_ followed by the base64 of 24 to 64 bytes";
  if (typeof value !== "string" || !value.startsWith("whsec_")) return shape;
  const body = value.slice("whsec_".length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) return shape;
  const bytes = Buffer.from(body, "base64").length;
  if (bytes < 24 || bytes > 64) return shape;
  try {
    return new Webhook(value);
  } catch {
    return shape;
  }
}

function durationOf(value: Duration | undefined, fallback: number, path: string, issues: ConfigIssue[]): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) {
    issues.push({ path, message: "expected a positive duration such as '10s', '1h', '24h'" });
    return fallback;
  }
  return ms;
}

function positiveInteger(value: number | undefined, fallback: number, path: string, issues: ConfigIssue[]): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) issues.push({ path, message: "expected a whole number of at least 1" });
  return value;
}

function filterIssues(filter: WebhookFilter | undefined, issues: ConfigIssue[]): void {
  if (filter === undefined) return;
  if (filter.security !== undefined && typeof filter.security !== "boolean")
    issues.push({ path: "filter.security", message: "expected true or false" });
  if (
    filter.types !== undefined &&
    (!Array.isArray(filter.types) || filter.types.some((type) => typeof type !== "string" || type === ""))
  ) {
    issues.push({ path: "filter.types", message: "expected a list of event types" });
  }
  if (filter.minSeverity !== undefined && !(filter.minSeverity in SEVERITY_RANK)) {
    issues.push({ path: "filter.minSeverity", message: "expected info, warning or critical" });
  }
}

/** Whether the event passes the filter. */
function passes(filter: WebhookFilter, event: StoredEvent): boolean {
  if (filter.security && !event.security) return false;
  if (SEVERITY_RANK[event.severity] < SEVERITY_RANK[filter.minSeverity ?? "info"]) return false;
  if (filter.types === undefined) return true;
  return filter.types.some((type) => (type.endsWith(".*") ? event.type.startsWith(type.slice(0, -1)) : event.type === type));
}

/** The body every endpoint receives: the event, with Standard Webhooks' `type`, `timestamp` and `data`. */
function payloadOf(event: StoredEvent): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    timestamp: event.createdAt.toISOString(),
    task: event.task,
    runId: event.runId,
    severity: event.severity,
    security: event.security,
    data: event.data ?? null,
  });
}

interface Settings {
  name: string;
  url: string;
  timeoutMs: number;
  leaseMs: number;
  maxAgeMs: number;
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  concurrency: number;
  filter: WebhookFilter;
  logger: Logger;
  clock: () => Date;
}

type AttemptResult = "delivered" | "retrying" | "failed" | "skipped" | "stopped";

/** Checks every option, naming each bad field (never a value), and gives the settings. */
function settingsOf(options: WebhookTargetOptions): { settings: Settings; signer: Webhook } {
  const issues: ConfigIssue[] = [];
  const db = options?.db as unknown;
  if (typeof db !== "function" || !("client" in (db as object))) issues.push({ path: "db", message: "expected a knex instance" });
  const url = urlIssue(options?.url);
  if (url) issues.push({ path: "url", message: url });
  const signer = signerOf(options?.secret);
  if (typeof signer === "string") issues.push({ path: "secret", message: signer });
  const name = options?.name ?? "webhook";
  if (typeof name !== "string" || !NAME.test(name))
    issues.push({ path: "name", message: "expected letters, digits, '.', '_' or '-', at most 128" });
  const prefix = options?.tablePrefix ?? "upkeep_";
  if (typeof prefix !== "string" || !/^[a-z][a-z0-9_]{0,30}$/i.test(prefix)) {
    issues.push({ path: "tablePrefix", message: "expected letters, digits and '_', starting with a letter, at most 31 characters" });
  }
  filterIssues(options?.filter, issues);
  const retry = options?.retry ?? {};
  const timeoutMs = durationOf(options?.timeout, 10_000, "timeout", issues);
  const settings: Settings = {
    name,
    url: String(options?.url),
    timeoutMs,
    leaseMs: timeoutMs + LEASE_MARGIN_MS,
    maxAgeMs: durationOf(retry.maxAge, 86_400_000, "retry.maxAge", issues),
    attempts: positiveInteger(retry.attempts, 50, "retry.attempts", issues),
    initialDelayMs: durationOf(retry.initialDelay, 10_000, "retry.initialDelay", issues),
    maxDelayMs: durationOf(retry.maxDelay, 3_600_000, "retry.maxDelay", issues),
    concurrency: positiveInteger(options?.concurrency, 4, "concurrency", issues),
    filter: options?.filter ?? {},
    logger: options?.logger ?? createJsonLogger(),
    clock: options?.clock ?? (() => new Date()),
  };
  if (issues.length > 0 || typeof signer === "string") throw new ConfigError("invalid webhookTarget options", issues);
  return { settings, signer };
}

/**
 * The signed-webhook target. The secret lives only inside the signer, in a private field: logging
 * or serialising the target shows neither.
 */
class WebhookDelivery implements WebhookTarget {
  readonly name: string;
  readonly #settings: Settings;
  readonly #signer: Webhook;
  readonly #table: DeliveryTable;
  /** This instance's lease owner id: one per process and target. */
  readonly #owner = randomUUID();
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(options: WebhookTargetOptions) {
    const { settings, signer } = settingsOf(options);
    this.name = settings.name;
    this.#settings = settings;
    this.#signer = signer;
    this.#table = new DeliveryTable(options.db, `${options.tablePrefix ?? "upkeep_"}event_deliveries`, settings.name);
  }

  async accept(event: StoredEvent, signal: AbortSignal): Promise<void> {
    if (!passes(this.#settings.filter, event)) return;
    const now = this.#settings.clock();
    await this.#table.insert(event.id, payloadOf(event), now.getTime(), now.getTime() + this.#settings.maxAgeMs);
    const send = this.#attempt(event.id, now, signal).catch((error: unknown) => {
      // The row is pending: the next sweep sends it. Only the error's class and code are logged.
      this.#settings.logger.error({ target: this.name, eventId: event.id, err: describeError(error) }, "[upkeep] webhook send failed");
    });
    this.#inFlight.add(send);
    void send.finally(() => this.#inFlight.delete(send));
  }

  async sweep(now: Date, signal: AbortSignal): Promise<void> {
    await this.sendDue(now, signal);
  }

  async sendDue(now: Date, signal: AbortSignal): Promise<WebhookSendReport> {
    const report: WebhookSendReport = { delivered: 0, retrying: 0, failed: 0 };
    while (!signal.aborted) {
      const due = await this.#table.due(now.getTime(), BATCH);
      if (due.length === 0) break;
      const results = await this.#sendAll(due, now, signal);
      tally(report, results);
      // Every row lost to another sender (or stopped): the next query would find the same rows.
      if (!results.some((result) => result === "delivered" || result === "retrying" || result === "failed")) break;
    }
    return report;
  }

  async redeliver(options: WebhookRedeliverOptions = {}): Promise<WebhookRedeliverReport> {
    const now = options.now ?? this.#settings.clock();
    const ids = await this.#table.reset(options.eventIds, now.getTime(), now.getTime() + this.#settings.maxAgeMs);
    const report: WebhookRedeliverReport = { reset: ids.length, delivered: 0, retrying: 0, failed: 0 };
    const signal = options.signal ?? new AbortController().signal;
    for (let at = 0; at < ids.length && !signal.aborted; at += BATCH) {
      tally(report, await this.#sendAll(ids.slice(at, at + BATCH), now, signal));
    }
    return report;
  }

  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Attempts the deliveries, `concurrency` requests at a time. */
  async #sendAll(ids: readonly string[], now: Date, signal: AbortSignal): Promise<AttemptResult[]> {
    const results: AttemptResult[] = [];
    let next = 0;
    const worker = async () => {
      while (next < ids.length && !signal.aborted) {
        const id = ids[next++] as string;
        results.push(await this.#attempt(id, now, signal));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#settings.concurrency, ids.length) }, worker));
    return results;
  }

  /**
   * One attempt at one delivery: claim its lease (compare-and-set, so one process sends it), sign
   * and POST it, record the outcome under the lease. Times count from `base` (the sweep's `now`).
   */
  async #attempt(eventId: string, base: Date, signal: AbortSignal): Promise<AttemptResult> {
    const started = performance.now();
    const at = () => base.getTime() + Math.round(performance.now() - started);
    const s = this.#settings;
    const claimed = await this.#table.claim(eventId, this.#owner, base.getTime(), base.getTime() + s.leaseMs);
    if (!claimed) return "skipped";
    const timestamp = s.clock();
    const outcome = await postSigned({
      url: s.url,
      body: claimed.payload,
      headers: {
        "content-type": "application/json",
        "user-agent": "upkeep-webhooks",
        "webhook-id": eventId,
        "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
        "webhook-signature": this.#signer.sign(eventId, timestamp, claimed.payload),
      },
      timeoutMs: s.timeoutMs,
      signal,
    });
    const attempts = claimed.attempts + 1;
    if (outcome.kind === "stopped") {
      await this.#table.release(eventId, this.#owner);
      return "stopped";
    }
    if (outcome.kind === "delivered") {
      await this.#table.delivered(eventId, this.#owner, attempts, outcome.status, at());
      return "delivered";
    }
    const nextAttemptAt = at() + this.#delay(attempts);
    const final = attempts >= s.attempts || nextAttemptAt > claimed.giveUpAt;
    const status = statusOf(outcome);
    await this.#table.attemptFailed(eventId, this.#owner, {
      attempts,
      status,
      error: outcome.error,
      state: final ? "failed" : "pending",
      nextAttemptAt,
    });
    s.logger.warn(
      { target: this.name, eventId, attempts, status, error: outcome.error, state: final ? "failed" : "pending" },
      final ? "[upkeep] webhook delivery failed for good" : "[upkeep] webhook delivery failed; will retry",
    );
    return final ? "failed" : "retrying";
  }

  /** The wait after the `attempts`-th failed attempt: doubling from `initialDelay`, capped, with jitter. */
  #delay(attempts: number): number {
    const { initialDelayMs, maxDelayMs } = this.#settings;
    const exponential = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempts - 1, 40));
    return Math.round(exponential * (0.5 + Math.random() * 0.5));
  }
}

function statusOf(outcome: PostOutcome): number | null {
  return outcome.kind === "rejected" ? outcome.status : null;
}

function tally(report: WebhookSendReport, results: readonly AttemptResult[]): void {
  for (const result of results) {
    if (result === "delivered" || result === "retrying" || result === "failed") report[result]++;
  }
}

/** A database error's class and code, for a log line (a driver's message may quote SQL values). */
function describeError(error: unknown): { name: string; code?: string } {
  if (typeof error !== "object" || error === null) return { name: typeof error };
  const { name, code } = error as { name?: unknown; code?: unknown };
  return { name: typeof name === "string" ? name : "Error", ...(typeof code === "string" ? { code } : {}) };
}

/**
 * A delivery target that POSTs each accepted event, signed by the Standard Webhooks spec
 * (`webhook-id` is the event's id), to one endpoint. `accept` stores the delivery in
 * `<prefix>event_deliveries` and starts the first attempt in the background; `sweep` retries
 * what is due, with exponential backoff and jitter, until the retry bound marks it `failed`.
 * Throws a `ConfigError` naming each bad option (never the secret).
 */
export function webhookTarget(options: WebhookTargetOptions): WebhookTarget {
  return new WebhookDelivery(options);
}
