import type { Allowlist } from "./allowlist.ts";
import { type KindHint, normalise } from "./normalise.ts";
import type { ParseSink } from "./parsers.ts";
import type { Listed } from "./store.ts";

/** What one feed fetch yielded, for the run's result. */
export interface FeedCounts {
  /** Distinct valid indicators listed (after the allowlist and the breadth check). */
  listed: number;
  /** Lines or objects that held no valid indicator. */
  invalid: number;
  /** Indicators refused because they touch the allowlist. */
  allowlisted: number;
  /** Networks refused as broader than `minPrefixLength`. */
  tooBroad: number;
  /** Distinct indicators the feed withdrew (STIX `revoked`, or `valid_until` passed) and lists nowhere else in the download. */
  withdrawn: number;
}

export interface CollectorOptions {
  allowlist: Allowlist;
  minPrefixLength: { ipv4: number; ipv6: number };
  batchSize: number;
  exampleLimit: number;
  /** Writes (stages) one batch. */
  write: (batch: Listed[]) => Promise<void>;
}

/**
 * The sink every parser feeds: normalises, refuses what the allowlist or the breadth check
 * forbids, counts, de-duplicates a batch and writes it when full. Its `listed` and `withdrawn`
 * counts are per batch occurrence; the staged download's distinct counts are the feed's.
 */
export class Collector implements ParseSink {
  readonly counts: FeedCounts = { listed: 0, invalid: 0, allowlisted: 0, tooBroad: 0, withdrawn: 0 };
  readonly examples: string[] = [];
  /** Rows handed to `write`. */
  written = 0;
  #pending = new Map<string, Listed>();
  readonly #options: CollectorOptions;

  constructor(options: CollectorOptions) {
    this.#options = options;
  }

  add(raw: string, hint?: KindHint, extra?: { validUntil?: number | null; revoked?: boolean; sample?: string }): void {
    const indicator = normalise(raw, hint);
    if (!indicator) {
      this.invalid(extra?.sample ?? raw);
      return;
    }
    const { minPrefixLength } = this.#options;
    if (indicator.prefix !== undefined && indicator.prefix < (indicator.kind === "ipv4" ? minPrefixLength.ipv4 : minPrefixLength.ipv6)) {
      this.counts.tooBroad++;
      return;
    }
    if (this.#options.allowlist.covers(indicator)) {
      this.counts.allowlisted++;
      return;
    }
    const key = `${indicator.kind}\u0000${indicator.value}`;
    const withdrawn = extra?.revoked === true;
    if (withdrawn) this.counts.withdrawn++;
    else this.counts.listed++;
    // A listing beats a withdrawal, and the first listing stands (as when staging across batches).
    const pending = this.#pending.get(key);
    if (pending && (withdrawn || !pending.withdrawn)) return;
    this.#pending.set(key, { kind: indicator.kind, value: indicator.value, validUntil: extra?.validUntil ?? null, withdrawn });
  }

  invalid(sample: string): void {
    this.counts.invalid++;
    if (this.examples.length < this.#options.exampleLimit) this.examples.push(sample.trim().slice(0, 120));
  }

  /** Writes the pending batch when it is full, or whatever is pending when `all`. */
  async drain(all = false): Promise<void> {
    const size = this.#options.batchSize;
    if (this.#pending.size < size && !(all && this.#pending.size > 0)) return;
    // Take the whole map at once: deleting entries one by one while iterating leaves tombstones
    // that later iterations would walk again.
    const rows = [...this.#pending.values()];
    this.#pending = new Map();
    const keep = all ? rows.length : rows.length - (rows.length % size);
    for (let start = 0; start < keep; start += size) {
      const batch = rows.slice(start, Math.min(start + size, keep));
      await this.#options.write(batch);
      this.written += batch.length;
    }
    for (const row of rows.slice(keep)) this.#pending.set(`${row.kind}\u0000${row.value}`, row);
  }
}
