import { domainToASCII } from "node:url";
import { formatIPv4, formatIPv6, isMappedIPv4, maskIPv4, maskIPv6, parseIPv4, parseIPv6 } from "./ip.ts";

/** What an indicator is. Hashes take their kind from their length. */
export type IndicatorKind = "ipv4" | "ipv6" | "domain" | "url" | "md5" | "sha1" | "sha256" | "sha512";

export const INDICATOR_KINDS: readonly IndicatorKind[] = ["ipv4", "ipv6", "domain", "url", "md5", "sha1", "sha256", "sha512"];

/** A coarse kind a format may state (a MISP type, a STIX pattern, a CSV mapping). */
export type KindHint = "ip" | "domain" | "url" | "hash";

/** A normalised indicator: the form it is stored and matched in. */
export interface Indicator {
  /** What the value is: an address or network, a domain, a URL or a hash. */
  kind: IndicatorKind;
  /** Canonical text: `10.0.0.0/8`, `2001:db8::1`, `xn--bcher-kva.example`, `https://a.example/x`, a lower-case hash. */
  value: string;
  /** For addresses, the prefix length (32 or 128 for a single address). */
  prefix?: number;
}

/** The longest URL stored; longer ones are counted invalid. */
export const MAX_URL_LENGTH = 1024;

const HASH_KINDS: Record<number, IndicatorKind> = { 32: "md5", 40: "sha1", 64: "sha256", 128: "sha512" };
const HEX = /^[0-9a-f]+$/i;
const LABEL = /^[a-z0-9_-]{1,63}$/;
const URL_SCHEMES = new Set(["http:", "https:", "ftp:", "ws:", "wss:"]);
const scratch = new Uint32Array(4);

function prefixOf(text: string, max: number): number {
  if (!/^\d{1,3}$/.test(text)) return -1;
  const value = Number(text);
  return value <= max ? value : -1;
}

function normaliseIp(raw: string): Indicator | undefined {
  let text = raw;
  let prefixText: string | undefined;
  const slash = text.indexOf("/");
  if (slash >= 0) {
    prefixText = text.slice(slash + 1);
    text = text.slice(0, slash);
  }
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const v4 = parseIPv4(text);
  if (v4 >= 0) {
    const prefix = prefixText === undefined ? 32 : prefixOf(prefixText, 32);
    if (prefix < 0) return undefined;
    const network = formatIPv4(maskIPv4(v4, prefix));
    return { kind: "ipv4", value: prefix === 32 ? network : `${network}/${prefix}`, prefix };
  }
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  if (!text.includes(":") || !parseIPv6(text, 0, text.length, scratch)) return undefined;
  const prefix = prefixText === undefined ? 128 : prefixOf(prefixText, 128);
  if (prefix < 0) return undefined;
  if (isMappedIPv4(scratch) && prefix >= 96) {
    const inner = prefix - 96;
    const network = formatIPv4(maskIPv4(scratch[3] as number, inner));
    return { kind: "ipv4", value: inner === 32 ? network : `${network}/${inner}`, prefix: inner };
  }
  maskIPv6(scratch, prefix);
  const network = formatIPv6(scratch);
  return { kind: "ipv6", value: prefix === 128 ? network : `${network}/${prefix}`, prefix };
}

/** Lower-case, punycode, no trailing dot, no leading `*.`; at least two labels. */
export function normaliseDomain(raw: string): string | undefined {
  let text = raw;
  if (text.startsWith("*.")) text = text.slice(2);
  else if (text.startsWith(".")) text = text.slice(1);
  if (text.endsWith(".")) text = text.slice(0, -1);
  if (text.length === 0 || text.length > 253 || text.includes("/") || text.includes(":")) return undefined;
  const ascii = domainToASCII(text);
  if (!ascii || ascii.length > 253) return undefined;
  const labels = ascii.split(".");
  if (labels.length < 2) return undefined;
  for (const label of labels) if (!LABEL.test(label)) return undefined;
  if (/^\d+$/.test(labels[labels.length - 1] as string)) return undefined;
  return ascii;
}

const PADDED_QUAD = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/**
 * The one leading-zero rule: a dotted quad's parts are decimal and leading zeros are padding
 * (`010.1.1.1` is `10.1.1.1`), in an IP indicator and in a URL's host alike. WHATWG's URL parser
 * would read such a host as octal (`8.1.1.1`), so a padded quad in the authority is rewritten to
 * its decimal form before parsing. Other numeric hosts (hex parts, one integer) keep WHATWG's reading.
 */
function unpadUrlHost(text: string): string {
  const scheme = text.indexOf("://");
  if (scheme < 0) return text;
  const from = scheme + 3;
  let to = from;
  while (to < text.length && !"/?#\\".includes(text[to] as string)) to++;
  const at = text.lastIndexOf("@", to - 1);
  const hostStart = at >= from ? at + 1 : from;
  const colon = text.indexOf(":", hostStart);
  const hostEnd = colon >= 0 && colon < to ? colon : to;
  const host = text.slice(hostStart, hostEnd);
  if (!PADDED_QUAD.test(host) || !/(^|\.)0\d/.test(host)) return text;
  const address = parseIPv4(host);
  return address < 0 ? text : `${text.slice(0, hostStart)}${formatIPv4(address)}${text.slice(hostEnd)}`;
}

/**
 * WHATWG-canonical URL (scheme and host lower-case, punycode, default port and fragment dropped),
 * a zero-padded dotted-quad host read as decimal like an IP indicator.
 */
export function normaliseUrl(raw: string, assumeScheme = false): string | undefined {
  let text = raw;
  if (assumeScheme && !text.includes("://")) text = `http://${text}`;
  text = unpadUrlHost(text);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (!URL_SCHEMES.has(url.protocol) || url.hostname === "") return undefined;
  url.hash = "";
  const href = url.href;
  return href.length <= MAX_URL_LENGTH ? href : undefined;
}

function normaliseHash(raw: string): Indicator | undefined {
  const kind = HASH_KINDS[raw.length];
  if (!kind || !HEX.test(raw)) return undefined;
  return { kind, value: raw.toLowerCase() };
}

/**
 * Normalises one raw indicator. With a hint, only that kind is tried; without one the kind is
 * detected (address, URL, hash, then domain). Returns undefined when it is none of them.
 */
export function normalise(input: string, hint?: KindHint): Indicator | undefined {
  const raw = input.trim();
  if (raw.length === 0 || raw.length > MAX_URL_LENGTH * 2) return undefined;
  switch (hint) {
    case "ip":
      return normaliseIp(raw);
    case "hash":
      return normaliseHash(raw);
    case "url": {
      const value = normaliseUrl(raw, true);
      return value === undefined ? undefined : { kind: "url", value };
    }
    case "domain": {
      const value = normaliseDomain(raw);
      return value === undefined ? undefined : { kind: "domain", value };
    }
    default: {
      const ip = normaliseIp(raw);
      if (ip) return ip;
      if (raw.includes("://")) {
        const value = normaliseUrl(raw);
        return value === undefined ? undefined : { kind: "url", value };
      }
      const hash = normaliseHash(raw);
      if (hash) return hash;
      const value = normaliseDomain(raw);
      return value === undefined ? undefined : { kind: "domain", value };
    }
  }
}

const REFANG: Array<[RegExp, string]> = [
  [/\bhxxp(s?)(?=[:[])/gi, "http$1"],
  [/\bfxp(?=[:[])/gi, "ftp"],
  [/\[:\/\/\]/g, "://"],
  [/\[:\]/g, ":"],
  [/\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}/gi, "."],
  [/\[at\]|\(at\)|\[@\]/gi, "@"],
];

/** Undoes common defanging: `hxxp`, `[.]`, `(.)`, `[dot]`, `[:]`, `[://]`. */
export function refang(text: string): string {
  let out = text;
  for (const [pattern, replacement] of REFANG) out = out.replace(pattern, replacement);
  return out;
}
