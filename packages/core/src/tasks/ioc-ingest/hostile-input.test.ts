import { monitorEventLoopDelay } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { Allowlist, BUILTIN_ALLOWLIST } from "./allowlist.ts";
import { Collector } from "./collector.ts";
import { splitCsvLine } from "./csv.ts";
import { type CsvMapping, DEFAULT_MAX_LINE_LENGTH, LINE_FORMATS, type LineFormat, LineSplitter, parseLineStream } from "./parsers.ts";
import { parseStixPattern, readMispEvent, readMispManifest, readStixBundle, readTaxiiEnvelope } from "./stix.ts";
import type { Listed } from "./store.ts";

// Regression tests for issue 21, items 1 and 4: a crafted line froze the event loop for minutes
// (the misp-freetext trim regex backtracked; line splitting re-copied the partial line per chunk).

function collector() {
  const rows: Listed[] = [];
  const sink = new Collector({
    allowlist: new Allowlist(BUILTIN_ALLOWLIST),
    minPrefixLength: { ipv4: 8, ipv6: 16 },
    batchSize: 1000,
    exampleLimit: 3,
    write: async (batch) => {
      rows.push(...batch);
    },
  });
  return { sink, rows };
}

/** Yields `text` in chunks of `size` characters, as a download would. */
async function* chunks(text: string, size = 65_536): AsyncGenerator<string> {
  for (let at = 0; at < text.length; at += size) yield text.slice(at, at + size);
}

/** `text` as UTF-8 in chunks of `size` bytes, as a download would deliver it. */
function bytes(text: string, size = 65_536): Uint8Array[] {
  const all = Buffer.from(text);
  return Array.from({ length: Math.ceil(all.length / size) }, (_, i) => all.subarray(i * size, (i + 1) * size));
}

const KB = 1024;
const MB = 1024 * KB;

/** The worst inputs found for each format, each followed by one good line that must still be read. */
const HOSTILE: Array<{ name: string; text: string }> = [
  { name: "200 KB of dots then a letter", text: `${".".repeat(200 * KB)}a` },
  { name: "a 1 MB token of dots then a letter", text: `${".".repeat(MB)}a` },
  { name: "a 1 MB token of brackets", text: "(".repeat(MB) },
  { name: "a token at the line cap of dots then a letter", text: `${".".repeat(DEFAULT_MAX_LINE_LENGTH - 1)}a` },
  { name: "a line of many short tokens at the cap", text: "a.1 ".repeat(DEFAULT_MAX_LINE_LENGTH / 4 - 1) },
  { name: "a line of quotes after a long field", text: `${"a".repeat(30 * KB)}${'"'.repeat(30 * KB)}` },
  { name: "a line of delimiters", text: ",".repeat(60 * KB) },
  { name: "nested JSON at the cap", text: "[".repeat(60 * KB) },
  { name: "defanged dots at the cap", text: "[.]".repeat(20 * KB) },
  { name: "hxxp at the cap", text: "hxxp".repeat(16 * KB) },
  { name: "1 MB of spaces then a letter", text: `${" ".repeat(MB)}a` },
];

const CSV: Record<string, CsvMapping | undefined> = { csv: { column: "url", kind: "url" } };
const HEADERS: Partial<Record<LineFormat, string>> = {
  csv: "# id,url\n",
  "misp-csv": "uuid,event_id,category,type,value,comment,to_ids\n",
};
const GOOD: Record<LineFormat, string> = {
  plain: "45.155.205.233",
  firehol: "45.155.205.233",
  "spamhaus-drop": "45.155.205.0/24 ; SBL1",
  "spamhaus-drop-json": '{"cidr":"45.155.205.0/24","sblid":"SBL1"}',
  csv: "1,http://evil.example/x",
  "misp-freetext": "see hxxp://evil[.]example/x.",
  "misp-csv": "u,1,Network activity,ip-dst,45.155.205.233,,1",
};

describe("hostile line feeds (issue 21 items 1 and 4)", () => {
  for (const format of LINE_FORMATS) {
    it(`${format}: reads past every crafted line, counting overlong ones invalid, without a long stall`, { timeout: 20_000 }, async () => {
      const { sink, rows } = collector();
      const body = `${HEADERS[format] ?? ""}${HOSTILE.map((input) => `${input.text}\n`).join("")}${GOOD[format]}\n`;
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      await parseLineStream(format, chunks(body), sink, { csv: CSV[format], drain: () => sink.drain() });
      await sink.drain(true);
      // One timer turn, so a stall at the very end is recorded too.
      await new Promise((resolve) => setTimeout(resolve, 5));
      delay.disable();
      console.log(`${format}: longest event-loop stall ${(delay.max / 1e6).toFixed(1)} ms over ${(body.length / MB).toFixed(1)} MB`);
      expect(rows.length).toBe(1);
      expect(sink.counts.listed).toBe(1);
      // The four lines over the cap are invalid whatever the format; the others may be too.
      expect(sink.counts.invalid).toBeGreaterThanOrEqual(4);
      expect(sink.examples.every((example) => example.length <= 120)).toBe(true);
    });
  }

  it("skips a 32 MB single line as invalid, holding no more than the cap of it", { timeout: 20_000 }, async () => {
    const lines: string[] = [];
    const overlong: string[] = [];
    const splitter = new LineSplitter(
      (line) => lines.push(line),
      1000,
      (sample) => overlong.push(sample),
    );
    const piece = "x".repeat(64 * KB);
    splitter.push("first\r\n");
    for (let i = 0; i < 512; i++) splitter.push(piece);
    splitter.push("\nlast");
    splitter.end();
    expect(lines).toEqual(["first", "last"]);
    expect(overlong).toEqual(["x".repeat(120)]);
  });

  it("keeps a line exactly at the cap, with or without its \\r, and splits lines across chunks", () => {
    const lines: string[] = [];
    const overlong: string[] = [];
    const splitter = new LineSplitter(
      (line) => lines.push(line),
      4,
      (sample) => overlong.push(sample),
    );
    for (const chunk of ["ab", "cd\r", "\nabcd\nabcde", "\r\n", "a", "b\r\nab"]) splitter.push(chunk);
    splitter.end();
    expect(lines).toEqual(["abcd", "abcd", "ab", "ab"]);
    expect(overlong.map((sample) => sample.trim())).toEqual(["abcde"]);
  });

  it("splits CSV quoting as before: a quote opens a field only at its start", () => {
    expect(splitCsvLine('a,"b,c", "d""e" ,x"y"')).toEqual(["a", "b,c", 'd"e', 'x"y"']);
    expect(splitCsvLine('"" "x"')).toEqual(["x"]);
  });
});

// Issue 21 item 5: STIX, TAXII and MISP bodies were read whole and parsed with one JSON.parse
// (a 94 MB bundle blocked the event loop for 11.7 s); they are now parsed as a stream.
describe("hostile JSON feeds (issue 21 item 5)", () => {
  const indicator = (ip: string) =>
    JSON.stringify({ type: "indicator", spec_version: "2.1", pattern: `[ipv4-addr:value = '${ip}']`, pattern_type: "stix" });
  const bundle = (objects: string[]) => `{"type":"bundle","id":"bundle--1","objects":[${objects.join(",")}]}\n`;
  const bodies: Array<{ name: string; text: string; listed: number }> = [
    {
      name: "40,000 indicators",
      text: bundle(Array.from({ length: 40_000 }, (_, i) => indicator(`46.${i >> 16}.${(i >> 8) & 255}.${i & 255}`))),
      listed: 40_000,
    },
    { name: "a 16 MB string", text: bundle([`{"type":"note","content":"${"a".repeat(16 * MB)}"}`, indicator("45.155.205.1")]), listed: 1 },
    {
      name: "an 8 MB pattern",
      text: bundle([JSON.stringify({ type: "indicator", pattern: `[${"a ".repeat(4 * MB)}]` }), indicator("45.155.205.1")]),
      listed: 1,
    },
    {
      name: "a million empty objects",
      text: bundle([...Array.from({ length: 1_000_000 }, () => "{}"), indicator("45.155.205.1")]),
      listed: 1,
    },
    {
      // The bundle and its objects array are two levels: each element nests to the cap of 64.
      name: "20,000 elements nested to the depth cap",
      text: bundle([...Array.from({ length: 20_000 }, () => `${"[".repeat(62)}${"]".repeat(62)}`), indicator("45.155.205.1")]),
      listed: 1,
    },
    {
      name: "one object of 200,000 keys",
      text: bundle([`{"type":"note",${Array.from({ length: 200_000 }, (_, i) => `"k${i}":${i}`).join(",")}}`, indicator("45.155.205.1")]),
      listed: 1,
    },
  ];
  for (const { name, text, listed } of bodies) {
    it(`reads a STIX bundle of ${name} as a stream, without a long stall`, { timeout: 60_000 }, async () => {
      const { sink, rows } = collector();
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      await readStixBundle(bytes(text), sink, Date.now(), () => sink.drain());
      await sink.drain(true);
      await new Promise((resolve) => setTimeout(resolve, 5));
      delay.disable();
      console.log(`stix, ${name}: longest event-loop stall ${(delay.max / 1e6).toFixed(1)} ms over ${(text.length / MB).toFixed(1)} MB`);
      expect(rows.filter((row) => !row.withdrawn)).toHaveLength(listed);
      if (name === "an 8 MB pattern") expect(sink.counts.invalid).toBe(1);
    });
  }

  it("reads a MISP event of 100,000 attributes as a stream, without a long stall", { timeout: 60_000 }, async () => {
    const { sink, rows } = collector();
    const attributes = Array.from({ length: 100_000 }, (_, i) =>
      JSON.stringify({ type: "ip-dst", value: `46.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, to_ids: true, deleted: false }),
    );
    const text = `{"Event":{"info":"x","Attribute":[${attributes.join(",")}],"Object":[]}}`;
    const body = bytes(text);
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    await readMispEvent(body, sink, () => sink.drain());
    await sink.drain(true);
    await new Promise((resolve) => setTimeout(resolve, 5));
    delay.disable();
    console.log(
      `misp event, 100,000 attributes: longest event-loop stall ${(delay.max / 1e6).toFixed(1)} ms over ${(text.length / MB).toFixed(1)} MB`,
    );
    expect(rows).toHaveLength(100_000);
    expect(sink.counts.listed).toBe(100_000);
  });

  it("splits pattern comparisons on OR in any case and refuses AND", () => {
    const or = parseStixPattern(
      "[ipv4-addr:value = '45.155.205.1' or ipv4-addr:value = '45.155.205.2'] OR [domain-name:value = 'evil.example']",
    );
    expect(or?.map((found) => found.value)).toEqual(["45.155.205.1", "45.155.205.2", "evil.example"]);
    expect(parseStixPattern("[ipv4-addr:value = '45.155.205.1' AND ipv4-addr:value = '45.155.205.2']")).toBeUndefined();
    expect(parseStixPattern("[ipv4-addr:value = 'a AND b']")?.map((found) => found.value)).toEqual(["a AND b"]);
  });

  it("fails a truncated, empty, trailing-garbage or too deeply nested JSON body, naming the document", async () => {
    const { sink } = collector();
    const deep = bundle([`${"[".repeat(1_000_000)}${"]".repeat(1_000_000)}`, indicator("45.155.205.1")]);
    await expect(readStixBundle(bytes(deep), sink, Date.now())).rejects.toThrow("the STIX bundle nests deeper than 64 levels");
    const whole = bundle([indicator("45.155.205.1")]);
    for (const text of [whole.slice(0, -5), "", `${whole}{}`]) {
      await expect(readStixBundle(bytes(text), sink, Date.now())).rejects.toThrow(/^the STIX bundle is not valid JSON$/);
    }
    await expect(readMispEvent(bytes('{"Event": {"Attribute": [}'), sink)).rejects.toThrow("a MISP event is not valid JSON");
  });

  it("reads a TAXII envelope's paging fields and a MISP manifest's event ids from the stream", async () => {
    const { sink, rows } = collector();
    const envelope = `{"more":true,"objects":[${indicator("45.155.205.1")}],"next":"p2"}`;
    expect(await readTaxiiEnvelope(bytes(envelope), sink, Date.now())).toEqual({ more: true, next: "p2" });
    await sink.drain(true);
    expect(rows.map((row) => row.value)).toEqual(["45.155.205.1"]);
    expect(await readMispManifest(bytes('{"a-1":{"info":"x"},"b-2":{"info":"y"}}'))).toEqual(["a-1", "b-2"]);
  });
});
