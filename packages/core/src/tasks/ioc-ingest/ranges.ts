import { bigIntToWords, wordsToBigInt } from "./ip.ts";

/** A half-open address range `[start, stop)` owned by entry `id`. */
export interface Span<T extends number | bigint> {
  start: T;
  stop: T;
  id: number;
}

/**
 * Flattens nested or disjoint ranges (CIDR blocks always are one or the other) into sorted,
 * non-overlapping spans, each owned by the most specific range covering it. Identical ranges keep
 * the first. O(n log n).
 */
export function flattenSpans<T extends number | bigint>(input: Array<Span<T>>): Array<Span<T>> {
  const items = [...input].sort((a, b) =>
    a.start < b.start ? -1 : a.start > b.start ? 1 : a.stop > b.stop ? -1 : a.stop < b.stop ? 1 : 0,
  );
  const out: Array<Span<T>> = [];
  const stack: Array<Span<T>> = [];
  let cursor: T | undefined;
  const emit = (start: T, stop: T, id: number) => {
    if (!(start < stop)) return;
    const last = out[out.length - 1];
    if (last && last.id === id && last.stop === start) last.stop = stop;
    else out.push({ start, stop, id });
  };
  for (const item of items) {
    let top = stack[stack.length - 1];
    while (top && top.stop <= item.start) {
      if (cursor !== undefined && cursor < top.stop) emit(cursor, top.stop, top.id);
      cursor = top.stop;
      stack.pop();
      top = stack[stack.length - 1];
    }
    if (top && top.start === item.start && top.stop === item.stop) continue;
    if (top && cursor !== undefined && cursor < item.start) emit(cursor, item.start, top.id);
    cursor = item.start;
    stack.push(item);
  }
  while (stack.length > 0) {
    const top = stack.pop() as Span<T>;
    if (cursor !== undefined && cursor < top.stop) emit(cursor, top.stop, top.id);
    cursor = top.stop;
  }
  return out;
}

/** Bits of the bucket key: about one bucket per span, between 2^16 and 2^20 buckets. */
function bucketBits(spans: number): number {
  return Math.min(20, Math.max(16, Math.ceil(Math.log2(Math.max(1, spans)))));
}

/**
 * Cuts `[0, 2^32)` into runs with one owner each, from flattened spans: run `i` starts at
 * `starts[i]`, ends where run `i + 1` starts, and belongs to entry `owners[i]` (-1: none). The
 * first run starts at 0, and no two neighbours share an owner.
 */
export function partitionIPv4(flat: Array<Span<number>>): { starts: Uint32Array; owners: Int32Array } {
  const starts: number[] = [];
  const owners: number[] = [];
  let cursor = 0;
  for (const span of flat) {
    if (span.start > cursor) {
      starts.push(cursor);
      owners.push(-1);
    }
    starts.push(span.start);
    owners.push(span.id);
    cursor = span.stop;
  }
  if (cursor < 2 ** 32) {
    starts.push(cursor);
    owners.push(-1);
  }
  return { starts: Uint32Array.from(starts), owners: Int32Array.from(owners) };
}

/** The last run starting at or before `address` (run 0 starts at 0). */
function floorRun(starts: Uint32Array, address: number): number {
  let lo = 0;
  let hi = starts.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if ((starts[mid] as number) <= address) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * IPv4 spans owned by entry ids, for the allowlist's overlap check: the address space cut into runs
 * (see `partitionIPv4`), searched whole. The matcher's lookups go through `IPv4Table` instead.
 */
export class IPv4Ranges {
  readonly #starts: Uint32Array;
  readonly #owners: Int32Array;

  constructor(spans: Array<Span<number>>) {
    const { starts, owners } = partitionIPv4(flattenSpans(spans));
    this.#starts = starts;
    this.#owners = owners;
  }

  /** Whether any span intersects `[start, end]` (inclusive); returns its id or -1. */
  overlaps(start: number, end: number): number {
    const at = floorRun(this.#starts, end);
    const owner = this.#owners[at] as number;
    if (owner >= 0) return owner;
    // Gaps never neighbour: when this one starts after `start`, the run before it reaches in.
    return (this.#starts[at] as number) > start ? (this.#owners[at - 1] as number) : -1;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Network indexes in order of start, then widest first, then index. Each network is one 64-bit key
 * (start in the high word; prefix length and index in the low one) sorted natively in place, so
 * the sort holds 8 bytes a network and calls no comparator; returns the keys' 32-bit view, whose
 * low words (even slots on a little-endian machine) carry the index in their low 26 bits.
 */
function sortNetworks(networks: Uint32Array, count: number): { view: Uint32Array; low: number } {
  const keys = new BigUint64Array(count);
  const view = new Uint32Array(keys.buffer);
  const low = LITTLE_ENDIAN ? 0 : 1;
  for (let i = 0; i < count; i++) {
    view[2 * i + low] = (((networks[2 * i + 1] as number) & LENGTH_MASK) | i) >>> 0;
    view[2 * i + 1 - low] = networks[2 * i] as number;
  }
  keys.sort();
  return { view, low };
}

/** Most networks an IPv4 table takes (the index shares a 32-bit word with the prefix length). */
export const MAX_IPV4_NETWORKS = 2 ** 26;
/** The prefix length's bits (the top 6) of a network's second word; the low 26 are free for the caller. */
const LENGTH_MASK = 0xfc000000;

/**
 * The IPv4 runs (see `partitionIPv4`) laid out so that a lookup touches little memory: at a
 * million networks a random read in a table of tens of megabytes costs a TLB miss and a cache miss,
 * far more than the arithmetic. `buckets[k]` is the first run starting in /16 number `k`, `keys`
 * holds each run's start without its top 16 bits (2 bytes a run: a /16's runs share a few cache
 * lines), and `owners` each run's owner (-1: none). A lookup reads two adjacent buckets,
 * binary-searches its /16's keys, and reads one owner: the run before the first one starting in the
 * /16 covers any address before that. Six bytes a run plus 256 KB of buckets.
 */
export class IPv4Table {
  readonly #buckets = new Uint32Array(2 ** 16 + 1);
  #keys: Uint16Array;
  #owners: Int32Array;
  #runs = 0;
  /** The /16 of the last run added. */
  #bucket = -1;

  /**
   * From networks two words each: network `i` starts at `networks[2 * i]`, has the prefix length
   * `networks[2 * i + 1] >>> 26` (the low 26 bits of that word are ignored: the matcher keeps the
   * network's record there) and is owned by `i` (identical networks: the first). Ordered by a
   * native sort of packed keys, then a stack of the networks open at the cursor hands each address
   * to the innermost one; besides the table it holds 8 bytes a network for the sort. O(n log n).
   */
  static fromNetworks(networks: Uint32Array, count = networks.length / 2): IPv4Table {
    if (count > MAX_IPV4_NETWORKS) throw new RangeError(`at most ${MAX_IPV4_NETWORKS} IPv4 networks`);
    const table = new IPv4Table(count * 2 + 1);
    const { view, low } = sortNetworks(networks, count);
    const stackStop: number[] = [];
    const stackId: number[] = [];
    let cursor = -1;
    const close = () => {
      const stop = stackStop.pop() as number;
      const id = stackId.pop() as number;
      if (cursor >= 0 && cursor < stop) table.#emit(cursor, stop, id);
      cursor = stop;
    };
    let lastStart = -1;
    let lastStop = -1;
    for (let k = 0; k < count; k++) {
      const packed = view[2 * k + low] as number;
      const id = packed & (MAX_IPV4_NETWORKS - 1);
      const start = view[2 * k + 1 - low] as number;
      const stop = start + 2 ** (32 - (packed >>> 26));
      while (stackStop.length > 0 && (stackStop[stackStop.length - 1] as number) <= start) close();
      // Identical networks sort next to each other, the first index first: keep that one.
      if (start === lastStart && stop === lastStop) continue;
      if (stackStop.length > 0 && cursor < start) table.#emit(cursor, start, stackId[stackId.length - 1] as number);
      cursor = start;
      stackStop.push(stop);
      stackId.push(id);
      lastStart = start;
      lastStop = stop;
    }
    while (stackStop.length > 0) close();
    return table.#finish();
  }

  /** From spans (any ranges, not only CIDR blocks), owned by their ids. */
  static fromSpans(spans: Array<Span<number>>): IPv4Table {
    const { starts, owners } = partitionIPv4(flattenSpans(spans));
    const table = new IPv4Table(starts.length);
    for (let i = 0; i < starts.length; i++) table.#run(starts[i] as number, owners[i] as number);
    return table.#finish();
  }

  private constructor(capacity: number) {
    this.#keys = new Uint16Array(capacity);
    this.#owners = new Int32Array(capacity);
  }

  /** Appends a run starting at `start` (runs come in order, the first at 0). */
  #run(start: number, owner: number): void {
    const bucket = start >>> 16;
    while (this.#bucket < bucket) this.#buckets[++this.#bucket] = this.#runs;
    this.#keys[this.#runs] = start & 0xffff;
    this.#owners[this.#runs] = owner;
    this.#runs++;
  }

  /** Hands `[start, stop)` to `owner`: a gap before it becomes a run of no owner, a neighbour of the same owner grows. */
  #emit(start: number, stop: number, owner: number): void {
    if (!(start < stop)) return;
    const covered = this.#covered;
    if (this.#runs === 0 || start > covered) {
      if (start > 0) this.#run(this.#runs === 0 ? 0 : covered, -1);
    } else if (this.#owners[this.#runs - 1] === owner) {
      this.#covered = stop;
      return;
    }
    this.#run(start, owner);
    this.#covered = stop;
  }

  #covered = 0;

  #finish(): IPv4Table {
    if (this.#runs === 0) this.#run(0, -1);
    else if (this.#covered < 2 ** 32 && this.#owners[this.#runs - 1] !== -1) this.#run(this.#covered, -1);
    while (this.#bucket < 2 ** 16) this.#buckets[++this.#bucket] = this.#runs;
    if (this.#runs < this.#keys.length) {
      this.#keys = this.#keys.slice(0, this.#runs);
      this.#owners = this.#owners.slice(0, this.#runs);
    }
    return this;
  }

  /** Bytes held by the table's arrays. */
  get bytes(): number {
    return this.#buckets.byteLength + this.#keys.byteLength + this.#owners.byteLength;
  }

  /** The owner of `address`, or -1. No allocation. */
  find(address: number): number {
    const key = address >>> 16;
    const low = address & 0xffff;
    const keys = this.#keys;
    let lo = this.#buckets[key] as number;
    let hi = this.#buckets[key + 1] as number;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((keys[mid] as number) <= low) lo = mid + 1;
      else hi = mid;
    }
    // Run 0 starts at 0, so some run always starts at or before the address.
    return this.#owners[lo - 1] as number;
  }
}

/** Whether the four words at `first[at..at+4)` are at most `a0:a1:a2:a3`: the first word decides almost always. */
function startsAtOrBefore(first: Uint32Array, at: number, a0: number, a1: number, a2: number, a3: number): boolean {
  const x0 = first[at] as number;
  if (x0 !== a0) return x0 < a0;
  const x1 = first[at + 1] as number;
  if (x1 !== a1) return x1 < a1;
  const x2 = first[at + 2] as number;
  if (x2 !== a2) return x2 < a2;
  return (first[at + 3] as number) <= a3;
}

/** Whether the four words at `tail[at..at+4)` are at least the four words at `words[offset..offset+4)`. */
function endsAtOrAfter(tail: Uint32Array, at: number, words: Uint32Array, offset: number): boolean {
  for (let w = 0; w < 4; w++) {
    const x = tail[at + w] as number;
    const y = words[offset + w] as number;
    if (x !== y) return x > y;
  }
  return true;
}

/**
 * IPv6 spans in typed arrays: four big-endian words per start in `first`, and per span five words
 * in `tail` (the inclusive end, then the id). Like the IPv4 table, `buckets` narrows a lookup to
 * the spans whose first word falls in the address's slice of the listed range: the first words
 * from the lowest start to the highest end are cut into slices of `2 ** shift` values, about one
 * per span.
 */
export class IPv6Ranges {
  readonly #first: Uint32Array;
  readonly #tail: Uint32Array;
  readonly #low: number;
  readonly #high: number;
  readonly #shift: number;
  readonly #buckets: Uint32Array;

  constructor(spans: Array<Span<bigint>>) {
    const flat = flattenSpans(spans);
    const n = flat.length;
    this.#first = new Uint32Array(n * 4);
    this.#tail = new Uint32Array(n * 5);
    flat.forEach((span, i) => {
      bigIntToWords(span.start, this.#first, i * 4);
      bigIntToWords(span.stop - 1n, this.#tail, i * 5);
      this.#tail[i * 5 + 4] = span.id;
    });
    this.#low = n > 0 ? (this.#first[0] as number) : 0;
    this.#high = n > 0 ? (this.#tail[(n - 1) * 5] as number) : 0;
    const slices = 2 ** bucketBits(n);
    let shift = 0;
    while ((this.#high - this.#low) / 2 ** shift >= slices) shift++;
    this.#shift = shift;
    const count = n > 0 ? Math.floor((this.#high - this.#low) / 2 ** shift) + 2 : 1;
    this.#buckets = new Uint32Array(count);
    let at = 0;
    for (let key = 0; key < count; key++) {
      while (at < n && Math.floor(((this.#first[at * 4] as number) - this.#low) / 2 ** shift) < key) at++;
      this.#buckets[key] = at;
    }
  }

  get size(): number {
    return this.#tail.length / 5;
  }

  #floor(words: Uint32Array, offset: number): number {
    const a0 = words[offset] as number;
    const n = this.#tail.length / 5;
    if (n === 0 || a0 < this.#low) return -1;
    if (a0 > this.#high) return n - 1;
    const a1 = words[offset + 1] as number;
    const a2 = words[offset + 2] as number;
    const a3 = words[offset + 3] as number;
    const key = (a0 - this.#low) >>> this.#shift;
    // Spans before `lo` start in an earlier slice; spans from `hi` on start in a later one.
    let lo = this.#buckets[key] as number;
    let hi = this.#buckets[key + 1] as number;
    const first = this.#first;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (startsAtOrBefore(first, mid * 4, a0, a1, a2, a3)) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** The id owning the address in `words[offset..offset+4)`, or -1. No allocation. */
  find(words: Uint32Array, offset = 0): number {
    const at = this.#floor(words, offset);
    return at >= 0 && endsAtOrAfter(this.#tail, at * 5, words, offset) ? (this.#tail[at * 5 + 4] as number) : -1;
  }

  /** Whether any span intersects `[start, end]`; returns its id or -1. */
  overlaps(start: bigint, end: bigint): number {
    const words = new Uint32Array(8);
    bigIntToWords(start, words, 0);
    bigIntToWords(end, words, 4);
    const at = this.#floor(words, 4);
    return at >= 0 && endsAtOrAfter(this.#tail, at * 5, words, 0) ? (this.#tail[at * 5 + 4] as number) : -1;
  }
}

/** The inclusive bounds of an IPv6 network given as four words and a prefix length. */
export function ipv6Bounds(words: Uint32Array, prefix: number): { start: bigint; end: bigint } {
  const start = wordsToBigInt(words);
  const size = 1n << BigInt(128 - prefix);
  return { start, end: start + size - 1n };
}

/** The inclusive bounds of an IPv4 network. */
export function ipv4Bounds(network: number, prefix: number): { start: number; end: number } {
  return { start: network, end: network + 2 ** (32 - prefix) - 1 };
}
