import { describe, expect, it } from "vitest";
import { seededRandom as prng } from "../../random.ts";
import { IPv4Ranges, IPv4Table, type Span } from "./ranges.ts";

interface Prefix {
  start: number;
  length: number;
}

/** The most specific prefix covering `address` (the first listed among equals), by brute force. */
function oracle(prefixes: Prefix[], address: number): number {
  let best = -1;
  prefixes.forEach((prefix, id) => {
    const inside = address >= prefix.start && address < prefix.start + 2 ** (32 - prefix.length);
    if (inside && (best < 0 || prefix.length > (prefixes[best] as Prefix).length)) best = id;
  });
  return best;
}

/**
 * Prefixes of every length from /0 to /32, crowded into two /16s (so one holds hundreds of runs)
 * plus the first and last addresses of the space, and probes at every prefix's edges.
 */
function scenario(seed: number): { prefixes: Prefix[]; probes: number[] } {
  const random = prng(seed);
  const prefixes: Prefix[] = [
    { start: 0, length: 32 },
    { start: 0xffffffff, length: 32 },
    { start: 0xfffffffe, length: 31 },
    { start: 0, length: 1 },
  ];
  if (seed % 2 === 0) prefixes.push({ start: 0, length: 0 });
  const bases = [0x2d9b0000, 0x2d9c0000, 0xfffe0000];
  for (let i = 0; i < 600; i++) {
    const length = i % 10 === 0 ? Math.floor(random() * 33) : 14 + Math.floor(random() * 19);
    const near = (bases[Math.floor(random() * bases.length)] as number) + Math.floor(random() * 2 ** 17);
    const address = i % 10 === 0 ? Math.floor(random() * 2 ** 32) : near % 2 ** 32;
    const size = 2 ** (32 - length);
    prefixes.push({ start: Math.floor(address / size) * size, length });
  }
  const probes: number[] = [0, 1, 0xffffffff, 0xfffffffe, 0x7fffffff, 0x80000000];
  for (const prefix of prefixes) {
    const end = prefix.start + 2 ** (32 - prefix.length) - 1;
    for (const address of [prefix.start - 1, prefix.start, prefix.start + 1, end - 1, end, end + 1]) {
      if (address >= 0 && address < 2 ** 32) probes.push(address);
    }
  }
  for (let i = 0; i < 2000; i++) probes.push(Math.floor(random() * 2 ** 32));
  return { prefixes, probes };
}

const spansOf = (prefixes: Prefix[]): Array<Span<number>> =>
  prefixes.map((prefix, id) => ({ start: prefix.start, stop: prefix.start + 2 ** (32 - prefix.length), id }));

describe("IPv4 ranges against a brute-force oracle", () => {
  it.each([1, 2, 3, 4])(
    "the lookup table returns the most specific prefix, at every edge, from spans or from typed arrays (seed %i)",
    (seed) => {
      const { prefixes, probes } = scenario(seed);
      const fromSpans = IPv4Table.fromSpans(spansOf(prefixes));
      // The low 26 bits of each second word are the caller's (the matcher's record): set, ignored.
      const fromNetworks = IPv4Table.fromNetworks(
        Uint32Array.from(prefixes.flatMap((prefix, i) => [prefix.start, ((prefix.length << 26) | (i % 7)) >>> 0])),
      );
      for (const address of probes) {
        const expected = oracle(prefixes, address);
        expect(fromSpans.find(address), String(address)).toBe(expected);
        expect(fromNetworks.find(address), String(address)).toBe(expected);
      }
    },
  );

  it.each([5, 6])("overlaps agree with the oracle (seed %i)", (seed) => {
    const { prefixes, probes } = scenario(seed);
    const ranges = new IPv4Ranges(spansOf(prefixes));
    const random = prng(seed);
    for (let i = 0; i < 300; i++) {
      const start = probes[Math.floor(random() * probes.length)] as number;
      const end = Math.min(2 ** 32 - 1, start + Math.floor(random() * 2 ** Math.floor(random() * 24)));
      const hit = ranges.overlaps(start, end);
      const any = prefixes.some((prefix) => prefix.start <= end && prefix.start + 2 ** (32 - prefix.length) - 1 >= start);
      expect(hit >= 0, `${start}-${end}`).toBe(any);
      if (hit >= 0) {
        const prefix = prefixes[hit] as Prefix;
        expect(prefix.start <= end && prefix.start + 2 ** (32 - prefix.length) - 1 >= start).toBe(true);
      }
    }
  });

  it("an empty table answers nothing", () => {
    for (const table of [IPv4Table.fromSpans([]), IPv4Table.fromNetworks(new Uint32Array(0))]) {
      expect(table.find(0)).toBe(-1);
      expect(table.find(0xffffffff)).toBe(-1);
    }
    expect(new IPv4Ranges([]).overlaps(0, 0xffffffff)).toBe(-1);
  });
});
