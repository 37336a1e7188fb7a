// THE OLD STRUCTURE, FOR COMPARISON ONLY: the IPv4 lookup path of the matcher as it was before the
// compact rewrite (issue 21, "the matcher holds typed arrays only"), kept here so that the bench can
// measure the lookup target ("at least the present" rate) as a ratio in the same run. Not
// used by upkeep itself.
//
// That matcher built one frozen match object per indicator up front (feed lists and dates shared)
// and stored, per IPv4 run, a 2-byte key and a reference to the owner's match object: a hit returned
// the stored object, with nothing built. Memory: about 190 bytes a prefix, which is what the rewrite
// removed.
import { parseIPv4 } from "../../../packages/core/src/tasks/ioc-ingest/ip.ts";
import type { IocMatch } from "../../../packages/core/src/tasks/ioc-ingest/match-index.ts";
import { flattenSpans, partitionIPv4, type Span } from "../../../packages/core/src/tasks/ioc-ingest/ranges.ts";
import type { Prefix } from "./networks.ts";

function isSpace(code: number): boolean {
  return code === 32 || code === 9 || code === 10 || code === 13;
}

/** The previous matcher's IPv4 index: match objects built up front, one reference per run. */
export class PreviousIPv4Matcher {
  readonly #buckets = new Uint32Array(2 ** 16 + 1);
  readonly #keys: Uint16Array;
  readonly #values: Array<IocMatch | undefined> = [];

  constructor(prefixes: readonly Prefix[]) {
    const feeds = Object.freeze(["bench"]);
    const seen = new Date(0);
    const entries = prefixes.map((prefix) =>
      Object.freeze({ kind: "ipv4" as const, value: prefix.value, feeds, confidence: 50, firstSeen: seen, lastSeen: seen }),
    );
    const spans: Array<Span<number>> = prefixes.map((prefix, id) => ({ start: prefix.start, stop: prefix.end + 1, id }));
    const { starts, owners } = partitionIPv4(flattenSpans(spans));
    const n = starts.length;
    this.#keys = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      const owner = owners[i] as number;
      this.#keys[i] = (starts[i] as number) & 0xffff;
      this.#values.push(owner < 0 ? undefined : entries[owner]);
    }
    let at = 0;
    for (let key = 0; key <= 2 ** 16; key++) {
      while (at < n && (starts[at] as number) >>> 16 < key) at++;
      this.#buckets[key] = at;
    }
  }

  /** The previous `IPv4Table.find`: the stored match object of the run holding `address`. */
  find(address: number): IocMatch | undefined {
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
    return this.#values[lo - 1];
  }

  /** The previous `MatchIndex.matchIp` on an IPv4 address (IPv6 text is not part of this figure). */
  matchIp(text: string): IocMatch | undefined {
    const v4 = parseIPv4(text, 0, text.length);
    return v4 >= 0 ? this.find(v4) : undefined;
  }

  /** The previous `MatchIndex.match` up to its dotted-quad branch, which every probe of this figure takes. */
  match(text: string): IocMatch | undefined {
    let from = 0;
    let to = text.length;
    while (from < to && isSpace(text.charCodeAt(from))) from++;
    while (to > from && isSpace(text.charCodeAt(to - 1))) to--;
    if (from === to) return undefined;
    const head = text.charCodeAt(from);
    if (head >= 48 && head <= 57) {
      const v4 = parseIPv4(text, from, to);
      if (v4 >= 0) return this.find(v4);
    }
    throw new Error("the previous matcher's copy here reads dotted quads only");
  }
}
