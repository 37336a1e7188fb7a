import { domainToASCII } from "node:url";
import { formatIPv4, formatIPv6, isMappedIPv4, maskIPv6, parseIPv4, parseIPv6, wordsToBigInt } from "./ip.ts";
import { type IndicatorKind, normaliseUrl } from "./normalise.ts";
import { IPv4Table, IPv6Ranges, type Span } from "./ranges.ts";
import { StringTable } from "./string-table.ts";

/**
 * A live indicator as the matcher returns it: frozen, built on a hit from the index's typed arrays.
 * A repeated hit on a recently matched indicator returns the same object; compare `value`, not
 * identity.
 */
export interface IocMatch {
  /** The matched indicator's kind. */
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
  /** The indicator's kind. */
  kind: IndicatorKind;
  /** Its canonical text. */
  value: string;
  /** Names of the feeds that list it. */
  feeds: readonly string[];
  /** 0 to 100: the highest confidence of the feeds that list it. */
  confidence: number;
  /** When a feed first listed it, in epoch milliseconds. */
  firstSeen: number;
  /** When a feed last listed it, in epoch milliseconds. */
  lastSeen: number;
}

/** How many indicators of each family a matcher holds. */
export interface MatchIndexSize {
  /** IPv4 addresses and networks. */
  ipv4: number;
  /** IPv6 addresses and networks. */
  ipv6: number;
  /** Domains (each also covering its subdomains). */
  domains: number;
  /** URLs. */
  urls: number;
  /** File hashes (MD5, SHA-1, SHA-256, SHA-512). */
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
 * The distinct match records (feed list, confidence, first and last seen) shared by indicators: an
 * ingest stamps every indicator of a feed with the same lists and times, so a million indicators
 * share a handful of records. One frozen feed list per distinct list and one `Date` per distinct
 * time.
 */
class Records {
  readonly feeds: Array<readonly string[]> = [];
  readonly confidence: number[] = [];
  readonly firstSeen: Date[] = [];
  readonly lastSeen: Date[] = [];
  readonly #ids = new Map<string, number>();
  readonly #lists = new Map<string, readonly string[]>();
  readonly #dates = new Map<number, Date>();

  #last: IndicatorRow | undefined;
  #lastId = -1;

  id(row: IndicatorRow): number {
    // Rows come feed by feed: most share the previous row's record, found without a key.
    const last = this.#last;
    if (
      last !== undefined &&
      last.confidence === row.confidence &&
      last.firstSeen === row.firstSeen &&
      last.lastSeen === row.lastSeen &&
      sameList(last.feeds, row.feeds)
    )
      return this.#lastId;
    this.#last = row;
    this.#lastId = this.#idOf(row);
    return this.#lastId;
  }

  #idOf(row: IndicatorRow): number {
    const list = row.feeds.join("\u0000");
    const key = `${row.confidence}\u0001${row.firstSeen}\u0001${row.lastSeen}\u0001${list}`;
    let id = this.#ids.get(key);
    if (id !== undefined) return id;
    id = this.feeds.length;
    this.#ids.set(key, id);
    let feeds = this.#lists.get(list);
    if (!feeds) {
      feeds = Object.freeze([...row.feeds]);
      this.#lists.set(list, feeds);
    }
    this.feeds.push(feeds);
    this.confidence.push(row.confidence);
    this.firstSeen.push(this.#date(row.firstSeen));
    this.lastSeen.push(this.#date(row.lastSeen));
    return id;
  }

  #date(ms: number): Date {
    let found = this.#dates.get(ms);
    if (!found) {
      found = new Date(ms);
      this.#dates.set(ms, found);
    }
    return found;
  }

  /** Drops the build-time lookups; the records stay. */
  seal(): void {
    this.#last = undefined;
    this.#ids.clear();
    this.#lists.clear();
    this.#dates.clear();
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A growable typed array of one element type. */
class Column<A extends Uint32Array | Uint8Array> {
  #data: A;
  length = 0;
  readonly #make: (size: number) => A;

  constructor(make: (size: number) => A) {
    this.#make = make;
    this.#data = make(256);
  }

  push(value: number): void {
    if (this.length === this.#data.length) {
      const next = this.#make(this.#data.length * 2);
      next.set(this.#data);
      this.#data = next;
    }
    this.#data[this.length++] = value;
  }

  /** The used part: copied into an array of its own size unless nearly full (the copy would add to the peak). */
  done(): A {
    const data = this.#data;
    return (this.length >= data.length - data.length / 8 ? data.subarray(0, this.length) : data.slice(0, this.length)) as A;
  }
}

const u32 = (size: number) => new Uint32Array(size);
const u8 = (size: number) => new Uint8Array(size);
/** Kinds stored as one byte for the string families. */
const KIND_CODES: readonly IndicatorKind[] = ["ipv4", "ipv6", "domain", "url", "md5", "sha1", "sha256", "sha512"];
/** The record bits of an IPv4 network's second word (its prefix length has the top 6). */
const RECORD_MASK = 2 ** 26 - 1;
/** Slots of the cache of recently returned match objects (a power of two). */
const CACHE_SLOTS = 4096;

/** Indicators of one string family (domains, URLs or hashes) while building. */
class StringFamily {
  readonly values: string[] = [];
  readonly records = new Column(u32);
  readonly kinds = new Column(u8);

  add(value: string, record: number, kind: IndicatorKind): void {
    this.values.push(value);
    this.records.push(record);
    this.kinds.push(KIND_CODES.indexOf(kind));
  }
}

/**
 * Collects indicator rows (page by page, as they are read) into typed arrays, then builds the
 * index. Holds per IPv4 network 8 bytes, per IPv6 network 21 bytes, per string its value and
 * 5 bytes; no object per indicator.
 */
export class MatchIndexBuilder {
  readonly #records = new Records();
  /** Per IPv4 network two words: its start, then its prefix length (top 6 bits) and record. */
  readonly #v4Networks = new Column(u32);
  readonly #v4Values = new Map<number, string>();
  readonly #v6Words = new Column(u32);
  readonly #v6Lengths = new Column(u8);
  readonly #v6Records = new Column(u32);
  readonly #v6Values = new Map<number, string>();
  readonly #domains = new StringFamily();
  readonly #urls = new StringFamily();
  readonly #hashes = new StringFamily();

  /** Adds one stored indicator; an IP indicator that does not parse is skipped, as before. */
  add(row: IndicatorRow): void {
    if (row.kind === "ipv4") {
      const [address, prefix] = splitPrefix(row.value, 32);
      const start = parseIPv4(address);
      if (start < 0) return;
      const id = this.#v4Networks.length / 2;
      const record = this.#records.id(row);
      if (record > RECORD_MASK) throw new RangeError(`at most ${RECORD_MASK + 1} distinct match records`);
      this.#v4Networks.push(start);
      this.#v4Networks.push(((prefix << 26) | record) >>> 0);
      // The value is rebuilt from the network on a hit; one stored in another form is kept as it is.
      if (ipv4Text(start, prefix) !== row.value) this.#v4Values.set(id, row.value);
    } else if (row.kind === "ipv6") {
      const [address, prefix] = splitPrefix(row.value, 128);
      if (!parseIPv6(address, 0, address.length, words)) return;
      maskIPv6(words, prefix);
      const id = this.#v6Lengths.length;
      for (let w = 0; w < 4; w++) this.#v6Words.push(words[w] as number);
      this.#v6Lengths.push(prefix);
      this.#v6Records.push(this.#records.id(row));
      if (ipv6Text(words, 0, prefix) !== row.value) this.#v6Values.set(id, row.value);
    } else if (row.kind === "domain") this.#domains.add(row.value, this.#records.id(row), row.kind);
    else if (row.kind === "url") this.#urls.add(row.value, this.#records.id(row), row.kind);
    else this.#hashes.add(row.value, this.#records.id(row), row.kind);
  }

  /** The finished index. */
  build(): MatchIndex {
    return new MatchIndex(this);
  }

  /** @internal The collected parts, for `MatchIndex`; the builder is spent. */
  takeParts(): IndexParts {
    this.#records.seal();
    const family = (strings: StringFamily, ignoreCase: boolean): StringParts => ({
      table: new StringTable(strings.values, ignoreCase),
      values: strings.values,
      records: strings.records.done(),
      kinds: strings.kinds.done(),
    });
    return {
      records: this.#records,
      v4: { networks: this.#v4Networks.done(), values: this.#v4Values },
      v6: { words: this.#v6Words.done(), lengths: this.#v6Lengths.done(), records: this.#v6Records.done(), values: this.#v6Values },
      domains: family(this.#domains, true),
      urls: family(this.#urls, false),
      hashes: family(this.#hashes, true),
    };
  }
}

/** "/0" to "/32". */
const PREFIX_SUFFIXES = Array.from({ length: 33 }, (_, prefix) => `/${prefix}`);

function ipv4Text(start: number, prefix: number): string {
  const network = formatIPv4(start);
  return prefix === 32 ? network : network + (PREFIX_SUFFIXES[prefix] as string);
}

function ipv6Text(all: Uint32Array, offset: number, prefix: number): string {
  const network = formatIPv6(all.subarray(offset, offset + 4));
  return prefix === 128 ? network : `${network}/${prefix}`;
}

interface IPv4Parts {
  /** Per network its start, then its prefix length (top 6 bits) and record (low 26), as `IPv4Table.fromNetworks` reads them. */
  networks: Uint32Array;
  /** Values not in the form rebuilt from the network, by network index. */
  values: Map<number, string>;
}

interface IPv6Parts {
  words: Uint32Array;
  lengths: Uint8Array;
  records: Uint32Array;
  /** Values not in the form rebuilt from the network, by network index. */
  values: Map<number, string>;
}

interface StringParts {
  table: StringTable;
  values: string[];
  records: Uint32Array;
  kinds: Uint8Array;
}

interface IndexParts {
  records: Records;
  v4: IPv4Parts;
  v6: IPv6Parts;
  domains: StringParts;
  urls: StringParts;
  hashes: StringParts;
}

/**
 * The immutable lookup structure behind a matcher, in typed arrays: IPv4 and IPv6 networks
 * flattened into sorted, non-overlapping ranges (most specific wins) owned by network indexes,
 * domains and exact values in string tables, and per indicator the index of its match record
 * (feeds, confidence and times, shared). The match object is built on a hit, from the network or
 * the stored string and the record, and kept in a small cache of recent hits. Build with
 * `MatchIndexBuilder` (or from rows at once), then swap in whole.
 */
export class MatchIndex {
  readonly #records: Records;
  readonly #v4: IPv4Table;
  readonly #v4Parts: IPv4Parts;
  readonly #v6: IPv6Ranges;
  readonly #v6Parts: IPv6Parts;
  readonly #domains: StringParts;
  readonly #urls: StringParts;
  readonly #hashes: StringParts;
  readonly #cacheKeys = new Int32Array(CACHE_SLOTS).fill(-1);
  /** Per slot the key of the last object built and not kept: a key seen twice in a row is kept. */
  readonly #cacheCandidates = new Int32Array(CACHE_SLOTS).fill(-1);
  readonly #cache: Array<IocMatch | undefined> = new Array(CACHE_SLOTS).fill(undefined);
  readonly size: MatchIndexSize;

  /** From rows at once, or from a builder that took them page by page. */
  constructor(source: Iterable<IndicatorRow> | MatchIndexBuilder) {
    let builder: MatchIndexBuilder;
    if (source instanceof MatchIndexBuilder) builder = source;
    else {
      builder = new MatchIndexBuilder();
      for (const row of source) builder.add(row);
    }
    const parts = builder.takeParts();
    this.#records = parts.records;
    this.#v4Parts = parts.v4;
    this.#v6Parts = parts.v6;
    this.#domains = parts.domains;
    this.#urls = parts.urls;
    this.#hashes = parts.hashes;
    this.#v4 = IPv4Table.fromNetworks(parts.v4.networks);
    const v6: Array<Span<bigint>> = [];
    const v6Words = parts.v6.words;
    for (let id = 0; id < parts.v6.lengths.length; id++) {
      const start = wordsToBigInt(v6Words.subarray(id * 4, id * 4 + 4));
      v6.push({ start, stop: start + (1n << BigInt(128 - (parts.v6.lengths[id] as number))), id });
    }
    this.#v6 = new IPv6Ranges(v6);
    this.size = {
      ipv4: parts.v4.networks.length / 2,
      ipv6: parts.v6.lengths.length,
      domains: parts.domains.values.length,
      urls: parts.urls.values.length,
      hashes: parts.hashes.values.length,
    };
  }

  /**
   * Keeps `match` as the cached object of indicator `key` (unique across families) when its slot saw
   * the same key last time. A kept object outlives the young generation and is promoted, so caching
   * every hit made lookups that rarely repeat (a million networks, random traffic) several times
   * slower in garbage collection; a key repeating in its slot is kept on its second build.
   */
  #keep(key: number, match: IocMatch): IocMatch {
    const slot = key & (CACHE_SLOTS - 1);
    if (this.#cacheCandidates[slot] !== key) {
      this.#cacheCandidates[slot] = key;
      return match;
    }
    this.#cacheKeys[slot] = key;
    this.#cache[slot] = match;
    return match;
  }

  #make(kind: IndicatorKind, value: string, record: number): IocMatch {
    const records = this.#records;
    return Object.freeze({
      kind,
      value,
      feeds: records.feeds[record] as readonly string[],
      confidence: records.confidence[record] as number,
      firstSeen: records.firstSeen[record] as Date,
      lastSeen: records.lastSeen[record] as Date,
    });
  }

  // Cache keys tell the families apart by their low bits: IPv4 0 or 4 mod 8, IPv6 1 or 5, domains
  // 2 or 6, URLs 3, hashes 7.

  #v4Match(id: number): IocMatch | undefined {
    if (id < 0) return undefined;
    const key = id * 4;
    if (this.#cacheKeys[key & (CACHE_SLOTS - 1)] === key) return this.#cache[key & (CACHE_SLOTS - 1)];
    const parts = this.#v4Parts;
    // One read of two adjacent words: the network's start, then its length and record.
    const start = parts.networks[2 * id] as number;
    const packed = parts.networks[2 * id + 1] as number;
    const value = (parts.values.size > 0 ? parts.values.get(id) : undefined) ?? ipv4Text(start, packed >>> 26);
    return this.#keep(key, this.#make("ipv4", value, packed & RECORD_MASK));
  }

  #v6Match(id: number): IocMatch | undefined {
    if (id < 0) return undefined;
    const key = id * 4 + 1;
    if (this.#cacheKeys[key & (CACHE_SLOTS - 1)] === key) return this.#cache[key & (CACHE_SLOTS - 1)];
    const parts = this.#v6Parts;
    const value = parts.values.get(id) ?? ipv6Text(parts.words, id * 4, parts.lengths[id] as number);
    return this.#keep(key, this.#make("ipv6", value, parts.records[id] as number));
  }

  #stringMatch(family: StringParts, key: number, id: number): IocMatch | undefined {
    if (id < 0) return undefined;
    if (this.#cacheKeys[key & (CACHE_SLOTS - 1)] === key) return this.#cache[key & (CACHE_SLOTS - 1)];
    const kind = KIND_CODES[family.kinds[id] as number] as IndicatorKind;
    return this.#keep(key, this.#make(kind, family.values[id] as string, family.records[id] as number));
  }

  #domain(id: number): IocMatch | undefined {
    return this.#stringMatch(this.#domains, id * 4 + 2, id);
  }

  #url(id: number): IocMatch | undefined {
    return this.#stringMatch(this.#urls, id * 8 + 3, id);
  }

  #hash(id: number): IocMatch | undefined {
    return this.#stringMatch(this.#hashes, id * 8 + 7, id);
  }

  /** The most specific network listing an IPv4 address given as a 32-bit number. */
  matchIPv4Number(address: number): IocMatch | undefined {
    return this.#v4Match(this.#v4.find(address));
  }

  /** The most specific indicator covering an IP address (IPv4 or IPv6 text, brackets and zone allowed). */
  matchIp(text: string, from = 0, to = text.length): IocMatch | undefined {
    const v4 = parseIPv4(text, from, to);
    if (v4 >= 0) return this.#v4Match(this.#v4.find(v4));
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
    if (isMappedIPv4(words)) return this.#v4Match(this.#v4.find(words[3] as number));
    return this.#v6Match(this.#v6.find(words));
  }

  /** The listed domain itself or its most specific listed parent. */
  matchDomain(text: string, from = 0, to = text.length): IocMatch | undefined {
    for (let i = from; i < to; i++) if (text.charCodeAt(i) > 127) return this.#matchUnicodeDomain(text, from, to);
    return this.#matchAsciiDomain(text, from, to);
  }

  #matchAsciiDomain(text: string, from: number, to: number): IocMatch | undefined {
    if (to > from && text.charCodeAt(to - 1) === 46) to--;
    return this.#domain(this.#domains.table.findSuffix(text, from, to));
  }

  #matchUnicodeDomain(text: string, from: number, to: number): IocMatch | undefined {
    if (to > from && text.charCodeAt(to - 1) === 46) to--;
    const ascii = domainToASCII(text.slice(from, to));
    return ascii ? this.#domain(this.#domains.table.findSuffix(ascii, 0, ascii.length)) : undefined;
  }

  /** An exact URL; a URL not in canonical form is canonicalised first (that allocates). */
  matchUrl(text: string, from = 0, to = text.length): IocMatch | undefined {
    const id = this.#urls.table.find(text, from, to);
    if (id >= 0) return this.#url(id);
    const canonical = normaliseUrl(text.slice(from, to));
    return canonical === undefined ? undefined : this.#url(this.#urls.table.find(canonical));
  }

  /** An exact MD5, SHA-1, SHA-256 or SHA-512 (any case). */
  matchHash(text: string, from = 0, to = text.length): IocMatch | undefined {
    return this.#hash(this.#hashes.table.find(text, from, to));
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
      if (v4 >= 0) return this.#v4Match(this.#v4.find(v4));
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
