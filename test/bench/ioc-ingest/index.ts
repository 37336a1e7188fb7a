// pnpm bench ioc-ingest — parsing, upserting and matching, each against a baseline of the same run.
import { createReadStream, createWriteStream, readFileSync, rmSync, writeFileSync } from "node:fs";
import { BlockList } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { iocIngestTask, manualAdapter, migrate, registerTasks, silentLogger } from "@upkeep/core";
import { createTestDatabase, type Dialect, probeDialects } from "@upkeep/testkit";
import type { Knex } from "knex";
import { seededRandom as prng } from "../../../packages/core/src/random.ts";
import { Allowlist, BUILTIN_ALLOWLIST } from "../../../packages/core/src/tasks/ioc-ingest/allowlist.ts";
import { Collector } from "../../../packages/core/src/tasks/ioc-ingest/collector.ts";
import { formatIPv4, parseIPv4 } from "../../../packages/core/src/tasks/ioc-ingest/ip.ts";
import { MatchIndex } from "../../../packages/core/src/tasks/ioc-ingest/match-index.ts";
import { createLineParser, LineSplitter } from "../../../packages/core/src/tasks/ioc-ingest/parsers.ts";
import { readStixBundle } from "../../../packages/core/src/tasks/ioc-ingest/stix.ts";
import { bench, peakRssGrowthMb, timed } from "../lib.ts";
import { buildInPages, measureMemory, type Prefix, rowOf, v4Prefixes, v6Prefixes } from "./networks.ts";
import { PreviousIPv4Matcher } from "./previous-matcher.ts";

const b = bench("ioc-ingest");
const quick = process.env.BENCH_QUICK === "1";
// BENCH_IOC_ONLY=ingest runs the database ingest alone; BENCH_IOC_DIALECTS=sqlite picks its dialects;
// BENCH_IOC_ROWS=200000 ingests fewer rows while iterating (the figures' names carry the count).
const onlyIngest = process.env.BENCH_IOC_ONLY === "ingest";
// BENCH_IOC_ONLY=match runs the matcher figures alone; BENCH_IOC_SIZES=1000000 picks their sizes and
// BENCH_IOC_FAMILIES=ipv4 their families (ipv4, ipv6, domains), to iterate on one figure.
const onlyMatch = process.env.BENCH_IOC_ONLY === "match";
// BENCH_IOC_ONLY=json runs the 94 MB STIX bundle figures alone.
const onlyJson = process.env.BENCH_IOC_ONLY === "json";
// BENCH_IOC_INGEST=0 skips the database ingest figures (minutes each) to measure parsing and the matcher alone.
const ingest = process.env.BENCH_IOC_INGEST !== "0" && !onlyMatch && !onlyJson;
// BENCH_IOC_MEMORY=0 skips the memory figures and the slow baselines (BlockList, linear scan) while iterating on lookups.
const memoryFigures = process.env.BENCH_IOC_MEMORY !== "0";
const families = new Set((process.env.BENCH_IOC_FAMILIES ?? "ipv4,ipv6,domains").split(","));
const ingestDialects = (process.env.BENCH_IOC_DIALECTS ?? "postgres,sqlite").split(",") as Dialect[];
const LINES = quick ? 100_000 : 1_000_000;
const ROWS = Number(process.env.BENCH_IOC_ROWS ?? LINES);
const rowsLabel = ROWS % 1_000_000 === 0 ? `${ROWS / 1_000_000}m` : ROWS % 1000 === 0 ? `${ROWS / 1000}k` : String(ROWS);

const random = prng(42);
const publicV4 = () => (0x2d000000 + Math.floor(random() * 0x50000000)) >>> 0; // 45.0.0.0 – 125.0.0.0

// ---- 1. parsing a 1,000,000-line list against a bare line-splitting loop
function makeList(lines: number): string {
  const out: string[] = ["# benchmark list"];
  for (let i = 0; i < lines; i++) {
    const pick = i % 10;
    if (pick < 7) out.push(`${formatIPv4(publicV4())}\t${1 + (i % 9)}`);
    else if (pick < 9) out.push(`${formatIPv4(publicV4())}/${16 + (i % 16)}`);
    else out.push(`host${i}.bad-${i % 997}.example`);
  }
  return `${out.join("\n")}\n`;
}
const CHUNK = 64 * 1024;
/** A collector with the task's defaults that writes its batches nowhere: parsing alone is measured. */
const discardingCollector = () =>
  new Collector({
    allowlist: new Allowlist(BUILTIN_ALLOWLIST),
    minPrefixLength: { ipv4: 8, ipv6: 16 },
    batchSize: 1000,
    exampleLimit: 3,
    write: async () => {},
  });
if (!onlyIngest && !onlyMatch && !onlyJson) {
  const listText = makeList(LINES);
  const parsed = await timed(async () => {
    const collector = discardingCollector();
    const parser = createLineParser("plain", collector);
    const splitter = new LineSplitter((line) => parser.line(line));
    for (let at = 0; at < listText.length; at += CHUNK) {
      splitter.push(listText.slice(at, at + CHUNK));
      await collector.drain();
    }
    splitter.end();
    await collector.drain(true);
    return collector.counts.listed;
  });
  const split = await timed(async () => {
    let lines = 0;
    let rest = "";
    for (let at = 0; at < listText.length; at += CHUNK) {
      const text = rest + listText.slice(at, at + CHUNK);
      let start = 0;
      for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", start)) {
        if (text.slice(start, end).length > 0) lines++;
        start = end + 1;
      }
      rest = text.slice(start);
      await Promise.resolve();
    }
    return lines;
  });
  b.report({ metric: "parse_1m_lines", ours: (LINES / parsed.ms) * 1000, baseline: (LINES / split.ms) * 1000, unit: "lines/s" });
}

// ---- 2. upserting 1,000,000 indicators (PostgreSQL, SQLite) against one raw multi-row INSERT, and peak RSS
const upsertFile = join(tmpdir(), `upkeep-bench-ioc-${process.pid}.txt`);
process.once("exit", () => rmSync(upsertFile, { force: true }));
const upsertRows: Array<{ kind: string; value: string }> = [];
// The RSS baseline: what holding the whole list in memory costs (an ingest that does not stream).
const held = await peakRssGrowthMb(async () => {
  if (onlyMatch || onlyJson) return 0;
  const seen = new Set<string>();
  const lines: string[] = [];
  while (lines.length < ROWS) {
    const value = formatIPv4(publicV4());
    if (seen.has(value)) continue;
    seen.add(value);
    lines.push(value);
    upsertRows.push({ kind: "ipv4", value });
  }
  writeFileSync(upsertFile, `${lines.join("\n")}\n`);
  return seen.size;
});

const RAW_CHUNK: Record<Dialect, number> = { postgres: 10_000, sqlite: 5_000, mariadb: 5_000 };
const BATCH = 5000;

async function createIndicatorsTable(db: Knex, name: string): Promise<void> {
  await db.schema.createTable(name, (table) => {
    table.bigIncrements("id").primary();
    table.string("kind", 8).notNullable();
    table.string("value", 1024).notNullable();
    table.text("feeds").notNullable();
    table.integer("confidence").notNullable();
    table.bigInteger("first_seen").notNullable();
    table.bigInteger("last_seen").notNullable();
    table.unique(["kind", "value"]);
  });
}

async function insertIndicators(db: Knex, name: string, rows: Array<{ kind: string; value: string }>, at: number): Promise<void> {
  await db.raw(
    `insert into ${name} (kind, value, feeds, confidence, first_seen, last_seen) values ${rows.map(() => "(?, ?, ?, ?, ?, ?)").join(", ")}`,
    rows.flatMap((row) => [row.kind, row.value, "bench", 50, at, at]),
  );
}
for (const { dialect, available } of ingest ? await probeDialects(ingestDialects) : []) {
  if (!available) continue;
  const database = await createTestDatabase(dialect);
  try {
    const upkeep = registerTasks(manualAdapter(), {
      db: database.knex,
      logger: silentLogger,
      tasks: [
        iocIngestTask({
          feeds: [{ name: "bench", url: pathToFileURL(upsertFile).href, format: "plain" }],
          batchSize: BATCH,
          timeout: "30m",
        }),
      ],
    });
    await upkeep.migrate();
    const ours = await peakRssGrowthMb(() => timed(() => upkeep.run("ioc-ingest")));
    const run = ours.value.value;
    if (run.status !== "succeeded") throw new Error(`ingest ${run.status}: ${run.errorMessage}`);
    // Baseline 1: one raw multi-row INSERT of the same rows into an empty copy of the indicators table.
    await createIndicatorsTable(database.knex, "raw_indicators");
    const at = Date.now();
    const baseline = await timed(async () => {
      const chunk = RAW_CHUNK[dialect];
      for (let start = 0; start < upsertRows.length; start += chunk) {
        await insertIndicators(database.knex, "raw_indicators", upsertRows.slice(start, start + chunk), at);
      }
    });
    // Baseline 2 (like for like): raw INSERTs of the same rows into empty copies of both tables the
    // task writes, created by the same migrations (same keys, indexes and storage), each batch of
    // the task's size in one transaction. The baseline numbers the indicators itself, so its
    // listing rows carry their ids without looking them up.
    await migrate(database.knex, "lfl_");
    const likeForLike = await timed(async () => {
      // SQLite binds at most 32,766 parameters a statement: 4,000 indicator rows of 7.
      const chunk = Math.min(RAW_CHUNK[dialect], BATCH, dialect === "sqlite" ? 4000 : BATCH);
      for (let start = 0; start < upsertRows.length; start += BATCH) {
        await database.knex.transaction(async (trx) => {
          for (let from = start; from < Math.min(start + BATCH, upsertRows.length); from += chunk) {
            const to = Math.min(from + chunk, start + BATCH, upsertRows.length);
            const ids = Array.from({ length: to - from }, (_, k) => from + k + 1);
            const rows = upsertRows.slice(from, to);
            await trx.raw(
              `insert into lfl_indicators (id, kind, value, feeds, confidence, first_seen, last_seen) values ${rows.map(() => "(?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
              rows.flatMap((row, k) => [ids[k] as number, row.kind, row.value, "bench", 50, at, at]),
            );
            await trx.raw(
              `insert into lfl_indicator_feeds (indicator_id, feed, confidence, first_seen, last_seen, valid_until) values ${ids.map(() => "(?, ?, ?, ?, ?, ?)").join(", ")}`,
              ids.flatMap((id) => [id, "bench", 50, at, at, null]),
            );
          }
        });
      }
    });
    b.report({ metric: `ingest_${rowsLabel}_${dialect}`, ours: ours.value.ms, baseline: baseline.ms, unit: "ms" });
    b.report({ metric: `ingest_${rowsLabel}_${dialect}_like_for_like`, ours: ours.value.ms, baseline: likeForLike.ms, unit: "ms" });
    b.report({ metric: `ingest_${rowsLabel}_${dialect}_peak_rss_vs_list_in_memory`, ours: ours.mb, baseline: held.mb, unit: "MB" });
    await upkeep.stop();
  } finally {
    await database.destroy();
  }
}

// ---- 2b. a 94 MB STIX 2.1 bundle: streamed (ours) against reading it whole and one JSON.parse (before)
// The shape follows STIX Version 2.1 (OASIS Standard, 10 June 2021,
// https://docs.oasis-open.org/cti/stix/v2.1/stix-v2.1.html): section 8 (Bundle: `type`, `id`,
// `objects`) and section 4.7 (Indicator: `type`, `spec_version`, `id`, `created`, `modified`,
// `pattern`, `pattern_type`, `valid_from` required; `name`, `description`, `indicator_types`,
// `valid_until` optional). Every 50th object is a `relationship` (section 5.1), which is skipped.
const JSON_BYTES = quick ? 16 * 1024 * 1024 : 94 * 1024 * 1024;
const jsonLabel = `${Math.round(JSON_BYTES / 1024 / 1024)}mb`;
const bundleFile = join(tmpdir(), `upkeep-bench-stix-${process.pid}.json`);
process.once("exit", () => rmSync(bundleFile, { force: true }));

/** Writes the bundle in pieces (it is never held whole); returns the number of indicators. */
async function writeBundle(path: string, bytes: number): Promise<number> {
  const out = createWriteStream(path);
  let failed: Error | undefined;
  out.on("error", (error) => {
    failed = error;
  });
  const write = async (text: string) => {
    if (failed) throw failed;
    if (!out.write(text)) await new Promise((resolve) => out.once("drain", () => resolve(undefined)));
  };
  const uuid = (i: number) => `5d0092c5-5f74-4287-${(0x8000 + (i % 0x4000)).toString(16)}-${i.toString(16).padStart(12, "0")}`;
  await write('{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[');
  let written = 0;
  let indicators = 0;
  for (let i = 0; written < bytes; i++) {
    const object =
      i % 50 === 49
        ? {
            type: "relationship",
            spec_version: "2.1",
            id: `relationship--${uuid(i)}`,
            created: "2026-11-01T00:00:00.000Z",
            modified: "2026-11-01T00:00:00.000Z",
            relationship_type: "indicates",
            source_ref: `indicator--${uuid(i - 1)}`,
            target_ref: "malware--31b940d4-6f7f-459a-80ea-9c1f17b58abc",
          }
        : {
            type: "indicator",
            spec_version: "2.1",
            id: `indicator--${uuid(i)}`,
            created: "2026-11-01T00:00:00.000Z",
            modified: "2026-11-01T00:00:00.000Z",
            name: `C2 address ${i}`,
            description: "Address seen contacting a command-and-control server in the last campaign.",
            indicator_types: ["malicious-activity"],
            pattern: `[ipv4-addr:value = '${formatIPv4(publicV4())}']`,
            pattern_type: "stix",
            valid_from: "2026-11-01T00:00:00Z",
          };
    if (object.type === "indicator") indicators++;
    const text = `${i === 0 ? "" : ","}${JSON.stringify(object)}`;
    written += text.length;
    await write(text);
  }
  await write("]}\n");
  await new Promise((resolve) => out.end(() => resolve(undefined)));
  return indicators;
}

/** Peak RSS growth, time and the longest event-loop stall of `work`. */
async function measured<T>(work: () => Promise<T>): Promise<{ mb: number; ms: number; stallMs: number; value: T }> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  // The histogram's first sample only starts the clock: let it take one before the work.
  await new Promise((resolve) => setTimeout(resolve, 10));
  const run = await peakRssGrowthMb(() => timed(work), 2);
  await new Promise((resolve) => setTimeout(resolve, 5));
  delay.disable();
  return { mb: run.mb, ms: run.value.ms, stallMs: delay.max / 1e6, value: run.value.value };
}

if (!onlyIngest && !onlyMatch) {
  const indicators = await writeBundle(bundleFile, JSON_BYTES);
  const streamed = await measured(async () => {
    const collector = discardingCollector();
    await readStixBundle(createReadStream(bundleFile, { highWaterMark: 64 * 1024 }), collector, Date.now(), () => collector.drain());
    await collector.drain(true);
    return collector.counts.listed + collector.counts.allowlisted + collector.counts.invalid;
  });
  globalThis.gc?.();
  // Before: the body read whole, one JSON.parse, then the objects walked.
  const whole = await measured(async () => {
    const document = JSON.parse(readFileSync(bundleFile, "utf8")) as { objects: Array<{ type: string; pattern?: string }> };
    let seen = 0;
    for (const object of document.objects) if (object.type === "indicator" && typeof object.pattern === "string") seen++;
    return seen;
  });
  if (whole.value !== indicators) throw new Error(`JSON.parse walk saw ${whole.value} of ${indicators} indicators`);
  // Random addresses may repeat; every indicator is counted listed, allowlisted or invalid once, or merged.
  if (streamed.value > indicators || streamed.value < indicators * 0.99)
    throw new Error(`stream read ${streamed.value} of ${indicators} indicators`);
  console.log(`stix bundle: ${indicators} indicators, ${(JSON_BYTES / 1024 / 1024).toFixed(0)} MB`);
  b.report({ metric: `stix_${jsonLabel}_peak_rss_vs_json_parse`, ours: streamed.mb, baseline: whole.mb, unit: "MB" });
  b.report({ metric: `stix_${jsonLabel}_longest_stall_vs_json_parse`, ours: streamed.stallMs, baseline: whole.stallMs, unit: "ms" });
  b.report({ metric: `stix_${jsonLabel}_time_vs_json_parse`, ours: streamed.ms, baseline: whole.ms, unit: "ms" });
  rmSync(bundleFile, { force: true });
}

// ---- 3. matcher lookups per second, build time and memory
/**
 * Lookups per second over `probes`, after an untimed warm-up (so the optimising compiler has run);
 * hits go to a sink the loop's result depends on, so the work cannot be dropped.
 */
function lookupsPerSecond(probes: string[], lookup: (probe: string) => unknown, budgetMs: number, cap = probes.length): number {
  let hits = 0;
  const warmStart = performance.now();
  for (let i = 0; i < Math.min(probes.length, cap, 100_000); i++) {
    if (lookup(probes[i] as string) !== undefined) hits++;
    if ((i & 63) === 0 && performance.now() - warmStart > budgetMs / 10) break;
  }
  let done = 0;
  const start = performance.now();
  while (done < cap) {
    for (let i = 0; i < probes.length && done < cap; i++, done++) if (lookup(probes[i] as string) !== undefined) hits++;
    if (performance.now() - start > budgetMs) break;
  }
  const ms = performance.now() - start;
  if (hits < 0) console.log(hits);
  return (done / ms) * 1000;
}

/**
 * Lookups per second of `ours` and `baseline` over the same probes in alternating passes of
 * `pass` probes (the median of `rounds` passes each, after a warm-up pass each), so that a change
 * of the machine's load during the measurement weighs on both sides alike.
 */
function interleavedRates(
  probes: string[],
  ours: (probe: string) => unknown,
  baseline: (probe: string) => unknown,
  rounds = 9,
  pass = 200_000,
): { ours: number; baseline: number } {
  let hits = 0;
  const once = (lookup: (probe: string) => unknown, from: number): number => {
    const start = performance.now();
    for (let i = from; i < from + pass; i++) if (lookup(probes[i % probes.length] as string) !== undefined) hits++;
    return (pass / (performance.now() - start)) * 1000;
  };
  once(ours, 0);
  once(baseline, 0);
  const rates: { ours: number[]; baseline: number[] } = { ours: [], baseline: [] };
  for (let round = 0; round < rounds; round++) {
    const from = (round * pass) % probes.length;
    // Alternate which side goes first, so neither always runs after the other's garbage.
    if (round % 2 === 0) {
      rates.ours.push(once(ours, from));
      rates.baseline.push(once(baseline, from));
    } else {
      rates.baseline.push(once(baseline, from));
      rates.ours.push(once(ours, from));
    }
  }
  if (hits < 0) console.log(hits);
  const median = (values: number[]) => values.sort((x, y) => x - y)[values.length >> 1] as number;
  return { ours: median(rates.ours), baseline: median(rates.baseline) };
}

/**
 * Fresh flat copies of generated strings. Template literals build rope (cons) strings, which every
 * character read must walk through; addresses a service receives (headers, JSON, log lines) are flat.
 * Ours and the baselines read the same copies.
 */
function flat(strings: string[]): string[] {
  return JSON.parse(JSON.stringify(strings)) as string[];
}

/**
 * Memory per 100,000 networks against BlockList's, both ways (JS heap plus array buffers; RSS), and
 * bytes a network against the floor the issue names: a start, an end and an owner reference, 12 bytes.
 */
function reportMemory(family: "ipv4" | "ipv6", label: string, size: number): void {
  const ours = measureMemory(family, size, "ours");
  const blockList = measureMemory(family, size, "blocklist");
  const per100k = (mb: number) => (mb * 100_000) / size;
  b.report({
    metric: `${family}_heap_per_100k_${label}_vs_blocklist`,
    ours: per100k(ours.heap),
    baseline: per100k(blockList.heap),
    unit: "MB",
  });
  b.report({
    metric: `${family}_rss_per_100k_${label}_vs_blocklist`,
    ours: per100k(ours.rss),
    baseline: per100k(blockList.rss),
    unit: "MB",
  });
  b.report({
    metric: `${family}_heap_bytes_per_prefix_${label}_vs_12_byte_floor`,
    ours: (ours.heap * 1024 * 1024) / size,
    baseline: 12,
    unit: "B",
  });
  b.report({
    metric: `${family}_rss_bytes_per_prefix_${label}_vs_blocklist`,
    ours: (ours.rss * 1024 * 1024) / size,
    baseline: (blockList.rss * 1024 * 1024) / size,
    unit: "B",
  });
  // A refresh builds the next index while the loaded one still serves: peak RSS growth of that
  // build, page by page as from the database, against the loaded index's own RSS (a ratio of 1
  // would double the matcher's memory).
  if (ours.rebuildPeak !== undefined)
    b.report({ metric: `${family}_rebuild_peak_rss_${label}_vs_loaded_index`, ours: ours.rebuildPeak, baseline: ours.rss, unit: "MB" });
}

const sizes = process.env.BENCH_IOC_SIZES?.split(",").map(Number) ?? (quick ? [100_000] : [100_000, 1_000_000]);
for (const size of onlyIngest || onlyJson ? [] : sizes) {
  const label = size >= 1_000_000 ? `${size / 1_000_000}m` : `${size / 1000}k`;
  if (families.has("ipv4")) {
    // IPv4
    const prefixes = v4Prefixes(size, random);
    const built = await timed(() => buildInPages(size, (i) => rowOf("ipv4", (prefixes[i] as Prefix).value)));
    const index = built.value;
    const blockList = new BlockList();
    const blockBuilt = await timed(() => {
      if (memoryFigures) for (const prefix of prefixes) blockList.addSubnet(formatIPv4(prefix.start), prefix.length, "ipv4");
    });
    const probes = flat(
      Array.from({ length: 1_000_000 }, (_, i) => {
        if (i % 2 === 0) {
          const pick = prefixes[Math.floor(random() * prefixes.length)] as Prefix;
          return formatIPv4(pick.start + Math.floor(random() * (pick.end - pick.start + 1)));
        }
        return formatIPv4(publicV4());
      }),
    );
    // The lookup target: at least the rate of the matcher before the compact rewrite, whose
    // lookup path (match objects built up front) is kept bench-only in previous-matcher.ts.
    // In alternating passes: the machine's load moves more than the difference measured.
    const previous = new PreviousIPv4Matcher(prefixes);
    const versusMatch = interleavedRates(
      probes,
      (probe) => index.match(probe),
      (probe) => previous.match(probe),
    );
    const versusMatchIp = interleavedRates(
      probes,
      (probe) => index.matchIp(probe),
      (probe) => previous.matchIp(probe),
    );
    b.report({ metric: `ipv4_lookups_${label}_vs_previous_matcher`, ...versusMatch, unit: "ops/s" });
    b.report({ metric: `ipv4_matchip_lookups_${label}_vs_previous_matcher`, ...versusMatchIp, unit: "ops/s" });
    const ours = lookupsPerSecond(probes, (probe) => index.match(probe), 5000);
    const viaMatchIp = lookupsPerSecond(probes, (probe) => index.matchIp(probe), 5000);
    // The least a lookup can do: parse the string and binary-search sorted starts (no most-specific
    // owner, no match object), the same probes.
    const order = prefixes.map((_, i) => i).sort((x, y) => (prefixes[x] as Prefix).start - (prefixes[y] as Prefix).start);
    const sortedStarts = Uint32Array.from(order, (i) => (prefixes[i] as Prefix).start);
    const sortedEnds = Uint32Array.from(order, (i) => (prefixes[i] as Prefix).end);
    const bare = lookupsPerSecond(
      probes,
      (probe) => {
        const address = parseIPv4(probe);
        if (address < 0) return undefined;
        let lo = 0;
        let hi = sortedStarts.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if ((sortedStarts[mid] as number) <= address) lo = mid + 1;
          else hi = mid;
        }
        return lo > 0 && address <= (sortedEnds[lo - 1] as number) ? lo : undefined;
      },
      5000,
    );
    b.report({ metric: `ipv4_lookups_${label}_vs_bare_binary_search`, ours, baseline: bare, unit: "ops/s" });
    b.report({ metric: `ipv4_matchip_lookups_${label}_vs_bare_binary_search`, ours: viaMatchIp, baseline: bare, unit: "ops/s" });
    if (memoryFigures) {
      const viaBlockList = lookupsPerSecond(probes, (probe) => (blockList.check(probe, "ipv4") ? true : undefined), 3000, 2000);
      const starts = Uint32Array.from(prefixes.map((prefix) => prefix.start));
      const ends = Uint32Array.from(prefixes.map((prefix) => prefix.end));
      const linear = lookupsPerSecond(
        probes,
        (probe) => {
          const address = parseIPv4(probe);
          let best = -1;
          for (let i = 0; i < starts.length; i++) if ((starts[i] as number) <= address && address <= (ends[i] as number)) best = i;
          return best >= 0 ? best : undefined;
        },
        3000,
        20_000,
      );
      b.report({ metric: `ipv4_lookups_${label}_vs_blocklist`, ours, baseline: viaBlockList, unit: "ops/s" });
      b.report({ metric: `ipv4_lookups_${label}_vs_linear_scan`, ours, baseline: linear, unit: "ops/s" });
      b.report({
        metric: `ipv4_build_per_100k_${label}`,
        ours: (built.ms * 100_000) / size,
        baseline: (blockBuilt.ms * 100_000) / size,
        unit: "ms",
      });
      reportMemory("ipv4", label, size);
    }
  }

  if (families.has("ipv6")) {
    // IPv6
    const v6 = v6Prefixes(size, random);
    const v6Built = await timed(() => buildInPages(size, (i) => rowOf("ipv6", v6[i] as string)));
    const v6Block = new BlockList();
    const v6BlockBuilt = await timed(() => {
      for (const value of v6) {
        const [address, length] = value.split("/");
        v6Block.addSubnet(address as string, Number(length), "ipv6");
      }
    });
    reportMemory("ipv6", label, size);
    const v6Probes = flat(
      Array.from({ length: 500_000 }, (_, i) => {
        const pick = v6[Math.floor(random() * v6.length)] as string;
        const address = pick.split("/")[0] as string;
        return i % 2 === 0
          ? address.replace(/::$/, `::${Math.floor(random() * 0xffff).toString(16)}`)
          : `2a${Math.floor(random() * 255).toString(16)}:1::1`;
      }),
    );
    const v6Ours = lookupsPerSecond(v6Probes, (probe) => v6Built.value.match(probe), 5000);
    const v6Base = lookupsPerSecond(v6Probes, (probe) => (v6Block.check(probe, "ipv6") ? true : undefined), 3000, 1000);
    b.report({ metric: `ipv6_lookups_${label}_vs_blocklist`, ours: v6Ours, baseline: v6Base, unit: "ops/s" });
    b.report({
      metric: `ipv6_build_per_100k_${label}`,
      ours: (v6Built.ms * 100_000) / size,
      baseline: (v6BlockBuilt.ms * 100_000) / size,
      unit: "ms",
    });
  }

  if (families.has("domains")) {
    // Domains: the name and each parent, against a Set walked with split/join (allocating)
    const domains = Array.from({ length: size }, (_, i) => `bad-${i}.example${i % 50}.net`);
    const domainIndex = new MatchIndex(domains.map((value) => rowOf("domain", value)));
    const domainSet = new Set(domains);
    const domainProbes = flat(
      Array.from({ length: 1_000_000 }, (_, i) =>
        i % 2 === 0
          ? `cdn.a${i % 7}.bad-${Math.floor(random() * size)}.example${Math.floor(random() * 50)}.net`
          : `www.good-${i}.example.org`,
      ),
    );
    const domainOurs = lookupsPerSecond(domainProbes, (probe) => domainIndex.match(probe), 5000);
    const domainBase = lookupsPerSecond(
      domainProbes,
      (probe) => {
        const labels = probe.toLowerCase().split(".");
        for (let k = 0; k < labels.length - 1; k++) if (domainSet.has(labels.slice(k).join("."))) return true;
        return undefined;
      },
      5000,
    );
    b.report({ metric: `domain_lookups_${label}_vs_set_walk`, ours: domainOurs, baseline: domainBase, unit: "ops/s" });
  }
}

b.write();
