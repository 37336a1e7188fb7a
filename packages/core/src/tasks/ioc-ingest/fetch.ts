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

function guarded(source: AsyncIterable<Uint8Array>, limits: FetchLimits, timeout: AbortSignal): AsyncGenerator<Uint8Array> {
  return (async function* () {
    try {
      yield* capped(gunzipIfNeeded(source), limits.maxBytes);
    } catch (error) {
      throw translate(error, limits, timeout);
    }
  })();
}

function translate(error: unknown, limits: FetchLimits, timeout: AbortSignal): unknown {
  if (error instanceof FeedFetchError) return error;
  if (limits.signal.aborted) return error;
  if (timeout.aborted) return new FeedFetchError(`timed out after ${limits.timeoutMs} ms`, true);
  const code = (error as { code?: unknown })?.code;
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
  return { status: "ok", etag, lastModified: null, headers: new Headers(), body: guarded(stream, limits, timeout) };
}

/**
 * Downloads a feed as a stream: conditional on the stored ETag and Last-Modified, gunzipped when
 * gzip (by Content-Encoding or by content), capped in size and time, https unless allowed. A 304
 * returns `not_modified`. Throws `FeedFetchError` for every failure the feed can recover from.
 */
export async function fetchFeed(request: FetchRequest, limits: FetchLimits): Promise<FetchResult> {
  const problem = urlProblem(request.url, limits.allowHttp);
  if (problem) throw new FeedFetchError(problem, false);
  if (request.url.startsWith("file:")) return fetchFile(request, limits);
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const headers = new Headers(request.headers);
  if (!headers.has("accept-encoding")) headers.set("accept-encoding", "gzip");
  if (request.etag) headers.set("if-none-match", request.etag);
  if (request.lastModified) headers.set("if-modified-since", request.lastModified);
  let response: Response;
  try {
    response = await fetch(request.url, { headers, redirect: "follow", signal: AbortSignal.any([limits.signal, timeout]) });
  } catch (error) {
    throw translate(error, limits, timeout);
  }
  if (urlProblem(response.url || request.url, limits.allowHttp)) {
    await response.body?.cancel();
    throw new FeedFetchError("redirected to a plain http URL", false);
  }
  if (response.status === 304) {
    await response.body?.cancel();
    return { status: "not_modified" };
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new FeedFetchError(`HTTP ${response.status}`, response.status >= 500 || response.status === 429 || response.status === 408);
  }
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (!response.headers.get("content-encoding") && Number.isFinite(declared) && declared > limits.maxBytes) {
    await response.body.cancel();
    throw new FeedFetchError(`body exceeds the size cap of ${limits.maxBytes} bytes`, false);
  }
  return {
    status: "ok",
    etag: response.headers.get("etag"),
    lastModified: response.headers.get("last-modified"),
    headers: response.headers,
    body: guarded(response.body as unknown as AsyncIterable<Uint8Array>, limits, timeout),
  };
}

/** Reads a whole (capped) body as text, for JSON formats. */
export async function readText(body: AsyncIterable<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of body) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}
