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
    const rest = text.slice(i);
    if (/^\sAND\s/i.test(rest)) return undefined;
    const or = /^\sOR\s/i.exec(rest);
    if (or) {
      parts.push(text.slice(start, i).trim());
      start = i + or[0].length;
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

/** Adds the indicators of STIX 2.1 objects (a bundle's `objects` or a TAXII envelope's). */
export function addStixObjects(objects: unknown, sink: ParseSink, now: number): void {
  if (!Array.isArray(objects)) {
    sink.invalid("objects is not an array");
    return;
  }
  for (const object of objects) {
    if (typeof object !== "object" || object === null) continue;
    const sdo = object as Record<string, unknown>;
    if (sdo.type !== "indicator") continue;
    if (sdo.pattern_type !== undefined && sdo.pattern_type !== "stix") {
      sink.invalid(`pattern_type ${sample(sdo.pattern_type)}`);
      continue;
    }
    const values = typeof sdo.pattern === "string" ? parseStixPattern(sdo.pattern) : undefined;
    if (!values) {
      sink.invalid(sample(sdo.pattern));
      continue;
    }
    const until = typeof sdo.valid_until === "string" ? Date.parse(sdo.valid_until) : Number.NaN;
    const validUntil = Number.isFinite(until) ? until : null;
    const revoked = sdo.revoked === true || (validUntil !== null && validUntil <= now);
    for (const { value, hint } of values) sink.add(value, hint, { validUntil, revoked });
  }
}

/** Adds the indicators of a STIX 2.1 bundle document. */
export function addStixBundle(text: string, sink: ParseSink, now: number): void {
  let bundle: unknown;
  try {
    bundle = JSON.parse(text);
  } catch {
    sink.invalid("document is not JSON");
    return;
  }
  addStixObjects((bundle as { objects?: unknown } | null)?.objects, sink, now);
}

/** Adds the detection attributes (`to_ids`) of one MISP event document, its objects' included. */
export function addMispEvent(text: string, sink: ParseSink): void {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    sink.invalid("event is not JSON");
    return;
  }
  const event = ((document as { Event?: unknown } | null)?.Event ?? document) as Record<string, unknown>;
  const attributes: unknown[] = Array.isArray(event.Attribute) ? [...event.Attribute] : [];
  if (Array.isArray(event.Object)) {
    for (const object of event.Object as Array<{ Attribute?: unknown; deleted?: unknown }>) {
      if (object?.deleted === true) continue;
      if (Array.isArray(object?.Attribute)) attributes.push(...object.Attribute);
    }
  }
  for (const attribute of attributes) {
    const a = (attribute ?? {}) as Record<string, unknown>;
    addMispAttribute(sink, a.type, a.value, a.to_ids, a.deleted);
  }
}
