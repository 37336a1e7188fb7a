import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import {
  ConfigError,
  createMatcher,
  type FeedOptions,
  type IocIngestOptions,
  type IocIngestResult,
  iocCheck,
  iocIngestTask,
  iocStats,
  type Logger,
  MIGRATIONS,
  manualAdapter,
  migrate,
  registerTasks,
  type TaskEvent,
} from "@upkeep/core";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

const FIXTURES = new URL("../../packages/core/src/tasks/ioc-ingest/fixtures/", import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES), "utf8");
const SECRET = "sk_feed_9f8e7d6c5b4a";
const HOUR = 3_600_000;

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;
const routes = new Map<string, Handler>();
const seen: Array<{ path: string; headers: IncomingMessage["headers"]; query: string }> = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    seen.push({ path: url.pathname, headers: req.headers, query: url.search });
    const handler = routes.get(url.pathname);
    if (handler) handler(req, res, url);
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.IOC_TEST_FEED_KEY = SECRET;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

let paths = 0;
/** Serves `body()` at a fresh path with an ETag; a matching If-None-Match gets a 304. */
function serveList(body: () => string, options: { gzip?: "encoding" | "file" } = {}): string {
  const path = `/list-${++paths}`;
  routes.set(path, (req, res) => {
    const text = body();
    const etag = `"${Buffer.from(text).toString("base64url").slice(-16)}-${text.length}"`;
    if (req.headers["if-none-match"] === etag) {
      res.statusCode = 304;
      res.end();
      return;
    }
    res.setHeader("etag", etag);
    if (options.gzip === "encoding") {
      res.setHeader("content-encoding", "gzip");
      res.end(gzipSync(text));
    } else if (options.gzip === "file") {
      res.setHeader("content-type", "application/gzip");
      res.end(gzipSync(text));
    } else res.end(text);
  });
  return `${base}${path}`;
}

function route(handler: Handler): string {
  const path = `/route-${++paths}`;
  routes.set(path, handler);
  return `${base}${path}`;
}

/** The migrations up to and including `name`. */
const migrationsUpTo = (name: string) => MIGRATIONS.slice(0, MIGRATIONS.findIndex((m) => m.name === name) + 1);
/** A listing row with its integer columns as numbers (PostgreSQL returns bigint as a string). */
const numbers = (row: Record<string, unknown>) => ({
  ...row,
  confidence: Number(row.confidence),
  first_seen: Number(row.first_seen),
  last_seen: Number(row.last_seen),
  valid_until: row.valid_until === null ? null : Number(row.valid_until),
});

const feed = (name: string, url: string, extra: Partial<FeedOptions> = {}): FeedOptions => ({
  name,
  url,
  format: "plain",
  allowHttp: true,
  ttl: "1d",
  ...extra,
});

/** A feed that always lists `evil.example`, so a run with one failing feed still succeeds. */
const steadyFeed = () =>
  feed(
    "steady",
    serveList(() => "evil.example\n"),
  );

/** The ConfigError registering `task` throws. */
function registrationError(task: ReturnType<typeof iocIngestTask>): Error {
  let error: unknown;
  try {
    registerTasks(manualAdapter(), { tasks: [task] });
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(ConfigError);
  return error as Error;
}

describe("ioc-ingest options", () => {
  it("names the field path of a plain http URL and of a csv feed without a mapping, never the value", () => {
    const task = iocIngestTask({
      feeds: [
        { name: "a", url: "http://feeds.example/list?key=hunter2", format: "plain" },
        { name: "b", url: "https://feeds.example/x.csv", format: "csv" },
      ],
    });
    const error = registrationError(task);
    const message = error.message;
    expect(message).toContain("tasks.ioc-ingest.input.feeds.0.url");
    expect(message).toContain("tasks.ioc-ingest.input.feeds.1.csv");
    expect(message).not.toContain("hunter2");
  });

  it("refuses a header value with CR or LF at registration, naming the header, never the value (issue 21)", () => {
    const task = iocIngestTask({
      feeds: [{ name: "a", url: "https://feeds.example/list", format: "plain", headers: { "X-Api-Key": "hunter2\r\nx-evil: 1" } }],
    });
    const error = registrationError(task);
    const message = error.message;
    expect(message).toContain("tasks.ioc-ingest.input.feeds.0.headers.X-Api-Key");
    expect(message).not.toContain("hunter2");
    expect(JSON.stringify(error.cause ?? null)).not.toContain("hunter2");
  });

  it("refuses duplicate feed names and a bad allowlist entry", () => {
    const task = iocIngestTask({
      feeds: [feed("a", "https://x.example/a"), feed("a", "https://x.example/b")],
      allowlist: { entries: ["not an entry!"] },
    });
    expect(() => registerTasks(manualAdapter(), { tasks: [task] })).toThrow(
      /feeds\.1\.name[\s\S]*allowlist\.entries\.0|allowlist\.entries\.0[\s\S]*feeds\.1\.name/,
    );
  });
});

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`ioc-ingest on ${dialect}`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
    });
    afterAll(async () => {
      await database?.destroy();
    });

    it("migration 0005 keeps existing listing rows and keys them by indicator and feed", async () => {
      const prefix = "mig5_";
      const upTo0004 = migrationsUpTo("0004_ioc");
      await migrate(database.knex, prefix, upTo0004);
      const row = { feed: "a", kind: "ipv4", value: "198.51.100.7", confidence: 50, first_seen: 1, last_seen: 2, valid_until: null };
      await database.knex(`${prefix}indicator_feeds`).insert(row);
      expect(await migrate(database.knex, prefix, migrationsUpTo("0005_ioc_listing_key"))).toContain("0005_ioc_listing_key");
      const kept = await database.knex(`${prefix}indicator_feeds`).select("feed", "kind", "value", "confidence");
      expect(kept).toEqual([{ feed: "a", kind: "ipv4", value: row.value, confidence: 50 }]);
      await expect(database.knex(`${prefix}indicator_feeds`).insert(row)).rejects.toThrow();
      await database.knex(`${prefix}indicator_feeds`).insert({ ...row, feed: "b" });
      const listed = await database
        .knex(`${prefix}indicator_feeds`)
        .where({ kind: "ipv4", value: row.value })
        .orderBy("feed")
        .pluck("feed");
      expect(listed).toEqual(["a", "b"]);
    });

    it("migration 0006 keys listings by indicator id and keeps every row up, down and up again", async () => {
      const prefix = "mig6_";
      const knex = database.knex;
      await migrate(knex, prefix, migrationsUpTo("0005_ioc_listing_key"));
      const indicators = [
        { kind: "ipv4", value: "198.51.100.7", feeds: "a,b", confidence: 80, first_seen: 1, last_seen: 5 },
        { kind: "domain", value: "evil.example", feeds: "a", confidence: 50, first_seen: 2, last_seen: 3 },
      ];
      await knex(`${prefix}indicators`).insert(indicators);
      const listings = [
        { feed: "a", kind: "ipv4", value: "198.51.100.7", confidence: 50, first_seen: 1, last_seen: 4, valid_until: null },
        { feed: "b", kind: "ipv4", value: "198.51.100.7", confidence: 80, first_seen: 3, last_seen: 5, valid_until: 9 },
        { feed: "a", kind: "domain", value: "evil.example", confidence: 50, first_seen: 2, last_seen: 3, valid_until: null },
      ];
      await knex(`${prefix}indicator_feeds`).insert(listings);
      const ids = new Map((await knex(`${prefix}indicators`).select("id", "value")).map((row) => [String(row.value), Number(row.id)]));
      const byValue = async () =>
        (
          await knex(`${prefix}indicator_feeds as s`)
            .join(`${prefix}indicators as i`, "i.id", "s.indicator_id")
            .select("s.feed", "i.kind", "i.value", "s.confidence", "s.first_seen", "s.last_seen", "s.valid_until")
            .orderBy([{ column: "i.value" }, { column: "s.feed" }])
        ).map(numbers);
      const expected = [...listings].sort((x, y) => x.value.localeCompare(y.value) || x.feed.localeCompare(y.feed));
      const byKindValue = async () =>
        (
          await knex(`${prefix}indicator_feeds`)
            .select("feed", "kind", "value", "confidence", "first_seen", "last_seen", "valid_until")
            .orderBy([{ column: "value" }, { column: "feed" }])
        ).map(numbers);

      expect(await migrate(knex, prefix)).toContain("0006_ioc_listing_by_id");
      expect(await knex.schema.hasColumn(`${prefix}indicator_feeds`, "value")).toBe(false);
      if (dialect === "sqlite") {
        const ddl = await knex("sqlite_master")
          .where({ type: "table", name: `${prefix}indicator_feeds` })
          .first("sql");
        expect(String(ddl?.sql)).toMatch(/without rowid$/i);
      }
      expect(await byValue()).toEqual(expected);
      const stored = await knex(`${prefix}indicator_feeds`).where({ feed: "b" }).first();
      expect(Number(stored?.indicator_id)).toBe(ids.get("198.51.100.7"));
      const duplicate = { indicator_id: ids.get("evil.example"), feed: "a", confidence: 1, first_seen: 1, last_seen: 1 };
      await expect(knex(`${prefix}indicator_feeds`).insert(duplicate)).rejects.toThrow();
      // The expiry index survives the rebuild under its name.
      const index = `${prefix}indicator_feeds_feed_seen`;
      await expect(
        knex.schema.alterTable(`${prefix}indicator_feeds`, (t) => t.dropIndex(["feed", "last_seen"], index)),
      ).resolves.not.toThrow();
      await knex.schema.alterTable(`${prefix}indicator_feeds`, (t) => t.index(["feed", "last_seen"], index));

      const step = (name: string) => MIGRATIONS.find((m) => m.name === name) as (typeof MIGRATIONS)[number];
      await step("0006_ioc_listing_by_id").down(knex, prefix);
      expect(await byKindValue()).toEqual(expected);
      // 0005's own down step still finds the key it expects (its name on PostgreSQL) and keeps the rows.
      await step("0005_ioc_listing_key").down(knex, prefix);
      expect(await byKindValue()).toEqual(expected);
      await step("0005_ioc_listing_key").up(knex, prefix);
      await step("0006_ioc_listing_by_id").up(knex, prefix);
      expect(await byValue()).toEqual(expected);
    });

    let prefixes = 0;
    function host(options: Omit<IocIngestOptions, "tablePrefix">, prefix = `i${++prefixes}_`) {
      let now = Date.parse("2026-03-01T00:10:00Z");
      const logs: string[] = [];
      const events: TaskEvent[] = [];
      const record = (level: string) => (fields: Record<string, unknown>, msg: string) => {
        logs.push(
          JSON.stringify({ level, msg, ...fields }, (_k, v: unknown) => (v instanceof Error ? { message: v.message, stack: v.stack } : v)),
        );
      };
      const logger: Logger = { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") };
      const upkeep = registerTasks(manualAdapter(), {
        db: database.knex,
        tablePrefix: prefix,
        logger,
        clock: () => new Date(now),
        tasks: [iocIngestTask({ ...options, tablePrefix: prefix })],
        on: { event: ({ event }) => void events.push(event) },
      });
      return {
        prefix,
        logs,
        events,
        advance: (ms: number) => {
          now += ms;
        },
        async run(dryRun = false) {
          const run = await upkeep.run("ioc-ingest", { dryRun });
          return { run, result: run.result as IocIngestResult };
        },
        indicators: async () =>
          (
            await database
              .knex(`${prefix}indicators`)
              .select("kind", "value", "feeds", "confidence", "first_seen", "last_seen")
              .orderBy("value")
          ).map((row) => ({ ...row, first_seen: Number(row.first_seen), last_seen: Number(row.last_seen) })),
        values: async () => (await database.knex(`${prefix}indicators`).select("value").orderBy("value")).map((row) => String(row.value)),
        feedRow: async (name: string) => database.knex(`${prefix}feeds`).where({ name }).first(),
      };
    }

    it("stores normalised indicators with their feeds, confidence and times, counting invalid lines", async () => {
      const url = serveList(() => "# list\n45.155.205.233\t3\n10.0.0.1\nEVIL.example.\nnot valid at all\n045.143.203.003\n2a06:E480::1\n");
      const h = host({ feeds: [feed("alpha", url, { confidence: 80 })] });
      const { run, result } = await h.run();
      expect(run.status).toBe("succeeded");
      expect(result.feeds[0]).toMatchObject({ name: "alpha", status: "updated", listed: 4, invalid: 1, allowlisted: 1 });
      expect(result.feeds[0]?.invalidExamples).toEqual(["not valid at all"]);
      const rows = await h.indicators();
      expect(rows.map((row) => `${row.kind} ${row.value}`)).toEqual([
        "ipv6 2a06:e480::1",
        "ipv4 45.143.203.3",
        "ipv4 45.155.205.233",
        "domain evil.example",
      ]);
      expect(
        rows.every((row) => row.feeds === "alpha" && row.confidence === 80 && row.first_seen === Date.parse("2026-03-01T00:10:00Z")),
      ).toBe(true);
    });

    it("sends env-sourced headers and never writes their values to logs, events, results or the database", async () => {
      const url = serveList(() => "45.155.205.233\n");
      const failing = route((_req, res) => {
        res.statusCode = 500;
        res.end("boom");
      });
      const h = host({
        feeds: [
          feed("keyed", url, { headers: { "Auth-Key": { env: "IOC_TEST_FEED_KEY" } } }),
          feed("keyed-failing", `${failing}?key=${SECRET}`, { headers: { "Auth-Key": { env: "IOC_TEST_FEED_KEY" } } }),
          feed("optional", url, { headers: { "Auth-Key": { env: "IOC_TEST_UNSET_KEY", optional: true } } }),
          feed("required", url, { headers: { "Auth-Key": { env: "IOC_TEST_UNSET_KEY" } } }),
        ],
      });
      const { run, result } = await h.run();
      expect(seen.find((request) => request.path === new URL(url).pathname && request.headers["auth-key"] === SECRET)).toBeDefined();
      expect(result.feeds.map((report) => report.status)).toEqual(["updated", "failed", "updated", "failed"]);
      expect(result.feeds[3]?.error).toBe("header Auth-Key: environment variable IOC_TEST_UNSET_KEY is not set");
      const stored = JSON.stringify(await database.knex(`${h.prefix}feeds`).select("*"));
      for (const text of [JSON.stringify(run), JSON.stringify(h.events), h.logs.join("\n"), stored]) expect(text).not.toContain(SECRET);
    });

    it("makes a conditional request; a 304 changes nothing but the check time", async () => {
      const url = serveList(() => "45.155.205.233\nevil.example\n");
      const h = host({ feeds: [feed("etag", url)] });
      await h.run();
      const before = await h.indicators();
      const firstFeed = await h.feedRow("etag");
      h.advance(HOUR);
      const { result } = await h.run();
      expect(result.feeds[0]?.status).toBe("not_modified");
      expect(seen.at(-1)?.headers["if-none-match"]).toBe(firstFeed.etag);
      expect(await h.indicators()).toEqual(before);
      const after = await h.feedRow("etag");
      expect(Number(after.checked_at)).toBe(Number(firstFeed.checked_at) + HOUR);
      expect({ ...after, checked_at: null, status: null }).toEqual({ ...firstFeed, checked_at: null, status: null });
    });

    it("reads gzip by Content-Encoding and a gzip file body", async () => {
      const h = host({
        feeds: [
          feed(
            "enc",
            serveList(() => "45.155.205.233\n", { gzip: "encoding" }),
          ),
          feed(
            "gz",
            serveList(() => "evil.example\n", { gzip: "file" }),
          ),
        ],
      });
      const { result } = await h.run();
      expect(result.feeds.map((report) => report.listed)).toEqual([1, 1]);
      expect(await h.values()).toEqual(["45.155.205.233", "evil.example"]);
    });

    it("keeps a feed's previous indicators when it later fails: 500, size cap, timeout", async () => {
      let mode: "ok" | "500" | "big" | "hang" = "ok";
      const url = route((_req, res) => {
        if (mode === "500") {
          res.statusCode = 500;
          res.end();
        } else if (mode === "big") res.end(`${"45.155.205.233\n".repeat(1000)}`);
        else if (mode === "hang") res.write("45.155.205.233\n");
        else res.end("45.155.205.233\nevil.example\n");
      });
      const h = host({ feeds: [feed("flaky", url, { maxBytes: 4096, timeout: 300, ttl: "1h" })] });
      await h.run();
      const expected = ["45.155.205.233", "evil.example"];
      for (const [next, error] of [
        ["500", "HTTP 500"],
        ["big", "body exceeds the size cap of 4096 bytes"],
        ["hang", "timed out after 300 ms"],
      ] as const) {
        mode = next;
        h.advance(2 * HOUR);
        const { run } = await h.run();
        expect(run.status, next).toBe("failed");
        expect(run.errorMessage).toContain(error);
        expect(await h.values()).toEqual(expected);
        expect((await h.feedRow("flaky")).status).toBe("failed");
      }
    });

    it("holds a feed that shrank by more than maxShrink and reports it", async () => {
      let body = Array.from({ length: 10 }, (_, i) => `45.155.205.${i + 1}`).join("\n");
      const h = host({
        feeds: [
          feed(
            "shrinky",
            serveList(() => body),
            { ttl: "1h" },
          ),
          feed(
            "steady",
            serveList(() => "evil.example\n"),
          ),
        ],
      });
      await h.run();
      body = "45.155.205.1\n45.155.205.2\n";
      h.advance(2 * HOUR);
      const { run, result } = await h.run();
      expect(run.status).toBe("succeeded");
      expect(result.held).toEqual(["shrinky"]);
      expect(result.feeds[0]).toMatchObject({ status: "shrunk", listed: 2, error: "listed 2, down from 10" });
      expect(h.events.some((event) => event.type === "ioc.feed_held" && event.data?.feed === "shrinky")).toBe(true);
      expect((await h.values()).filter((value) => value.startsWith("45."))).toHaveLength(10);
    });

    it("expires an indicator once no feed has listed it within that feed's TTL", async () => {
      let a = "45.155.205.1\n45.155.205.2\nshared.example\n";
      const h = host({
        feeds: [
          feed(
            "a",
            serveList(() => a),
            { ttl: "2h", confidence: 90 },
          ),
          feed(
            "b",
            serveList(() => "shared.example\n"),
            { ttl: "1d", confidence: 40 },
          ),
        ],
        maxShrink: 1,
      });
      await h.run();
      expect((await h.indicators()).find((row) => row.value === "shared.example")).toMatchObject({ feeds: "a,b", confidence: 90 });
      a = "45.155.205.1\n";
      h.advance(HOUR);
      await h.run();
      expect(await h.values()).toContain("45.155.205.2");
      h.advance(2 * HOUR);
      const { result } = await h.run();
      expect(result.expired).toEqual({ listings: 2, indicators: 1 });
      expect(await h.values()).toEqual(["45.155.205.1", "shared.example"]);
      expect((await h.indicators()).find((row) => row.value === "shared.example")).toMatchObject({ feeds: "b", confidence: 40 });
    });

    it("keeps everything a 304 feed still lists past its TTL, and expires a removed feed's indicators by its stored TTL", async () => {
      const url = serveList(() => "45.155.205.1\n");
      const h = host({ feeds: [feed("stable", url, { ttl: "1h" })] });
      await h.run();
      h.advance(5 * HOUR);
      expect((await h.run()).result.feeds[0]?.status).toBe("not_modified");
      expect(await h.values()).toEqual(["45.155.205.1"]);

      const later = registerTasks(manualAdapter(), {
        db: database.knex,
        tablePrefix: h.prefix,
        logger: { debug() {}, info() {}, warn() {}, error() {} },
        clock: () => new Date(Date.parse("2026-03-01T00:10:00Z") + 7 * HOUR),
        tasks: [
          iocIngestTask({
            tablePrefix: h.prefix,
            feeds: [
              feed(
                "other",
                serveList(() => "evil.example\n"),
              ),
            ],
          }),
        ],
      });
      const run = await later.run("ioc-ingest");
      expect((run.result as IocIngestResult).expired).toEqual({ listings: 1, indicators: 1 });
      expect(await h.values()).toEqual(["evil.example"]);
      expect(await h.feedRow("stable")).toBeUndefined();
    });

    it("refuses allowlisted and too-broad entries, including the host's own", async () => {
      const h = host({
        feeds: [
          feed(
            "noisy",
            serveList(() => "8.8.8.8\n192.168.1.1\n1.0.0.0/4\n2a06::/12\nintranet.corp.example\n45.155.205.233\n"),
          ),
        ],
        allowlist: { entries: ["corp.example"] },
      });
      const { result } = await h.run();
      expect(result.feeds[0]).toMatchObject({ listed: 1, allowlisted: 3, tooBroad: 2 });
      expect(await h.values()).toEqual(["45.155.205.233"]);
    });

    it("pages a TAXII 2.1 collection and resumes from the stored added_after cursor", async () => {
      const stix = (id: number, ip: string) => ({
        type: "indicator",
        spec_version: "2.1",
        id: `indicator--00000000-0000-4000-8000-00000000000${id}`,
        pattern: `[ipv4-addr:value = '${ip}']`,
        pattern_type: "stix",
        valid_from: "2026-01-01T00:00:00Z",
      });
      const url = route((req, res, query) => {
        expect(req.headers.accept).toBe("application/taxii+json;version=2.1");
        res.setHeader("content-type", "application/taxii+json;version=2.1");
        const after = query.searchParams.get("added_after");
        if (after === "2026-02-01T00:00:02.000Z") {
          res.setHeader("x-taxii-date-added-last", "2026-02-01T00:00:03.000Z");
          res.end(JSON.stringify({ more: false, objects: [{ ...stix(3, "45.155.205.1"), revoked: true }, stix(4, "45.155.205.4")] }));
        } else if (query.searchParams.get("next") === "p2") {
          res.setHeader("x-taxii-date-added-last", "2026-02-01T00:00:02.000Z");
          res.end(JSON.stringify({ more: false, objects: [stix(2, "45.155.205.2")] }));
        } else {
          res.setHeader("x-taxii-date-added-last", "2026-02-01T00:00:01.000Z");
          res.end(JSON.stringify({ more: true, next: "p2", objects: [stix(1, "45.155.205.1")] }));
        }
      });
      const h = host({ feeds: [feed("taxii", url, { format: "taxii", taxii: { limit: 1 } })] });
      await h.run();
      expect(await h.values()).toEqual(["45.155.205.1", "45.155.205.2"]);
      expect((await h.feedRow("taxii")).cursor).toBe("2026-02-01T00:00:02.000Z");
      h.advance(HOUR);
      await h.run();
      expect(await h.values()).toEqual(["45.155.205.2", "45.155.205.4"]);
      expect((await h.feedRow("taxii")).cursor).toBe("2026-02-01T00:00:03.000Z");
    });

    it("reads a MISP feed over HTTP, a STIX bundle and a CSV export from file: URLs", async () => {
      for (const name of ["manifest", "6a0e5f7c-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "7b1f6a8d-2b3c-4d4e-9f0a-1b2c3d4e5f60"]) {
        routes.set(`/misp/${name}.json`, (_req, res) => res.end(fixture(`misp-feed/${name}.fixture.json`)));
      }
      const csvFile = join(tmpdir(), `upkeep-ioc-${Date.now()}.csv`);
      writeFileSync(csvFile, fixture("feodo.fixture.csv"));
      const h = host({
        feeds: [
          feed("misp", `${base}/misp/`, { format: "misp-feed" }),
          feed("stix", pathToFileURL(new URL("stix-bundle.fixture.json", FIXTURES).pathname).href, { format: "stix" }),
          feed("feodo", pathToFileURL(csvFile).href, { format: "csv", csv: { column: "dst_ip", kind: "ip" } }),
        ],
      });
      const { result } = await h.run();
      expect(result.feeds.map((report) => [report.name, report.status, report.listed])).toEqual([
        ["misp", "updated", 6],
        ["stix", "updated", 5],
        ["feodo", "updated", 2],
      ]);
      const rows = await h.indicators();
      expect(rows.find((row) => row.value === "162.243.103.246")?.feeds).toBe("misp,feodo");
      h.advance(HOUR);
      expect((await h.run()).result.feeds.map((report) => report.status)).toEqual(["updated", "not_modified", "not_modified"]);
    });

    it("changes nothing in a dry run and says so", async () => {
      const h = host({
        feeds: [
          feed(
            "dry",
            serveList(() => "45.155.205.233\n"),
          ),
        ],
      });
      const { result } = await h.run(true);
      expect(result).toMatchObject({ dryRun: true, feeds: [{ status: "updated", listed: 1 }] });
      expect(await h.values()).toEqual([]);
      expect(await h.feedRow("dry")).toBeUndefined();
    });

    it("refreshes a matcher after an ingest in the same process and by polling from another", async () => {
      let body = "45.155.205.0/24\n";
      const h = host({
        feeds: [
          feed(
            "live",
            serveList(() => body),
            { confidence: 70 },
          ),
        ],
      });
      await h.run();
      const local = await createMatcher({ db: database.knex, tablePrefix: h.prefix, pollInterval: 0 });
      const other = database.connect();
      const remote = await createMatcher({ db: other, tablePrefix: h.prefix, pollInterval: 0 });
      expect(local.match("45.155.205.9")).toMatchObject({ value: "45.155.205.0/24", feeds: ["live"], confidence: 70 });
      body = "45.155.205.0/24\n45.155.205.9\nevil.example\n";
      h.advance(HOUR);
      await h.run();
      await vi.waitFor(() => expect(local.match("45.155.205.9")?.value).toBe("45.155.205.9"));
      expect(local.match("cdn.EVIL.example")?.value).toBe("evil.example");
      expect(remote.match("45.155.205.9")?.value).toBe("45.155.205.0/24");
      expect(await remote.refresh()).toBe(true);
      expect(remote.match("45.155.205.9")?.value).toBe("45.155.205.9");
      expect(await remote.refresh()).toBe(false);
      local.close();
      remote.close();
    });

    it("leaves nothing of a capped, timed-out or shrunk download visible, to the tables or a matcher (issue 21 item 3)", async () => {
      let mode: "ok" | "big" | "hang" | "shrunk" = "ok";
      const fresh = Array.from({ length: 5000 }, (_, i) => `46.${Math.floor(i / 250)}.${i % 250}.1`).join("\n");
      const url = route((_req, res) => {
        if (mode === "big") res.end(`${fresh}\n`);
        else if (mode === "hang") res.write(`${fresh.slice(0, 24_000)}\n`);
        else if (mode === "shrunk") res.end("45.155.205.1\n47.1.1.1\n");
        else res.end(`${Array.from({ length: 10 }, (_, i) => `45.155.205.${i + 1}`).join("\n")}\n`);
      });
      const h = host({ feeds: [feed("atomic", url, { maxBytes: 40_000, timeout: 1000, ttl: "1h" }), steadyFeed()], batchSize: 100 });
      await h.run();
      const before = await h.values();
      const version = Number((await h.feedRow("atomic")).version);
      for (const next of ["big", "hang", "shrunk"] as const) {
        mode = next;
        h.advance(2 * HOUR);
        const { result } = await h.run();
        expect(result.feeds[0]?.status, next).toBe(next === "shrunk" ? "shrunk" : "failed");
        expect(await h.values(), next).toEqual(before);
        expect(Number((await h.feedRow("atomic")).version), next).toBe(version);
        expect(Number((await database.knex(`${h.prefix}indicator_staging`).count({ n: "*" }).first())?.n), next).toBe(0);
      }
      const matcher = await createMatcher({ db: database.knex, tablePrefix: h.prefix, pollInterval: 0 });
      expect(matcher.match("46.0.0.1")).toBeUndefined();
      expect(matcher.match("47.1.1.1")).toBeUndefined();
      expect(matcher.match("45.155.205.7")?.value).toBe("45.155.205.7");
      matcher.close();
    });

    it("counts distinct indicators: a repeated network lists once, also across batches (issue 21 item 8)", async () => {
      const repeated = Array.from({ length: 5 }, () => "45.155.205.0/24 ; SBL000001").join("\n");
      const h = host({
        feeds: [
          feed(
            "drop",
            serveList(() => `${repeated}\n45.155.206.0/24\n${repeated}\n`),
            { format: "spamhaus-drop" },
          ),
        ],
        batchSize: 1,
      });
      const { result } = await h.run();
      expect(result.feeds[0]).toMatchObject({ status: "updated", listed: 2 });
      expect(Number((await h.feedRow("drop")).listed)).toBe(2);
      expect(await h.values()).toEqual(["45.155.205.0/24", "45.155.206.0/24"]);
    });

    it("removes withdrawn and expired STIX indicators at once without tripping the shrink guard, and honours valid_until while failing (issue 21 item 7)", async () => {
      const indicator = (n: number, extra: Record<string, unknown> = {}) => ({
        type: "indicator",
        spec_version: "2.1",
        id: `indicator--00000000-0000-4000-8000-0000000000${String(n).padStart(2, "0")}`,
        created: "2026-01-01T00:00:00.000Z",
        modified: "2026-01-01T00:00:00.000Z",
        pattern: `[ipv4-addr:value = '45.155.205.${n}']`,
        pattern_type: "stix",
        valid_from: "2026-01-01T00:00:00Z",
        ...extra,
      });
      let objects: unknown[] = Array.from({ length: 10 }, (_, i) => indicator(i + 1));
      let failing = false;
      const url = route((_req, res) => {
        if (failing) {
          res.statusCode = 503;
          res.end();
          return;
        }
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ type: "bundle", id: "bundle--00000000-0000-4000-8000-000000000001", objects }));
      });
      const h = host({ feeds: [feed("stix", url, { format: "stix", ttl: "30d" }), steadyFeed()], maxShrink: 0.2 });
      await h.run();
      expect(await h.values()).toHaveLength(11);
      // Six revoked, one past its valid_until, three still valid (one until tomorrow).
      objects = [
        ...Array.from({ length: 6 }, (_, i) => indicator(i + 1, { revoked: true })),
        indicator(7, { valid_until: "2026-02-01T00:00:00Z" }),
        indicator(8),
        indicator(9),
        indicator(10, { valid_until: "2026-03-02T00:00:00Z" }),
      ];
      h.advance(HOUR);
      const { result } = await h.run();
      expect(result.held).toEqual([]);
      expect(result.feeds[0]).toMatchObject({ status: "updated", listed: 3, withdrawn: 7 });
      expect(result.expired).toEqual({ listings: 7, indicators: 7 });
      expect(await h.values()).toEqual(["45.155.205.10", "45.155.205.8", "45.155.205.9", "evil.example"]);
      failing = true;
      h.advance(2 * 24 * HOUR);
      const held = await h.run();
      expect(held.result.held).toEqual(["stix"]);
      expect(held.result.expired).toEqual({ listings: 1, indicators: 1 });
      expect(await h.values()).toEqual(["45.155.205.8", "45.155.205.9", "evil.example"]);
    });

    it("dry run reports exactly what the real run then does, and changes nothing (issue 21 item 9)", async () => {
      let a = "45.155.205.1\n45.155.205.2\nshared.example\n";
      const [aUrl, bUrl] = [serveList(() => a), serveList(() => "shared.example\n")];
      const h = host({ feeds: [feed("a", aUrl, { ttl: "2h" }), feed("b", bUrl)], maxShrink: 1 });
      await h.run();
      a = "45.155.205.1\n45.155.205.3\n";
      h.advance(3 * HOUR);
      const before = await h.indicators();
      const feedsBefore = await database.knex(`${h.prefix}feeds`).select("*").orderBy("name");
      const dry = await h.run(true);
      expect(await h.indicators()).toEqual(before);
      expect(await database.knex(`${h.prefix}feeds`).select("*").orderBy("name")).toEqual(feedsBefore);
      expect(Number((await database.knex(`${h.prefix}indicator_staging`).count({ n: "*" }).first())?.n)).toBe(0);
      const real = await h.run();
      expect(real.result.expired).toEqual({ listings: 2, indicators: 1 });
      expect(dry.result).toEqual({ ...real.result, dryRun: true });
    });

    it("createMatcher on an unmigrated database says to run upkeep migrate (issue 21 item 11)", async () => {
      const error = await createMatcher({ db: database.knex, tablePrefix: "never_migrated_", pollInterval: 0 }).catch(
        (caught: unknown) => caught,
      );
      expect(error).toMatchObject({ code: "STORE_FAILED" });
      expect((error as Error).message).toMatch(/^\[upkeep\] ioc matcher: .*never_migrated_indicators.*run `upkeep migrate`/);
    });

    it("answers ioc check and ioc stats", async () => {
      const h = host({
        feeds: [
          feed(
            "one",
            serveList(() => "45.155.205.0/24\n"),
          ),
          feed(
            "two",
            serveList(() => "45.155.205.0/24\nevil.example\n"),
          ),
        ],
      });
      await h.run();
      const check = await iocCheck(database.knex, "45.155.205.77", { tablePrefix: h.prefix });
      expect(check).toMatchObject({
        listed: true,
        normalised: { kind: "ipv4", value: "45.155.205.77" },
        match: { value: "45.155.205.0/24" },
      });
      expect(check.feeds.map((entry) => entry.feed)).toEqual(["one", "two"]);
      expect(check.feeds[0]?.firstSeen.toISOString()).toBe("2026-03-01T00:10:00.000Z");
      expect((await iocCheck(database.knex, "45.155.206.1", { tablePrefix: h.prefix })).listed).toBe(false);
      const stats = await iocStats(database.knex, { tablePrefix: h.prefix });
      expect(stats).toMatchObject({ total: 2, indicators: { ipv4: 1, domain: 1 } });
      expect(stats.feeds.map((entry) => [entry.name, entry.status, entry.listing])).toEqual([
        ["one", "ok", 1],
        ["two", "ok", 2],
      ]);
    });
  });
}
