import { gzipSync } from "node:zlib";

/** A registry request that failed; the message names the request, never the token or a response body. */
export class RegistryRequestError extends Error {
  override readonly name = "RegistryRequestError";
}

/** What a request is for, as the run counts them. */
export type RequestKind = "advisories" | "packuments" | "osv";

/** How the task talks to the registry. */
export interface RegistryClient {
  /** The registry's base URL, ending with `/`. */
  base: URL;
  /** Sent as `Authorization: Bearer …` to the registry's origin only. */
  token: string | undefined;
  timeoutMs: number;
  retries: number;
  maxRetryAfterMs: number;
  maxResponseBytes: number;
  signal: AbortSignal;
  /** Counts requests sent, retries included. */
  count: (kind: RequestKind) => void;
}

/** An advisory as the bulk endpoint answers it. */
export interface BulkAdvisory {
  id: number | string;
  url?: string;
  title?: string;
  severity?: string;
  vulnerable_versions?: string;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null || header.trim() === "") return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

async function readCapped(response: Response, maxBytes: number, what: string): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new RegistryRequestError(`${what}: answer larger than ${maxBytes} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > maxBytes) throw new RegistryRequestError(`${what}: answer larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * One request with the client's limits: a timeout per attempt, no redirects (the token never
 * leaves the registry's origin), retries on 429, 5xx and network errors, waiting what
 * `Retry-After` asks when it asks (up to `maxRetryAfterMs`, else failing) or 2^attempt × 250 ms.
 * Returns the response of the last attempt with a status below 500 other than 429.
 */
async function send(client: RegistryClient, kind: RequestKind, url: URL, init: RequestInit, what: string): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    client.count(kind);
    const timeout = AbortSignal.timeout(client.timeoutMs);
    const headers = new Headers(init.headers);
    if (client.token !== undefined) headers.set("authorization", `Bearer ${client.token}`);
    let response: Response | undefined;
    let problem: string;
    try {
      response = await fetch(url, { ...init, headers, redirect: "error", signal: AbortSignal.any([client.signal, timeout]) });
      if (response.status !== 429 && response.status < 500) return response;
      problem = `HTTP ${response.status}`;
    } catch (error) {
      if (client.signal.aborted) throw client.signal.reason;
      problem = timeout.aborted
        ? `no answer within ${client.timeoutMs} ms`
        : `request failed (${(error as { cause?: { code?: string } })?.cause?.code ?? "network error"})`;
    }
    const asked = response ? retryAfterMs(response.headers.get("retry-after"), Date.now()) : undefined;
    await response?.body?.cancel().catch(() => {});
    if (attempt >= client.retries) throw new RegistryRequestError(`${what}: ${problem} after ${attempt + 1} attempt(s)`);
    if (asked !== undefined && asked > client.maxRetryAfterMs) {
      throw new RegistryRequestError(
        `${what}: ${problem}, Retry-After ${Math.ceil(asked / 1000)} s is longer than ${client.maxRetryAfterMs} ms`,
      );
    }
    await sleep(asked ?? 250 * 2 ** attempt, client.signal);
  }
}

/** Reads a JSON answer: a non-2xx status or a body that is not JSON throws, naming `what`. */
async function jsonAnswer(client: RegistryClient, response: Response, what: string): Promise<unknown> {
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    throw new RegistryRequestError(`${what}: HTTP ${response.status}`);
  }
  try {
    return JSON.parse(await readCapped(response, client.maxResponseBytes, what));
  } catch (error) {
    if (error instanceof RegistryRequestError) throw error;
    throw new RegistryRequestError(`${what}: the answer is not JSON`);
  }
}

/**
 * Asks npm's bulk advisory endpoint (`POST /-/npm/v1/security/advisories/bulk`, gzipped JSON
 * `{ name: [versions] }`) about one batch; answers `{ name: [advisory] }`. A non-2xx answer or a
 * body that is not that shape throws, naming `what` (the batch).
 */
export async function bulkAdvisories(
  client: RegistryClient,
  batch: Record<string, string[]>,
  what: string,
): Promise<Record<string, BulkAdvisory[]>> {
  const url = new URL("-/npm/v1/security/advisories/bulk", client.base);
  const response = await send(
    client,
    "advisories",
    url,
    {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "gzip", accept: "application/json" },
      body: gzipSync(JSON.stringify(batch)),
    },
    what,
  );
  const parsed = await jsonAnswer(client, response, what);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new RegistryRequestError(`${what}: the answer is not an object`);
  for (const [name, list] of Object.entries(parsed)) {
    if (!Array.isArray(list) || list.some((item) => typeof item !== "object" || item === null || !("id" in item))) {
      throw new RegistryRequestError(`${what}: the answer for ${name} is not a list of advisories`);
    }
  }
  return parsed as Record<string, BulkAdvisory[]>;
}

/** What the task keeps of a packument: its validator and, per version, the published hashes. */
export interface PackumentSummary {
  etag: string | null;
  /** Every published version, in the registry's order. */
  versions: string[];
  /** The locked versions' `dist`: `[integrity, shasum, tarball host]`. */
  dist: Record<string, [string | null, string | null, string | null]>;
}

/** The registry's answer for one name: a summary, unchanged since `etag` (304), or unknown (404). */
export type PackumentAnswer = { status: "ok"; summary: PackumentSummary } | { status: "not_modified" } | { status: "missing" };

/** The path of a package in the registry: a scoped name's `/` is escaped, as npm does. */
const packumentPath = (name: string) => (name.startsWith("@") ? `@${encodeURIComponent(name.slice(1))}` : encodeURIComponent(name));

/**
 * Fetches the abbreviated packument (`Accept: application/vnd.npm.install-v1+json`) of `name`,
 * conditional on `etag`, and keeps only what the audit needs for `wanted` versions. The body is
 * capped; no full packument is ever downloaded.
 */
export async function fetchPackument(
  client: RegistryClient,
  name: string,
  etag: string | null,
  wanted: readonly string[],
): Promise<PackumentAnswer> {
  const what = `packument of ${name}`;
  const headers: Record<string, string> = { accept: "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8" };
  if (etag) headers["if-none-match"] = etag;
  const response = await send(client, "packuments", new URL(packumentPath(name), client.base), { headers }, what);
  if (response.status === 304) {
    await response.body?.cancel().catch(() => {});
    return { status: "not_modified" };
  }
  if (response.status === 404) {
    await response.body?.cancel().catch(() => {});
    return { status: "missing" };
  }
  const body = (await jsonAnswer(client, response, what)) as {
    versions?: Record<string, { dist?: { integrity?: unknown; shasum?: unknown; tarball?: unknown } }>;
  };
  if (typeof body?.versions !== "object" || body.versions === null) throw new RegistryRequestError(`${what}: the answer has no versions`);
  const dist: PackumentSummary["dist"] = {};
  for (const version of wanted) {
    const found = body.versions[version]?.dist;
    if (!found) continue;
    let host: string | null = null;
    try {
      host = typeof found.tarball === "string" ? new URL(found.tarball).host : null;
    } catch {}
    dist[version] = [
      typeof found.integrity === "string" ? found.integrity : null,
      typeof found.shasum === "string" ? found.shasum : null,
      host,
    ];
  }
  return { status: "ok", summary: { etag: response.headers.get("etag"), versions: Object.keys(body.versions), dist } };
}

/** An OSV vulnerability, as much of it as the audit reads. */
export interface OsvVulnerability {
  id: string;
  summary?: string;
  aliases?: string[];
  affected?: Array<{
    package?: { name?: string; ecosystem?: string };
    ranges?: Array<{ type?: string; events?: Array<{ introduced?: string; fixed?: string; last_affected?: string }> }>;
  }>;
  database_specific?: { severity?: string };
}

/**
 * Asks an OSV API (`POST /v1/querybatch`) which vulnerabilities affect each `name@version`; answers
 * the ids per query, in order. A paged answer (`next_page_token`) is refused rather than cut short.
 */
export async function osvQueryBatch(
  client: RegistryClient,
  queries: Array<{ name: string; version: string }>,
  what: string,
): Promise<string[][]> {
  const body = JSON.stringify({ queries: queries.map(({ name, version }) => ({ package: { name, ecosystem: "npm" }, version })) });
  const response = await send(
    client,
    "osv",
    new URL("v1/querybatch", client.base),
    { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body },
    what,
  );
  const parsed = (await jsonAnswer(client, response, what)) as {
    results?: Array<{ vulns?: Array<{ id?: unknown }>; next_page_token?: unknown }>;
  };
  if (!Array.isArray(parsed?.results) || parsed.results.length !== queries.length) {
    throw new RegistryRequestError(`${what}: the answer does not have one result per query`);
  }
  return parsed.results.map((result) => {
    if (result?.next_page_token) throw new RegistryRequestError(`${what}: a paged answer (next_page_token) is not supported`);
    return (result?.vulns ?? []).flatMap((vuln) => (typeof vuln?.id === "string" ? [vuln.id] : []));
  });
}

/** Fetches one OSV vulnerability (`GET /v1/vulns/:id`). */
export async function osvVulnerability(client: RegistryClient, id: string): Promise<OsvVulnerability> {
  const what = `OSV vulnerability ${id}`;
  const response = await send(
    client,
    "osv",
    new URL(`v1/vulns/${encodeURIComponent(id)}`, client.base),
    { headers: { accept: "application/json" } },
    what,
  );
  const parsed = (await jsonAnswer(client, response, what)) as OsvVulnerability;
  if (typeof parsed?.id !== "string") throw new RegistryRequestError(`${what}: the answer is not a vulnerability`);
  return parsed;
}
