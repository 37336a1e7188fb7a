import { parseJsonStream } from "./json-stream.ts";
import type { KindHint } from "./normalise.ts";
import { addMispAttribute, type ParseSink } from "./parsers.ts";

const PATHS: Record<string, KindHint> = {
  "ipv4-addr:value": "ip",
  "ipv6-addr:value": "ip",
  "domain-name:value": "domain",
  "url:value": "url",
};
const HASH_PATH = /^file:hashes\.(?:'(MD5|SHA-1|SHA-256|SHA-512)'|(MD5|SHA1|SHA256|SHA512))$/i;
const COMPARISON = /^([a-z0-9-]+:[A-Za-z0-9_.'-]+)\s*=\s*'((?:[^'\\]|\\.)*)'$/;

/**
 * Longest STIX pattern read, in characters; a longer one is counted invalid unread. A pattern of a
 * few values is tens of characters; parsing is linear, but a crafted 8 MB pattern would still hold
 * the event loop for a second in one object.
 */
export const MAX_STIX_PATTERN_LENGTH = 64 * 1024;

/** Whether `text` has whitespace, `word` (any case) and whitespace at `at`. */
function wordAt(text: string, at: number, word: string): boolean {
  const end = at + word.length + 1;
  if (end >= text.length || !/\s/.test(text[at] as string) || !/\s/.test(text[end] as string)) return false;
  return text.slice(at + 1, end).toUpperCase() === word;
}

/** Splits `text` on ` OR ` / ` AND ` outside quotes; undefined when it holds an AND. */
function splitOr(text: string): string[] | undefined {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "\\" && quoted) {
      i++;
      continue;
    }
    if (char === "'") quoted = !quoted;
    if (quoted) continue;
    if (wordAt(text, i, "AND")) return undefined;
    if (wordAt(text, i, "OR")) {
      parts.push(text.slice(start, i).trim());
      start = i + 4;
      i = start - 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

/**
 * The values of a simple STIX 2.1 pattern: observation expressions `[...]` joined by OR, each made
 * of `path = 'value'` comparisons joined by OR, on addresses, domain names, URLs and file hashes.
 * Returns undefined for anything else (AND, other operators, qualifiers, other objects).
 */
export function parseStixPattern(pattern: string): Array<{ value: string; hint: KindHint }> | undefined {
  const found: Array<{ value: string; hint: KindHint }> = [];
  let i = 0;
  const text = pattern.trim();
  let expectOr = false;
  while (i < text.length) {
    while (text[i] === " ") i++;
    if (i >= text.length) break;
    if (expectOr) {
      const or = /^OR\s+/i.exec(text.slice(i));
      if (!or) return undefined;
      i += or[0].length;
      expectOr = false;
      continue;
    }
    if (text[i] !== "[") return undefined;
    let j = i + 1;
    let quoted = false;
    for (; j < text.length; j++) {
      if (text[j] === "\\" && quoted) j++;
      else if (text[j] === "'") quoted = !quoted;
      else if (text[j] === "]" && !quoted) break;
    }
    if (j >= text.length) return undefined;
    const comparisons = splitOr(text.slice(i + 1, j));
    if (!comparisons) return undefined;
    for (const comparison of comparisons) {
      const match = COMPARISON.exec(comparison);
      if (!match) return undefined;
      const path = match[1] as string;
      const value = (match[2] as string).replace(/\\(.)/g, "$1");
      const hint = PATHS[path] ?? (HASH_PATH.test(path) ? "hash" : undefined);
      if (!hint) return undefined;
      found.push({ value, hint });
    }
    i = j + 1;
    expectOr = true;
  }
  return found.length > 0 && expectOr ? found : undefined;
}

function sample(text: unknown): string {
  return String(text).slice(0, 120);
}

/** Adds the indicators of one STIX 2.1 object (of a bundle's `objects` or a TAXII envelope's). */
function addStixObject(object: unknown, sink: ParseSink, now: number): void {
  if (typeof object !== "object" || object === null) return;
  const sdo = object as Record<string, unknown>;
  if (sdo.type !== "indicator") return;
  if (sdo.pattern_type !== undefined && sdo.pattern_type !== "stix") {
    sink.invalid(`pattern_type ${sample(sdo.pattern_type)}`);
    return;
  }
  const values =
    typeof sdo.pattern === "string" && sdo.pattern.length <= MAX_STIX_PATTERN_LENGTH ? parseStixPattern(sdo.pattern) : undefined;
  if (!values) {
    sink.invalid(sample(sdo.pattern));
    return;
  }
  const until = typeof sdo.valid_until === "string" ? Date.parse(sdo.valid_until) : Number.NaN;
  const validUntil = Number.isFinite(until) ? until : null;
  const revoked = sdo.revoked === true || (validUntil !== null && validUntil <= now);
  for (const { value, hint } of values) sink.add(value, hint, { validUntil, revoked });
}

type Body = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** Streams the indicators of a STIX 2.1 bundle document into the sink. */
export async function readStixBundle(body: Body, sink: ParseSink, now: number, drain?: () => Promise<void>): Promise<void> {
  await parseJsonStream(body, ["$.objects.*"], (hit) => addStixObject(hit.value, sink, now), { what: "the STIX bundle", drain });
}

/** Streams one TAXII 2.1 envelope's objects into the sink; resolves its paging fields. */
export async function readTaxiiEnvelope(
  body: Body,
  sink: ParseSink,
  now: number,
  drain?: () => Promise<void>,
): Promise<{ more: boolean; next: string | undefined }> {
  const paging: { more: boolean; next: string | undefined } = { more: false, next: undefined };
  await parseJsonStream(
    body,
    ["$.objects.*", "$.more", "$.next"],
    (hit) => {
      if (typeof hit.key === "number") addStixObject(hit.value, sink, now);
      else if (hit.key === "more") paging.more = hit.value === true;
      else if (hit.key === "next" && typeof hit.value === "string" && hit.value !== "") paging.next = hit.value;
    },
    { what: "the TAXII envelope", drain },
  );
  return paging;
}

/** Streams the event UUIDs of a MISP feed's `manifest.json`. */
export async function readMispManifest(body: Body): Promise<string[]> {
  const uuids: string[] = [];
  await parseJsonStream(body, ["$.*"], (hit) => void (typeof hit.key === "string" && uuids.push(hit.key)), {
    what: "the MISP manifest",
  });
  return uuids;
}

function addMispAttributes(attributes: unknown, sink: ParseSink): void {
  if (!Array.isArray(attributes)) return;
  for (const attribute of attributes) addMispObjectAttribute(attribute, sink);
}

function addMispObjectAttribute(attribute: unknown, sink: ParseSink): void {
  const a = (attribute ?? {}) as Record<string, unknown>;
  addMispAttribute(sink, a.type, a.value, a.to_ids, a.deleted);
}

/**
 * Streams the detection attributes (`to_ids`) of one MISP event document into the sink, its
 * objects' included (the event wrapped in `Event` or bare).
 */
export async function readMispEvent(body: Body, sink: ParseSink, drain?: () => Promise<void>): Promise<void> {
  await parseJsonStream(
    body,
    ["$.Event.Attribute.*", "$.Event.Object.*", "$.Attribute.*", "$.Object.*"],
    (hit) => {
      if (hit.parentKey === "Attribute") addMispObjectAttribute(hit.value, sink);
      else {
        const object = (hit.value ?? {}) as { Attribute?: unknown; deleted?: unknown };
        if (object.deleted !== true) addMispAttributes(object.Attribute, sink);
      }
    },
    { what: "a MISP event", drain },
  );
}
