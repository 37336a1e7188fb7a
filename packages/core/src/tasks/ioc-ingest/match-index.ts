import { domainToASCII } from "node:url";
import { isMappedIPv4, maskIPv6, parseIPv4, parseIPv6, wordsToBigInt } from "./ip.ts";
import { type IndicatorKind, normaliseUrl } from "./normalise.ts";
import { IPv4Table, IPv6Ranges, type Span } from "./ranges.ts";
import { StringTable } from "./string-table.ts";

/** A live indicator as the matcher returns it. The same frozen object is returned on every hit. */
export interface IocMatch {
  readonly kind: IndicatorKind;
  /** The stored (canonical) indicator that matched: a covering network, a parent domain, or the value itself. */
  readonly value: string;
  /** Names of the feeds that list it. */
  readonly feeds: readonly string[];
  /** 0 to 100: the highest confidence of the feeds that list it. */
  readonly confidence: number;
  /** Shared by the indicators an ingest stamped at the same moment: read it, never mutate it. */
  readonly firstSeen: Date;
  /** Shared like `firstSeen`. */
  readonly lastSeen: Date;
}

/** One stored indicator, as loaded from the database. */
export interface IndicatorRow {
  kind: IndicatorKind;
  value: string;
  feeds: readonly string[];
  confidence: number;
  firstSeen: number;
  lastSeen: number;
}

/** How many indicators of each family a matcher holds. */
export interface MatchIndexSize {
  ipv4: number;
  ipv6: number;
  domains: number;
  urls: number;
  hashes: number;
}

const HASH_LENGTHS = new Set([32, 40, 64, 128]);
const words = new Uint32Array(4);

function splitPrefix(value: string, max: number): [string, number] {
  const slash = value.indexOf("/");
  return slash < 0 ? [value, max] : [value.slice(0, slash), Number(value.slice(slash + 1))];
}

function isSpace(code: number): boolean {
  return code === 32 || code === 9 || code === 10 || code === 13;
}

/**
 * One frozen feed list per distinct list and one `Date` per distinct time: an ingest stamps every
 * indicator of a feed with the same times and lists, so a million indicators share a handful of
 * each instead of holding three objects apiece.
 */
class SharedParts {
  readonly #feeds = new Map<string, readonly string[]>();
  readonly #dates = new Map<number, Date>();

  feeds(list: readonly string[]): readonly string[] {
    const key = list.join("\u0000");
    let found = this.#feeds.get(key);
    if (found) return found;
    found = Object.freeze([...list]);
    this.#feeds.set(key, found);
    return found;
  }

  date(ms: number): Date {
    let found = this.#dates.get(ms);
    if (found) return found;
    found = new Date(ms);
    this.#dates.set(ms, found);
    return found;
  }
}

/**
 * The immutable lookup structure behind a matcher: IPv4 and IPv6 networks flattened into sorted,
 * non-overlapping ranges in typed arrays (most specific wins), domains and exact values in string
 * tables. Build once, then swap in whole.
 */
export class MatchIndex {
  readonly #entries: IocMatch[];
  readonly #v4: IPv4Table<IocMatch>;
  readonly #v6: IPv6Ranges;
  readonly #domains: StringTable;
  readonly #urls: StringTable;
  readonly #hashes: StringTable;
  readonly #domainIds: Int32Array;
  readonly #urlIds: Int32Array;
  readonly #hashIds: Int32Array;
  readonly size: MatchIndexSize;

  constructor(rows: Iterable<IndicatorRow>) {
    this.#entries = [];
    const v4: Array<Span<number>> = [];
    const v6: Array<Span<bigint>> = [];
    const domains: string[] = [];
    const domainIds: number[] = [];
    const urls: string[] = [];
    const urlIds: number[] = [];
    const hashes: string[] = [];
    const hashIds: number[] = [];
    const size: MatchIndexSize = { ipv4: 0, ipv6: 0, domains: 0, urls: 0, hashes: 0 };
    const shared = new SharedParts();
    for (const row of rows) {
      const id = this.#entries.length;
      if (row.kind === "ipv4") {
        const [address, prefix] = splitPrefix(row.value, 32);
        const start = parseIPv4(address);
        if (start < 0) continue;
        v4.push({ start, stop: start + 2 ** (32 - prefix), id });
        size.ipv4++;
      } else if (row.kind === "ipv6") {
        const [address, prefix] = splitPrefix(row.value, 128);
        if (!parseIPv6(address, 0, address.length, words)) continue;
        maskIPv6(words, prefix);
        const start = wordsToBigInt(words);
        v6.push({ start, stop: start + (1n << BigInt(128 - prefix)), id });
        size.ipv6++;
      } else if (row.kind === "domain") {
        domains.push(row.value);
        domainIds.push(id);
        size.domains++;
      } else if (row.kind === "url") {
        urls.push(row.value);
        urlIds.push(id);
        size.urls++;
      } else {
        hashes.push(row.value);
        hashIds.push(id);
        size.hashes++;
      }
      this.#entries.push(
        Object.freeze({
          kind: row.kind,
          value: row.value,
          feeds: shared.feeds(row.feeds),
          confidence: row.confidence,
          firstSeen: shared.date(row.firstSeen),
          lastSeen: shared.date(row.lastSeen),
        }),
      );
    }
    this.#v4 = new IPv4Table(v4, this.#entries);
    this.#v6 = new IPv6Ranges(v6);
    this.#domains = new StringTable(domains, true);
    this.#urls = new StringTable(urls, false);
    this.#hashes = new StringTable(hashes, true);
    this.#domainIds = Int32Array.from(domainIds);
    this.#urlIds = Int32Array.from(urlIds);
    this.#hashIds = Int32Array.from(hashIds);
    this.size = size;
  }

  #entry(id: number): IocMatch | undefined {
    return id < 0 ? undefined : this.#entries[id];
  }

  #via(ids: Int32Array, id: number): IocMatch | undefined {
    return id < 0 ? undefined : this.#entries[ids[id] as number];
  }

  /** The most specific network listing an IPv4 address given as a 32-bit number. */
  matchIPv4Number(address: number): IocMatch | undefined {
    return this.#v4.find(address);
  }

  /** The most specific indicator covering an IP address (IPv4 or IPv6 text, brackets and zone allowed). */
  matchIp(text: string, from = 0, to = text.length): IocMatch | undefined {
    const v4 = parseIPv4(text, from, to);
    if (v4 >= 0) return this.#v4.find(v4);
    return this.#matchIPv6(text, from, to);
  }

  #matchIPv6(text: string, from: number, to: number): IocMatch | undefined {
    if (to - from > 1 && text.charCodeAt(from) === 91 && text.charCodeAt(to - 1) === 93) {
      from++;
      to--;
    }
    for (let i = from; i < to; i++) {
      if (text.charCodeAt(i) === 37) {
        to = i;
        break;
      }
    }
    if (!parseIPv6(text, from, to, words)) return undefined;
    if (isMappedIPv4(words)) return this.#v4.find(words[3] as number);
    return this.#entry(this.#v6.find(words));
  }

  /** The listed domain itself or its most specific listed parent. */
  matchDomain(text: string, from = 0, to = text.length): IocMatch | undefined {
    for (let i = from; i < to; i++) if (text.charCodeAt(i) > 127) return this.#matchUnicodeDomain(text, from, to);
    return this.#matchAsciiDomain(text, from, to);
  }

  #matchAsciiDomain(text: string, from: number, to: number): IocMatch | undefined {
    if (to > from && text.charCodeAt(to - 1) === 46) to--;
    return this.#via(this.#domainIds, this.#domains.findSuffix(text, from, to));
  }

  #matchUnicodeDomain(text: string, from: number, to: number): IocMatch | undefined {
    if (to > from && text.charCodeAt(to - 1) === 46) to--;
    const ascii = domainToASCII(text.slice(from, to));
    return ascii ? this.#via(this.#domainIds, this.#domains.findSuffix(ascii, 0, ascii.length)) : undefined;
  }

  /** An exact URL; a URL not in canonical form is canonicalised first (that allocates). */
  matchUrl(text: string, from = 0, to = text.length): IocMatch | undefined {
    const id = this.#urls.find(text, from, to);
    if (id >= 0) return this.#via(this.#urlIds, id);
    const canonical = normaliseUrl(text.slice(from, to));
    return canonical === undefined ? undefined : this.#via(this.#urlIds, this.#urls.find(canonical));
  }

  /** An exact MD5, SHA-1, SHA-256 or SHA-512 (any case). */
  matchHash(text: string, from = 0, to = text.length): IocMatch | undefined {
    return this.#via(this.#hashIds, this.#hashes.find(text, from, to));
  }

  /**
   * Matches any value: detects an IP address, a URL, a hash or a domain. A dotted quad is parsed
   * straight away when the value starts with a digit; anything else is classified in one pass.
   */
  match(text: string): IocMatch | undefined {
    let from = 0;
    let to = text.length;
    while (from < to && isSpace(text.charCodeAt(from))) from++;
    while (to > from && isSpace(text.charCodeAt(to - 1))) to--;
    if (from === to) return undefined;
    const head = text.charCodeAt(from);
    if (head >= 48 && head <= 57) {
      const v4 = parseIPv4(text, from, to);
      if (v4 >= 0) return this.#v4.find(v4);
    }
    let colon = false;
    let dot = false;
    let slash = false;
    let hex = true;
    let ascii = true;
    for (let i = from; i < to; i++) {
      const code = text.charCodeAt(i);
      if (code === 58) colon = true;
      else if (code === 46) dot = true;
      else if (code === 47) slash = true;
      else if (code > 127) ascii = false;
      if (hex && !((code >= 48 && code <= 57) || ((code | 0x20) >= 97 && (code | 0x20) <= 102))) hex = false;
    }
    if (colon) {
      // A URL needs "://"; without a slash it can only be an IPv6 address (a dotted quad was tried above).
      if (slash) {
        for (let i = from; i + 2 < to; i++) {
          if (text.charCodeAt(i) === 58 && text.charCodeAt(i + 1) === 47 && text.charCodeAt(i + 2) === 47)
            return this.matchUrl(text, from, to);
        }
      }
      return this.#matchIPv6(text, from, to);
    }
    if (hex && !dot && HASH_LENGTHS.has(to - from)) return this.matchHash(text, from, to);
    return ascii ? this.#matchAsciiDomain(text, from, to) : this.#matchUnicodeDomain(text, from, to);
  }
}
