import { FeedFetchError, type FetchLimits, fetchFeed, isSendableHeaderValue } from "./fetch.ts";
import type { FeedInput } from "./options.ts";
import { LINE_FORMATS, type LineFormat, type ParseSink, parseLineStream } from "./parsers.ts";
import { readMispEvent, readMispManifest, readStixBundle, readTaxiiEnvelope } from "./stix.ts";
import type { FeedState } from "./store.ts";

/** How reading a feed ended (errors are thrown as FeedFetchError). */
export type ReadOutcome =
  | { notModified: true }
  | { notModified: false; etag: string | null; lastModified: string | null; cursor: string | null };

export interface ReadContext {
  feed: FeedInput;
  state: FeedState | undefined;
  limits: FetchLimits;
  sink: ParseSink;
  /** Longest line of a line format, in characters. */
  maxLineLength: number;
  /** Writes what the sink holds when a batch is full; awaited between chunks for backpressure. */
  drain(): Promise<void>;
  now: number;
  env: NodeJS.ProcessEnv;
}

/** Resolves header values from the environment. Errors name the header and variable, never a value. */
export function resolveHeaders(headers: FeedInput["headers"], env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === "string") {
      out[name] = value;
      continue;
    }
    const resolved = env[value.env];
    if (resolved === undefined || resolved === "") {
      if (value.optional) continue;
      throw new FeedFetchError(`header ${name}: environment variable ${value.env} is not set`, false);
    }
    if (!isSendableHeaderValue(resolved)) {
      throw new FeedFetchError(`header ${name}: environment variable ${value.env} holds CR, LF or other control characters`, false);
    }
    out[name] = resolved;
  }
  return out;
}

async function readLines(context: ReadContext, headers: Record<string, string>): Promise<ReadOutcome> {
  const { feed, state, limits, sink } = context;
  const result = await fetchFeed({ url: feed.url, headers, etag: state?.etag, lastModified: state?.lastModified }, limits);
  if (result.status === "not_modified") return { notModified: true };
  await parseLineStream(feed.format as LineFormat, result.body, sink, {
    csv: feed.csv,
    maxLineLength: context.maxLineLength,
    drain: context.drain,
  });
  return { notModified: false, etag: result.etag, lastModified: result.lastModified, cursor: null };
}

async function readStix(context: ReadContext, headers: Record<string, string>): Promise<ReadOutcome> {
  const { feed, state, limits, sink } = context;
  const result = await fetchFeed({ url: feed.url, headers, etag: state?.etag, lastModified: state?.lastModified }, limits);
  if (result.status === "not_modified") return { notModified: true };
  await readStixBundle(result.body, sink, context.now, context.drain);
  return { notModified: false, etag: result.etag, lastModified: result.lastModified, cursor: null };
}

async function readMispFeed(context: ReadContext, headers: Record<string, string>): Promise<ReadOutcome> {
  const { feed, state, limits, sink } = context;
  const manifestUrl = feed.url.endsWith(".json") ? feed.url : `${feed.url.replace(/\/?$/, "/")}manifest.json`;
  const base = manifestUrl.slice(0, manifestUrl.lastIndexOf("/") + 1);
  const result = await fetchFeed({ url: manifestUrl, headers, etag: state?.etag, lastModified: state?.lastModified }, limits);
  if (result.status === "not_modified") return { notModified: true };
  for (const uuid of await readMispManifest(result.body)) {
    if (!/^[0-9a-f-]{36}$/i.test(uuid)) {
      sink.invalid(`manifest key ${uuid.slice(0, 40)}`);
      continue;
    }
    const event = await fetchFeed({ url: `${base}${uuid}.json`, headers }, limits);
    if (event.status === "not_modified") continue;
    await readMispEvent(event.body, sink, context.drain);
  }
  return { notModified: false, etag: result.etag, lastModified: result.lastModified, cursor: null };
}

async function readTaxii(context: ReadContext, headers: Record<string, string>): Promise<ReadOutcome> {
  const { feed, state, limits, sink } = context;
  const accept = Object.keys(headers).some((name) => name.toLowerCase() === "accept");
  const request = accept ? headers : { ...headers, Accept: "application/taxii+json;version=2.1" };
  let cursor = state?.cursor ?? null;
  let next: string | undefined;
  for (let page = 0; page < feed.taxii.maxPages; page++) {
    const url = new URL(feed.url);
    if (state?.cursor) url.searchParams.set("added_after", state.cursor);
    url.searchParams.set("limit", String(feed.taxii.limit));
    if (next !== undefined) url.searchParams.set("next", next);
    const result = await fetchFeed({ url: url.toString(), headers: request }, limits);
    if (result.status === "not_modified") break;
    const envelope = await readTaxiiEnvelope(result.body, sink, context.now, context.drain);
    const last = result.headers.get("x-taxii-date-added-last");
    if (last && (cursor === null || Date.parse(last) >= Date.parse(cursor))) cursor = last;
    if (!envelope.more || envelope.next === undefined) break;
    next = envelope.next;
  }
  return { notModified: false, etag: null, lastModified: null, cursor };
}

/** Downloads and parses one feed into the sink. Throws FeedFetchError when the feed cannot be read. */
export async function readFeed(context: ReadContext): Promise<ReadOutcome> {
  const headers = resolveHeaders(context.feed.headers, context.env);
  const format = context.feed.format;
  if ((LINE_FORMATS as readonly string[]).includes(format)) return readLines(context, headers);
  if (format === "stix") return readStix(context, headers);
  if (format === "misp-feed") return readMispFeed(context, headers);
  return readTaxii(context, headers);
}
