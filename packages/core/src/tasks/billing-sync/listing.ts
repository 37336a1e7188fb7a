import { setTimeout as sleep } from "node:timers/promises";
import { TaskError } from "../../errors.ts";
import type { Logger } from "../../logger.ts";
import {
  describeStripeError,
  isTransient,
  type StripeClient,
  type StripeSubscriptionLike,
  type SubscriptionListParams,
} from "./stripe-client.ts";

export const PAGE_SIZE = 100;
/** Expanded in the same list request (no extra request): the latest invoice dates a `past_due`. */
export const EXPAND = ["data.latest_invoice"] as const;

export interface ListingOptions {
  mode: "live" | "test";
  signal: AbortSignal;
  logger: Logger;
  rateLimitRetries: number;
  maxRateLimitWaitMs: number;
  /** Receives every subscription once, in listing order. */
  onSubscription(sub: StripeSubscriptionLike): void;
  /** Called every page's worth of subscriptions. */
  onProgress(listed: number): void;
}

/** The customer id of a subscription, expanded or not; undefined when it has none. */
export function customerOf(sub: StripeSubscriptionLike): string | undefined {
  const id = typeof sub.customer === "string" ? sub.customer : sub.customer?.id;
  return typeof id === "string" && id !== "" ? id : undefined;
}

/** Thrown when the run's signal fired while listing: nothing has been changed. */
function stopped(signal: AbortSignal, listed: number): TaskError {
  return new TaskError(`billing-sync stopped (${String(signal.reason)}) after listing ${listed} subscriptions; nothing was changed`, {
    reason: "ABORTED",
  });
}

/**
 * Lists every subscription once with the client's auto-pagination (`status: 'all'`, 100 a page).
 * The client's own `maxNetworkRetries` covers connection errors and 5xx answers; a 429 (which the
 * client does not retry) resumes the listing after the last subscription seen, once `Retry-After`
 * has passed. Any other failure, or the signal, ends the listing with a `TaskError`: the caller
 * changes nothing unless this resolves.
 */
export async function listAllSubscriptions(client: StripeClient, options: ListingOptions): Promise<number> {
  const { signal, logger } = options;
  let lastId: string | undefined;
  let listed = 0;
  let rateLimited = 0;
  for (;;) {
    try {
      const params: SubscriptionListParams = { status: "all", limit: PAGE_SIZE, expand: [...EXPAND] };
      if (lastId !== undefined) params.starting_after = lastId;
      for await (const sub of client.subscriptions.list(params)) {
        if (signal.aborted) throw stopped(signal, listed);
        if (typeof sub.livemode === "boolean" && sub.livemode !== (options.mode === "live")) {
          throw new TaskError(
            `billing-sync refused: Stripe returned ${sub.livemode ? "live" : "test"}-mode subscriptions but mode is "${options.mode}"; nothing was changed`,
            { reason: "STRIPE_KEY_MODE" },
          );
        }
        options.onSubscription(sub);
        lastId = sub.id;
        listed++;
        if (listed % PAGE_SIZE === 0) options.onProgress(listed);
      }
      options.onProgress(listed);
      return listed;
    } catch (error) {
      if (error instanceof TaskError) throw error;
      if (signal.aborted) throw stopped(signal, listed);
      const failure = describeStripeError(error);
      if (failure.type === "StripeRateLimitError" && rateLimited < options.rateLimitRetries) {
        rateLimited++;
        const waitMs = Math.min(options.maxRateLimitWaitMs, (failure.retryAfter ?? 2 ** rateLimited) * 1000);
        logger.warn(
          { listed, waitMs, attempt: rateLimited, requestId: failure.requestId },
          "[upkeep] billing-sync rate-limited by Stripe; resuming the listing",
        );
        try {
          await sleep(waitMs, undefined, { signal });
        } catch {
          throw stopped(signal, listed);
        }
        continue;
      }
      const status = failure.statusCode === undefined ? "" : `, status ${failure.statusCode}`;
      const code = failure.code === undefined ? "" : `, code ${failure.code}`;
      const request = failure.requestId === undefined ? "" : `, request ${failure.requestId}`;
      throw new TaskError(
        `billing-sync could not list subscriptions after ${listed} (${failure.type}${status}${code}${request}: ${failure.message}); nothing was changed`,
        { reason: "STRIPE_LISTING_FAILED", retryable: isTransient(failure) },
      );
    }
  }
}
