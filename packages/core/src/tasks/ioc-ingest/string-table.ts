// An open-addressing string set searched by slices of the caller's string, so a lookup allocates
// nothing. The hash runs from the end of the slice to its start, which gives the hash of every
// suffix on the way: one pass over a domain probes the name and each of its parents. Each slot keeps
// the full hash of its key beside the id (one cache line for both), so a probe touches a key's
// characters only when the hashes agree, and a miss usually reads one line of one typed array.

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

function fold(code: number, ignoreCase: boolean): number {
  return ignoreCase && code >= 65 && code <= 90 ? code | 0x20 : code;
}

/** A set of strings with ids, probed by `text[from, to)`. */
export class StringTable {
  readonly #keys: string[];
  /** Slot `s` is `[hash, id]` at `2s`, `2s + 1`; id -1 is empty. */
  readonly #slots: Int32Array;
  readonly #mask: number;
  readonly #ignoreCase: boolean;

  /** `keys` must already be in stored form (lower-case when `ignoreCase`). */
  constructor(keys: string[], ignoreCase: boolean) {
    this.#keys = keys;
    this.#ignoreCase = ignoreCase;
    let capacity = 16;
    while (capacity < keys.length * 2) capacity *= 2;
    this.#slots = new Int32Array(capacity * 2).fill(-1);
    this.#mask = capacity - 1;
    keys.forEach((key, id) => {
      const hash = this.#hash(key, 0, key.length);
      let slot = hash & this.#mask;
      while (this.#slots[2 * slot + 1] !== -1) slot = (slot + 1) & this.#mask;
      this.#slots[2 * slot] = hash;
      this.#slots[2 * slot + 1] = id;
    });
  }

  get size(): number {
    return this.#keys.length;
  }

  #hash(text: string, from: number, to: number): number {
    let hash = FNV_OFFSET;
    for (let i = to - 1; i >= from; i--) hash = Math.imul(hash ^ fold(text.charCodeAt(i), this.#ignoreCase), FNV_PRIME);
    return hash | 0;
  }

  #probe(hash: number, text: string, from: number, to: number): number {
    const length = to - from;
    let slot = hash & this.#mask;
    for (;;) {
      const id = this.#slots[2 * slot + 1] as number;
      if (id === -1) return -1;
      const key = this.#slots[2 * slot] === hash ? (this.#keys[id] as string) : undefined;
      if (key !== undefined && key.length === length) {
        let same = true;
        for (let k = 0; k < length; k++) {
          if (key.charCodeAt(k) !== fold(text.charCodeAt(from + k), this.#ignoreCase)) {
            same = false;
            break;
          }
        }
        if (same) return id;
      }
      slot = (slot + 1) & this.#mask;
    }
  }

  /** The id of `text[from, to)`, or -1. */
  find(text: string, from = 0, to = text.length): number {
    if (this.#keys.length === 0) return -1;
    return this.#probe(this.#hash(text, from, to), text, from, to);
  }

  /**
   * The id of the longest dot-separated suffix of `text[from, to)` in the set (the name itself, or
   * its nearest listed parent), or -1.
   */
  findSuffix(text: string, from: number, to: number): number {
    if (this.#keys.length === 0) return -1;
    let hash = FNV_OFFSET;
    let found = -1;
    for (let i = to - 1; i >= from; i--) {
      const code = text.charCodeAt(i);
      hash = Math.imul(hash ^ fold(code, this.#ignoreCase), FNV_PRIME);
      if (i === from || text.charCodeAt(i - 1) === 46) {
        const id = this.#probe(hash, text, i, to);
        if (id !== -1) found = id;
      }
    }
    return found;
  }
}
