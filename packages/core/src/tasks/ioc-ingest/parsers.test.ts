import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Allowlist, BUILTIN_ALLOWLIST } from "./allowlist.ts";
import { Collector } from "./collector.ts";
import { type CsvMapping, type LineFormat, parseLinesText } from "./parsers.ts";
import { parseStixPattern, readMispEvent, readStixBundle } from "./stix.ts";
import type { Listed } from "./store.ts";

const fixture = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url), "utf8");
/** A fixture's bytes in 7-byte chunks, so every value is split across chunks. */
const bytes = (name: string): Uint8Array[] => {
  const all = Buffer.from(fixture(name));
  return Array.from({ length: Math.ceil(all.length / 7) }, (_, i) => all.subarray(i * 7, i * 7 + 7));
};
const NOW = Date.parse("2024-05-06T10:00:00Z");

function collector(options: { allowlist?: string[] } = {}) {
  const rows: Listed[] = [];
  const sink = new Collector({
    allowlist: new Allowlist(options.allowlist ?? BUILTIN_ALLOWLIST),
    minPrefixLength: { ipv4: 8, ipv6: 16 },
    batchSize: 1000,
    exampleLimit: 3,
    write: async (batch) => {
      rows.push(...batch);
    },
  });
  const values = async () => {
    await sink.drain(true);
    return rows
      .filter((row) => !row.withdrawn)
      .map((row) => `${row.kind} ${row.value}`)
      .sort();
  };
  return { sink, rows, values };
}

async function lines(format: LineFormat, file: string, csv?: CsvMapping) {
  const c = collector();
  parseLinesText(format, fixture(file), c.sink, csv);
  return { values: await c.values(), counts: c.sink.counts, examples: c.sink.examples };
}

describe("feed formats", () => {
  it("reads a plain list with # and ; comments, trailing comments and ipsum counts", async () => {
    const { values, counts, examples } = await lines("plain", "plain.fixture.txt");
    expect(values).toEqual(["domain evil-domain.example.net", "ipv4 185.220.101.4", "ipv4 45.155.205.233", "ipv4 91.240.118.172"]);
    expect(counts.invalid).toBe(1);
    expect(examples).toEqual(["this is not an indicator"]);
    expect(counts.allowlisted).toBe(1);
  });

  it("reads a FireHOL netset and refuses private and too-broad networks", async () => {
    const { values, counts } = await lines("firehol", "firehol.fixture.netset");
    expect(values).toEqual(["ipv4 1.10.16.0/20", "ipv4 31.24.81.0/24", "ipv4 45.143.203.3", "ipv4 5.134.128.0/19"]);
    expect(counts.allowlisted).toBe(1);
    expect(counts.tooBroad).toBe(1);
  });

  it("reads the Spamhaus DROP text list (CIDR ; SBL id)", async () => {
    const { values, counts } = await lines("spamhaus-drop", "spamhaus-drop.fixture.txt");
    expect(values).toEqual(["ipv4 1.10.16.0/20", "ipv4 1.19.0.0/16", "ipv4 2.56.192.0/22"]);
    expect(counts.invalid).toBe(0);
  });

  it("reads Spamhaus DROP JSON lines for IPv4 and IPv6 and skips the metadata line", async () => {
    const { values, counts } = await lines("spamhaus-drop-json", "spamhaus-drop.fixture.jsonl");
    expect(values).toEqual(["ipv4 1.10.16.0/20", "ipv4 1.19.0.0/16", "ipv6 2a06:e480::/29", "ipv6 2a07:3b80::/29"]);
    expect(counts.invalid).toBe(0);
  });

  it("reads an abuse.ch CSV export by the column named in its comment header", async () => {
    const { values, counts } = await lines("csv", "urlhaus.fixture.csv", { column: "url", kind: "url" });
    expect(values).toEqual(["url http://45.155.205.233:40123/i", "url https://malicious-host.example.org/payload.exe"]);
    expect(counts.invalid).toBe(1);
  });

  it("reads a CSV column by index", async () => {
    const { values } = await lines("csv", "feodo.fixture.csv", { column: 1, kind: "ip" });
    expect(values).toEqual(["ipv4 162.243.103.246", "ipv4 50.16.46.251"]);
  });

  it("reads a CSV column named on the first line", async () => {
    const c = collector();
    parseLinesText("csv", "ip;port\n45.143.203.3;80\n", c.sink, { column: "ip", delimiter: ";", header: "first-line" });
    expect(await c.values()).toEqual(["ipv4 45.143.203.3"]);
  });

  it("refangs MISP free text and finds the indicators in it", async () => {
    const { values, counts } = await lines("misp-freetext", "misp-freetext.fixture.txt");
    expect(values).toEqual([
      "domain update-cdn.example.net",
      "sha256 3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
      "url http://185.220.101.4:8080/gate.php",
      "url https://login-verify.example.com/session",
    ]);
    expect(counts.invalid).toBe(1);
  });

  it("reads a MISP CSV export, keeping only to_ids attributes of the types it knows", async () => {
    const { values } = await lines("misp-csv", "misp.fixture.csv");
    expect(values).toEqual([
      "domain c2-panel.example.org",
      "ipv4 45.143.203.3",
      "ipv4 91.240.118.172",
      "md5 44d88612fea8a8f36de82e1278abb02f",
    ]);
  });

  it("reads MISP feed events: detection attributes, objects included, deleted ones left out", async () => {
    const c = collector();
    await readMispEvent(bytes("misp-feed/6a0e5f7c-1a2b-4c3d-8e9f-0a1b2c3d4e5f.fixture.json"), c.sink);
    await readMispEvent(bytes("misp-feed/7b1f6a8d-2b3c-4d4e-9f0a-1b2c3d4e5f60.fixture.json"), c.sink);
    expect(await c.values()).toEqual([
      "domain botnet-c2.example.net",
      "domain second-stage.example.net",
      "ipv4 162.243.103.246",
      "ipv6 2a07:3b80::10",
      "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "url https://phish.example.org/login?x=1",
    ]);
  });

  it("reads a STIX 2.1 bundle: simple patterns, valid_until kept, revoked and expired withdrawn, complex patterns invalid", async () => {
    const c = collector();
    await readStixBundle(bytes("stix-bundle.fixture.json"), c.sink, NOW);
    expect(await c.values()).toEqual([
      "domain stix-c2.example.com",
      "ipv4 45.155.205.0/24",
      "md5 44d88612fea8a8f36de82e1278abb02f",
      "sha256 aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f",
      "url http://stix-c2.example.com/beacon",
    ]);
    expect(c.rows.find((row) => row.kind === "domain")?.validUntil).toBe(Date.parse("2030-01-01T00:00:00Z"));
    expect(c.sink.counts.withdrawn).toBe(2);
    expect(c.sink.counts.invalid).toBe(2);
  });

  it("stages withdrawn STIX indicators flagged, so the feed's earlier listings of them go", async () => {
    const c = collector();
    await readStixBundle(bytes("stix-bundle.fixture.json"), c.sink, NOW);
    await c.values();
    expect(c.rows.filter((row) => row.withdrawn).map((row) => row.value)).toEqual(["2a06:e480::1", "expired.example.com"]);
  });
});

describe("STIX patterns", () => {
  it("takes escaped quotes inside values", () => {
    expect(parseStixPattern("[url:value = 'http://a.example/it\\'s']")).toEqual([{ value: "http://a.example/it's", hint: "url" }]);
  });

  it("refuses operators other than = and qualifiers", () => {
    expect(parseStixPattern("[ipv4-addr:value != '1.2.3.4']")).toBeUndefined();
    expect(parseStixPattern("[domain-name:value MATCHES '^a']")).toBeUndefined();
    expect(parseStixPattern("[ipv4-addr:value = '1.2.3.4'] WITHIN 300 SECONDS")).toBeUndefined();
    expect(parseStixPattern("[ipv4-addr:value = '1.2.3.4'] OR")).toBeUndefined();
  });
});
