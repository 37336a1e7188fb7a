import { BlockList } from "node:net";
import { describe, expect, it } from "vitest";
import { seededRandom as prng } from "../../random.ts";
import { formatIPv4, formatIPv6 } from "./ip.ts";
import { type IndicatorRow, MatchIndex, MatchIndexBuilder } from "./match-index.ts";
import { normalise } from "./normalise.ts";

const row = (kind: IndicatorRow["kind"], value: string, feed: string): IndicatorRow => ({
  kind,
  value,
  feeds: [feed],
  confidence: 50,
  firstSeen: 0,
  lastSeen: 0,
});

interface V4Prefix {
  network: number;
  length: number;
  value: string;
}

function randomV4Prefixes(random: () => number, count: number): V4Prefix[] {
  const out = new Map<string, V4Prefix>();
  // A small base range so prefixes nest and collide often.
  while (out.size < count) {
    const length = 8 + Math.floor(random() * 25);
    const address = ((0x2d000000 + Math.floor(random() * 0x00ffffff)) >>> 0) as number;
    const indicator = normalise(`${formatIPv4(address)}/${length}`);
    if (!indicator) continue;
    const [text] = indicator.value.split("/");
    const network = Number(text?.split(".").reduce((acc, part) => acc * 256 + Number(part), 0));
    out.set(indicator.value, { network, length, value: indicator.value });
  }
  return [...out.values()];
}

function oracleV4(prefixes: V4Prefix[], address: number): string | undefined {
  let best: V4Prefix | undefined;
  for (const prefix of prefixes) {
    const size = 2 ** (32 - prefix.length);
    if (address >= prefix.network && address < prefix.network + size && (!best || prefix.length > best.length)) best = prefix;
  }
  return best?.value;
}

describe("matcher index against a brute-force oracle", () => {
  it.each([1, 2, 3, 4, 5])("IPv4: the most specific covering prefix wins (seed %i)", (seed) => {
    const random = prng(seed);
    const prefixes = randomV4Prefixes(random, 300);
    const index = new MatchIndex(prefixes.map((prefix) => row("ipv4", prefix.value, prefix.value)));
    for (let i = 0; i < 3000; i++) {
      const pick = prefixes[Math.floor(random() * prefixes.length)] as V4Prefix;
      // Half the probes inside a listed prefix, half anywhere in the base range.
      const address =
        random() < 0.5
          ? pick.network + Math.floor(random() * 2 ** (32 - pick.length))
          : (0x2d000000 + Math.floor(random() * 0x00ffffff)) >>> 0;
      expect(index.match(formatIPv4(address))?.value, formatIPv4(address)).toBe(oracleV4(prefixes, address));
    }
  });

  it.each([11, 12, 13])("IPv6: the most specific covering prefix wins (seed %i)", (seed) => {
    const random = prng(seed);
    const words = () => [
      0x2a060000 + Math.floor(random() * 4),
      Math.floor(random() * 4) * 0x10000,
      Math.floor(random() * 2 ** 32),
      Math.floor(random() * 2 ** 32),
    ];
    const prefixes = new Map<string, { start: bigint; end: bigint; length: number }>();
    while (prefixes.size < 200) {
      const length = 16 + Math.floor(random() * 113);
      const indicator = normalise(`${formatIPv6(words())}/${length}`);
      if (!indicator) continue;
      const [address] = indicator.value.split("/");
      const start = BigInt(`0x${expandV6(address as string)}`);
      prefixes.set(indicator.value, { start, end: start + (1n << BigInt(128 - length)) - 1n, length });
    }
    const index = new MatchIndex([...prefixes.keys()].map((value) => row("ipv6", value, value)));
    const list = [...prefixes.entries()];
    for (let i = 0; i < 2000; i++) {
      let probe: bigint;
      if (random() < 0.5) {
        const [, pick] = list[Math.floor(random() * list.length)] as (typeof list)[number];
        const span = pick.end - pick.start + 1n;
        probe = pick.start + ((BigInt(Math.floor(random() * 2 ** 52)) * BigInt(Math.floor(random() * 2 ** 52))) % span);
      } else {
        const w = words();
        probe = w.reduce((acc, word) => (acc << 32n) | BigInt(word >>> 0), 0n);
      }
      let best: { value: string; length: number } | undefined;
      for (const [value, prefix] of list) {
        if (probe >= prefix.start && probe <= prefix.end && (!best || prefix.length > best.length)) best = { value, length: prefix.length };
      }
      const text = formatIPv6([0, 1, 2, 3].map((w) => Number((probe >> BigInt(96 - 32 * w)) & 0xffffffffn)));
      expect(index.match(text)?.value, text).toBe(best?.value);
    }
  });

  it.each([21, 22])("domains: the name or its nearest listed parent (seed %i)", (seed) => {
    const random = prng(seed);
    const labels = ["a", "b", "c", "evil", "cdn", "xn--bcher-kva", "x-1"];
    const name = (depth: number) =>
      [...Array.from({ length: depth }, () => labels[Math.floor(random() * labels.length)]), "example"].join(".");
    const listed = new Set<string>();
    while (listed.size < 60) listed.add(name(1 + Math.floor(random() * 3)));
    const index = new MatchIndex([...listed].map((value) => row("domain", value, value)));
    for (let i = 0; i < 2000; i++) {
      const probe = name(1 + Math.floor(random() * 5));
      const parts = probe.split(".");
      let expected: string | undefined;
      for (let k = parts.length - 2; k >= 0; k--) {
        const candidate = parts.slice(k).join(".");
        if (listed.has(candidate)) expected = candidate;
      }
      const asked = random() < 0.3 ? `${probe.toUpperCase()}.` : probe;
      expect(index.match(asked)?.value, asked).toBe(expected);
    }
  });
});

function expandV6(text: string): string {
  const [head = "", tail = ""] = text.includes("::") ? text.split("::") : [text, ""];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.map((group) => group.padStart(4, "0")).join("");
}

describe("matcher index lookups", () => {
  const index = new MatchIndex([
    row("ipv4", "45.155.205.0/24", "a"),
    row("ipv4", "45.155.205.233", "b"),
    row("ipv6", "2a06:e480::/29", "c"),
    row("domain", "evil.example", "d"),
    row("url", "http://evil.example/x", "e"),
    row("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "f"),
  ]);

  it("agrees with node's BlockList on listed and unlisted addresses", () => {
    const blockList = new BlockList();
    blockList.addSubnet("45.155.205.0", 24, "ipv4");
    blockList.addSubnet("2a06:e480::", 29, "ipv6");
    for (const address of ["45.155.205.1", "45.155.206.1", "2a06:e487:ffff::1", "2a06:e488::1"]) {
      const family = address.includes(":") ? "ipv6" : "ipv4";
      expect(index.match(address) !== undefined).toBe(blockList.check(address, family));
    }
  });

  it("folds IPv4-mapped IPv6, strips zone ids and brackets", () => {
    expect(index.match("::ffff:45.155.205.233")?.feeds).toEqual(["b"]);
    expect(index.match("[2a06:e480::1%eth0]")?.feeds).toEqual(["c"]);
  });

  it("matches URLs exactly after canonicalising and hashes in any case", () => {
    expect(index.match("HTTP://EVIL.example:80/x#top")?.feeds).toEqual(["e"]);
    expect(index.match("http://evil.example/y")).toBeUndefined();
    expect(index.match("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")?.feeds).toEqual(["f"]);
  });

  it("covers subdomains but not look-alike names", () => {
    expect(index.match("a.b.evil.example")?.value).toBe("evil.example");
    expect(index.match("notevil.example")).toBeUndefined();
    expect(index.match("")).toBeUndefined();
  });

  it("returns the same frozen object on every hit", () => {
    const first = index.match("45.155.205.233");
    expect(index.match("45.155.205.233")).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });
});

describe("MatchIndex memory (issue 21, matcher memory)", () => {
  it("shares one frozen feed list and one Date per distinct value between indicators", () => {
    const index = new MatchIndex([
      { ...row("ipv4", "45.155.205.1", "a"), firstSeen: 5, lastSeen: 9 },
      { ...row("ipv4", "45.155.205.2", "a"), firstSeen: 5, lastSeen: 9 },
      { ...row("domain", "evil.example", "b"), firstSeen: 5, lastSeen: 7 },
    ]);
    const [one, two, three] = ["45.155.205.1", "45.155.205.2", "evil.example"].map((value) => index.match(value));
    expect(one?.feeds).toEqual(["a"]);
    expect(two?.feeds).toBe(one?.feeds);
    expect(Object.isFrozen(one?.feeds)).toBe(true);
    expect(two?.firstSeen).toBe(one?.firstSeen);
    expect(three?.firstSeen).toBe(one?.firstSeen);
    expect(three?.lastSeen.getTime()).toBe(7);
    expect(three?.feeds).toEqual(["b"]);
  });
});

describe("MatchIndex in typed arrays (issue 21, matcher memory)", () => {
  it("rebuilds each value as stored, keeps a value stored in another form, and keeps each hash's kind", () => {
    const index = new MatchIndex([
      row("ipv4", "45.155.205.0/24", "a"),
      row("ipv4", "45.155.205.7/32", "b"),
      row("ipv6", "2a06:e480::/29", "c"),
      row("ipv6", "2a06:E480:0:0::1", "d"),
      row("md5", "d41d8cd98f00b204e9800998ecf8427e", "e"),
      row("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "f"),
    ]);
    expect(index.match("45.155.205.1")?.value).toBe("45.155.205.0/24");
    expect(index.match("45.155.205.7")).toMatchObject({ kind: "ipv4", value: "45.155.205.7/32", feeds: ["b"] });
    expect(index.match("2a06:e480::2")?.value).toBe("2a06:e480::/29");
    expect(index.match("2a06:e480::1")).toMatchObject({ kind: "ipv6", value: "2a06:E480:0:0::1", feeds: ["d"] });
    expect(index.match("D41D8CD98F00B204E9800998ECF8427E")?.kind).toBe("md5");
    expect(index.match("da39a3ee5e6b4b0d3255bfef95601890afd80709")?.kind).toBe("sha1");
    expect(index.size).toEqual({ ipv4: 2, ipv6: 2, domains: 0, urls: 0, hashes: 2 });
  });

  it("keeps the object of an indicator hit twice in a row of its cache slot, not after a single hit", () => {
    const rows = Array.from({ length: 300 }, (_, i) => row("ipv4", `46.0.${i}.0/24`, "x"));
    const index = new MatchIndex(rows);
    // Built and not kept on the first hit, kept on the second: the third returns the kept object.
    const first = index.match("46.0.7.1");
    const second = index.match("46.0.7.2");
    expect(second).not.toBe(first);
    expect(second).toEqual(first);
    expect(index.match("46.0.7.3")).toBe(second);
  });

  it("gives equal, frozen answers for an indicator after its cached object was evicted", () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => row("ipv4", `46.${i >> 8}.${i & 255}.0/24`, "x"));
    const index = new MatchIndex(rows);
    const first = index.match("46.0.0.1");
    for (let i = 0; i < 20_000; i++) index.match(`46.${i >> 8}.${i & 255}.9`);
    const again = index.match("46.0.0.1");
    expect(again).toEqual(first);
    expect(Object.isFrozen(again)).toBe(true);
    expect(again?.feeds).toBe(first?.feeds);
  });

  it("a builder fed page by page answers like the rows constructor", () => {
    const rows = Array.from({ length: 3000 }, (_, i) => ({ ...row("ipv4", `47.${i >> 8}.${i & 255}.0/24`, `f${i % 3}`), lastSeen: i % 5 }));
    const builder = new MatchIndexBuilder();
    for (const one of rows) builder.add(one);
    const paged = builder.build();
    const whole = new MatchIndex(rows);
    for (let i = 0; i < 3000; i += 7) expect(paged.match(`47.${i >> 8}.${i & 255}.3`)).toEqual(whole.match(`47.${i >> 8}.${i & 255}.3`));
    expect(paged.match("47.0.5.1")).toMatchObject({ feeds: ["f2"], lastSeen: new Date(0) });
  });
});
