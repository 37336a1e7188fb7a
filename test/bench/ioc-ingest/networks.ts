// Generated networks for the matcher figures, and memory measured in a process of its own.
import { spawnSync } from "node:child_process";
import { BlockList } from "node:net";
import { fileURLToPath } from "node:url";
import { formatIPv4, formatIPv6, parseIPv4 } from "../../../packages/core/src/tasks/ioc-ingest/ip.ts";
import { type IndicatorRow, type MatchIndex, MatchIndexBuilder } from "../../../packages/core/src/tasks/ioc-ingest/match-index.ts";
import { normalise } from "../../../packages/core/src/tasks/ioc-ingest/normalise.ts";
import { peakRssGrowthMb } from "../lib.ts";

export interface Prefix {
  value: string;
  start: number;
  end: number;
  length: number;
}

/** `count` distinct IPv4 networks, /16 to /32, in 45.0.0.0 – 125.0.0.0. */
export function v4Prefixes(count: number, random: () => number): Prefix[] {
  const out = new Map<string, Prefix>();
  while (out.size < count) {
    const length = 16 + Math.floor(random() * 17);
    const address = (0x2d000000 + Math.floor(random() * 0x50000000)) >>> 0;
    const indicator = normalise(`${formatIPv4(address)}/${length}`);
    if (!indicator) continue;
    const start = parseIPv4(indicator.value.split("/")[0] as string);
    out.set(indicator.value, { value: indicator.value, start, end: start + 2 ** (32 - length) - 1, length });
  }
  return [...out.values()];
}

/** `count` distinct IPv6 networks, /24 to /64, in 2a00::/8. */
export function v6Prefixes(count: number, random: () => number): string[] {
  const out = new Set<string>();
  while (out.size < count) {
    const words = [0x2a000000 + Math.floor(random() * 0x00ffffff), Math.floor(random() * 2 ** 32), 0, 0];
    const indicator = normalise(`${formatIPv6(words)}/${24 + Math.floor(random() * 41)}`);
    if (indicator) out.add(indicator.value);
  }
  return [...out];
}

export const rowOf = (kind: IndicatorRow["kind"], value: string): IndicatorRow => ({
  kind,
  value,
  feeds: ["bench"],
  confidence: 50,
  firstSeen: 0,
  lastSeen: 0,
});

/** Builds an index as a refresh does: rows page by page into a builder, a turn of the event loop between pages. */
export async function buildInPages(count: number, row: (i: number) => IndicatorRow, pageSize = 50_000): Promise<MatchIndex> {
  const builder = new MatchIndexBuilder();
  for (let i = 0; i < count; i++) {
    builder.add(row(i));
    if (i % pageSize === pageSize - 1) await new Promise((resolve) => setImmediate(resolve));
  }
  return builder.build();
}

/**
 * Memory after two forced collections, both ways: `heap` is the JS heap used plus array buffers
 * (where typed arrays live), `rss` the resident set, which also counts native memory (BlockList
 * keeps its rules outside the JS heap) and whatever the collector has not returned yet.
 */
function memoryMb(): { heap: number; rss: number } {
  globalThis.gc?.();
  globalThis.gc?.();
  const usage = process.memoryUsage();
  return { heap: (usage.heapUsed + usage.arrayBuffers) / 1024 / 1024, rss: usage.rss / 1024 / 1024 };
}

export interface MemoryFigures {
  /** Retained JS heap plus array buffers, MB. */
  heap: number;
  /** Retained RSS, MB. */
  rss: number;
  /** Ours, IPv4: peak RSS growth while a second index is built beside the first, MB. */
  rebuildPeak?: number;
}

/**
 * Measures what one structure (`ours` or `blocklist`) holding `size` networks of `family` retains,
 * in a fresh process (`node --expose-gc`), so that neither the other structure nor earlier figures'
 * garbage is counted: networks generated first, then memory before and after the build.
 */
export function measureMemory(family: "ipv4" | "ipv6", size: number, which: "ours" | "blocklist"): MemoryFigures {
  const script = fileURLToPath(import.meta.url);
  const child = spawnSync(
    process.execPath,
    ["--expose-gc", "--conditions=dev-source", "--import", "tsx", script, family, String(size), which],
    {
      encoding: "utf8",
      maxBuffer: 1024 * 1024,
    },
  );
  const line = child.stdout.trim().split("\n").pop() ?? "";
  if (child.status !== 0 || !line.startsWith("{")) throw new Error(`memory probe failed: ${child.stderr.slice(0, 2000)}`);
  return JSON.parse(line) as MemoryFigures;
}

/**
 * Flat copies of generated networks: the generated values are rope strings, which the first read
 * flattens, and that garbage would count against whichever structure reads them first. In a
 * function of its own, so no temporary stays in the measuring frame.
 */
function flatNetworks(family: string, size: number, random: () => number): { v4: Prefix[]; v6: string[] } {
  const v4 = family === "ipv4" ? (JSON.parse(JSON.stringify(v4Prefixes(size, random))) as Prefix[]) : [];
  const v6 = family === "ipv6" ? (JSON.parse(JSON.stringify(v6Prefixes(size, random))) as string[]) : [];
  return { v4, v6 };
}

async function probe(family: string, size: number, which: string, random: () => number): Promise<MemoryFigures> {
  const { v4, v6 } = flatNetworks(family, size, random);
  const before = memoryMb();
  if (which === "blocklist") {
    const list = new BlockList();
    for (const prefix of v4) list.addSubnet(formatIPv4(prefix.start), prefix.length, "ipv4");
    for (const value of v6) {
      const [address, length] = value.split("/");
      list.addSubnet(address as string, Number(length), "ipv6");
    }
    const after = memoryMb();
    if (!list.check(v4[0] ? formatIPv4(v4[0].start) : (v6[0]?.split("/")[0] as string), family as "ipv4" | "ipv6")) throw new Error("lost");
    return { heap: after.heap - before.heap, rss: after.rss - before.rss };
  }
  const row = (i: number) => (family === "ipv4" ? rowOf("ipv4", (v4[i] as Prefix).value) : rowOf("ipv6", v6[i] as string));
  const index = await buildInPages(size, row);
  const after = memoryMb();
  const figures: MemoryFigures = { heap: after.heap - before.heap, rss: after.rss - before.rss };
  if (family === "ipv4") {
    const rebuilt = await peakRssGrowthMb(() => buildInPages(size, row), 2);
    if (rebuilt.value.size.ipv4 !== index.size.ipv4) throw new Error("rebuild lost prefixes");
    figures.rebuildPeak = rebuilt.mb;
  }
  if (index.size.ipv4 + index.size.ipv6 !== size) throw new Error("lost prefixes");
  return figures;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [family = "ipv4", size = "100000", which = "ours"] = process.argv.slice(2);
  const { seededRandom } = await import("../../../packages/core/src/random.ts");
  console.log(JSON.stringify(await probe(family, Number(size), which, seededRandom(42))));
}
