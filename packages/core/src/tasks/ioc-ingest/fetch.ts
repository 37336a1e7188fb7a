import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { pipeline, Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { createGunzip } from "node:zlib";

/** A download problem; the message names no URL query and no header value. */
export class FeedFetchError extends Error {
  override readonly name = "FeedFetchError";
  constructor(
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
  }
}

/** What one download may do. */
export interface FetchLimits {
  /** Largest body accepted, after decompression. */
  maxBytes: number;
  /** Longest a download may take, body included. */
  timeoutMs: number;
  /** Whether plain `http:` is allowed. */
  allowHttp: boolean;
  /** The run's signal; aborting it aborts the download. */
  signal: AbortSignal;
}

export interface FetchRequest {
  url: string;
  headers: Record<string, string>;
  /** Stored validators for a conditional request. */
  etag?: string | null;
  lastModified?: string | null;
}

export type FetchResult =
  | { status: "not_modified" }
  | {
      status: "ok";
      etag: string | null;
      lastModified: string | null;
      /** Response headers (empty for `file:`). */
      headers: Headers;
      /** The decoded body, gunzipped when it is gzip, counted against `maxBytes`. */
      body: AsyncIterable<Uint8Array>;
    };

/**
 * Whether a header value can be sent as it is: no CR, LF, NUL or other control character (tab
 * aside), nothing past U+00FF. Refused values are never echoed, since they may be secrets.
 */
export function isSendableHeaderValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 32 && code !== 9) || code === 127 || code > 255) return false;
  }
  return true;
}

/** Where a feed URL may point: https, http when allowed, or a local `file:`. */
export function urlProblem(url: string, allowHttp: boolean): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "expected an absolute URL";
  }
  if (parsed.protocol === "https:" || parsed.protocol === "file:") return undefined;
  if (parsed.protocol === "http:") return allowHttp ? undefined : "plain http is refused unless the feed sets allowHttp: true";
  return "expected an https:, http: or file: URL";
}

async function* gunzipIfNeeded(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return;
  const head = first.value;
  const rest = (async function* () {
    yield head;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  })();
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = pipeline(Readable.from(rest), createGunzip(), () => {});
    for await (const chunk of gunzip) yield chunk as Uint8Array;
  } else {
    yield* rest;
  }
}

async function* capped(source: AsyncIterable<Uint8Array>, maxBytes: number): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    if (total > maxBytes) throw new FeedFetchError(`body exceeds the size cap of ${maxBytes} bytes`, false);
    yield chunk;
  }
}

/**
 * The body as the reader sees it: gunzipped, capped, errors translated. Whenever it ends other
 * than by being read to the end (size cap, timeout, bad gzip, the reader stopping early or
 * throwing), `release` cancels the download so its socket or file handle is closed at once.
 */
function guarded(
  source: AsyncIterable<Uint8Array>,
  limits: FetchLimits,
  timeout: AbortSignal,
  release: () => void,
): AsyncGenerator<Uint8Array> {
  return (async function* () {
    let complete = false;
    try {
      yield* capped(gunzipIfNeeded(source), limits.maxBytes);
      complete = true;
    } catch (error) {
      throw translate(error, limits, timeout);
    } finally {
      if (!complete) release();
    }
  })();
}

function translate(error: unknown, limits: FetchLimits, timeout: AbortSignal): unknown {
  if (error instanceof FeedFetchError) return error;
  if (limits.signal.aborted) return error;
  if (timeout.aborted) return new FeedFetchError(`timed out after ${limits.timeoutMs} ms`, true);
  const code = (error as { code?: unknown })?.code ?? (error as { cause?: { code?: unknown } })?.cause?.code;
  if (code === "Z_DATA_ERROR" || code === "Z_BUF_ERROR") return new FeedFetchError("body is not valid gzip", false);
  return new FeedFetchError(`download failed (${(error as { cause?: { code?: string } })?.cause?.code ?? "network error"})`, true);
}

async function fetchFile(request: FetchRequest, limits: FetchLimits): Promise<FetchResult> {
  const path = fileURLToPath(request.url);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch {
    throw new FeedFetchError("local file is missing or unreadable", false);
  }
  // A file's size and modification time stand in for an ETag.
  const etag = `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  if (request.etag === etag) return { status: "not_modified" };
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const stream = createReadStream(path, { signal: AbortSignal.any([limits.signal, timeout]) });
  return { status: "ok", etag, lastModified: null, headers: new Headers(), body: guarded(stream, limits, timeout, () => stream.destroy()) };
}

/** Redirects followed at most, per download. */
export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Where a redirect from `from` to `location` may go, or why not. Checked before the next request
 * is sent: never from https to plain http, never off https/http, plain http only when allowed.
 */
export function redirectProblem(from: URL, location: string | null, allowHttp: boolean): { url: URL } | { problem: string } {
  if (!location) return { problem: "redirect without a Location" };
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    return { problem: "redirect to an invalid URL" };
  }
  if (from.protocol === "https:" && next.protocol === "http:") return { problem: "refused a redirect from https to plain http" };
  if (next.protocol === "https:") return { url: next };
  if (next.protocol === "http:") return allowHttp ? { url: next } : { problem: "refused a redirect to plain http" };
  return { problem: "refused a redirect to a non-http URL" };
}

/** Drops a response: cancels its body and aborts its request, so an unread body frees its socket. */
function discard(response: Response, abort: AbortController): void {
  abort.abort();
  response.body?.cancel().catch(() => {});
}

/**
 * Downloads a feed as a stream: conditional on the stored ETag and Last-Modified, gunzipped when
 * gzip (by Content-Encoding or by content), capped in size and time, https unless allowed. A 304
 * returns `not_modified`. Redirects are followed by hand, at most `MAX_REDIRECTS`: the feed's own
 * headers go only to the feed URL's origin (a hop to another origin drops them for the rest of
 * the download) and a redirect from https to http is refused before anything is sent. Throws
 * `FeedFetchError` for every failure the feed can recover from; no error carries a header value.
 */
export async function fetchFeed(request: FetchRequest, limits: FetchLimits): Promise<FetchResult> {
  const problem = urlProblem(request.url, limits.allowHttp);
  if (problem) throw new FeedFetchError(problem, false);
  if (request.url.startsWith("file:")) return fetchFile(request, limits);
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const abort = new AbortController();
  const signal = AbortSignal.any([limits.signal, timeout, abort.signal]);
  const origin = new URL(request.url).origin;
  let url = new URL(request.url);
  let trusted = true;
  let response: Response;
  for (let hop = 0; ; hop++) {
    const headers = new Headers(trusted ? request.headers : {});
    if (!headers.has("accept-encoding")) headers.set("accept-encoding", "gzip");
    if (request.etag) headers.set("if-none-match", request.etag);
    if (request.lastModified) headers.set("if-modified-since", request.lastModified);
    try {
      response = await fetch(url, { headers, redirect: "manual", signal });
    } catch (error) {
      abort.abort();
      throw translate(error, limits, timeout);
    }
    if (!REDIRECT_STATUSES.has(response.status)) break;
    const next = redirectProblem(url, response.headers.get("location"), limits.allowHttp);
    if ("problem" in next || hop >= MAX_REDIRECTS) {
      discard(response, abort);
      throw new FeedFetchError("problem" in next ? next.problem : `more than ${MAX_REDIRECTS} redirects`, false);
    }
    // The redirect's own body is not read; cancelling it lets its connection go.
    await response.body?.cancel().catch(() => {});
    if (next.url.origin !== origin) trusted = false;
    url = next.url;
  }
  if (response.status === 304) {
    await response.body?.cancel().catch(() => {});
    return { status: "not_modified" };
  }
  if (!response.ok || !response.body) {
    discard(response, abort);
    throw new FeedFetchError(`HTTP ${response.status}`, response.status >= 500 || response.status === 429 || response.status === 408);
  }
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (!response.headers.get("content-encoding") && Number.isFinite(declared) && declared > limits.maxBytes) {
    discard(response, abort);
    throw new FeedFetchError(`body exceeds the size cap of ${limits.maxBytes} bytes`, false);
  }
  const body = response.body;
  return {
    status: "ok",
    etag: response.headers.get("etag"),
    lastModified: response.headers.get("last-modified"),
    headers: response.headers,
    body: guarded(body as unknown as AsyncIterable<Uint8Array>, limits, timeout, () => {
      abort.abort();
      body.cancel().catch(() => {});
    }),
  };
}
