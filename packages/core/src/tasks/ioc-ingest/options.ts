import * as z from "zod";
import { type Duration, durationMs } from "../../duration.ts";
import { isSendableHeaderValue, urlProblem } from "./fetch.ts";
import { type KindHint, normalise } from "./normalise.ts";
import { type CsvMapping, DEFAULT_MAX_LINE_LENGTH, FEED_FORMATS, type FeedFormat } from "./parsers.ts";

/** A header value: literal, or read from an environment variable at fetch time (never logged). */
export type HeaderValue =
  | string
  | {
      /** The environment variable holding the value. */
      env: string;
      /** Send no header when the variable is unset, instead of failing the feed. @default false */
      optional?: boolean;
    };

/** One threat-intelligence feed. */
export interface FeedOptions {
  /** Unique, lower-case: letters, digits, `.`, `_`, `-`; at most 64 characters. Stored with each indicator. */
  name: string;
  /** `https:` (or `http:` with `allowHttp`), or `file:` for a local list. For `taxii`, the collection's objects endpoint; for `misp-feed`, the feed's base URL or its manifest.json. */
  url: string;
  /** How the body is parsed: one of the formats on the ioc-ingest page (plain lists, Spamhaus DROP, FireHOL, CSV, STIX, TAXII, MISP). */
  format: FeedFormat;
  /**
   * How long an indicator stays listed after the feed last listed it.
   * @default "7d"
   */
  ttl?: Duration;
  /**
   * 0 to 100, stored with the indicators this feed lists (an indicator keeps the highest).
   * @default 50
   */
  confidence?: number;
  /** Request headers, such as an API key: `{ "Auth-Key": { env: "URLHAUS_KEY", optional: true } }`. Values never reach a log or a result. */
  headers?: Record<string, HeaderValue>;
  /** Allow a plain `http:` URL. @default false */
  allowHttp?: boolean;
  /** Largest body accepted, after decompression. @default the task's `maxBytes` */
  maxBytes?: number;
  /** Longest one download may take. @default the task's `timeout` */
  timeout?: Duration;
  /** Longest line of a line format, in characters. @default the task's `maxLineLength` */
  maxLineLength?: number;
  /** Column mapping; required for `csv`. */
  csv?: CsvMapping;
  /** TAXII paging. */
  taxii?: {
    /** Objects per page requested. @default 1000 */
    limit?: number;
    /** Pages fetched in one run at most; the cursor resumes the rest next run. @default 100 */
    maxPages?: number;
  };
  /** Whether the feed is fetched. A disabled feed's indicators expire by its TTL. @default true */
  enabled?: boolean;
}

/** The options of `iocIngestTask`. */
export interface IocIngestOptions {
  /** The task id. @default "ioc-ingest" */
  id?: string;
  /** @default "10 * * * *" */
  schedule?: string;
  /** The IANA time zone of the schedule. @default the configuration's timezone */
  timezone?: string;
  /** The feeds to ingest; at least one. */
  feeds: FeedOptions[];
  /**
   * Prefix of the task's tables; use the same as the configuration's `tablePrefix`.
   * @default "upkeep_"
   */
  tablePrefix?: string;
  /** What is never listed, whatever a feed says. */
  allowlist?: {
    /** Private, loopback, link-local, CGNAT, multicast and documentation ranges and well-known public resolvers. @default true */
    builtin?: boolean;
    /** The host's own entries: addresses, networks and domains (a domain covers its subdomains). @default [] */
    entries?: string[];
  };
  /** Networks broader than this are refused. @default { ipv4: 8, ipv6: 16 } */
  minPrefixLength?: {
    /** Shortest IPv4 prefix accepted, in bits. @default 8 */
    ipv4?: number;
    /** Shortest IPv6 prefix accepted, in bits. @default 16 */
    ipv6?: number;
  };
  /**
   * A feed listing fewer than this share of its last good count is held: its previous
   * indicators are kept and the run reports it.
   * @default 0.5
   */
  maxShrink?: number;
  /** Indicators per upsert statement and transaction. @default 1000 */
  batchSize?: number;
  /** Largest feed body, after decompression, in bytes. @default 104857600 (100 MiB) */
  maxBytes?: number;
  /** Longest one download may take. @default "2m" */
  timeout?: Duration;
  /**
   * Longest line of a line format, in characters; a longer line is counted invalid and skipped
   * (read past without being held in memory).
   * @default 65536
   */
  maxLineLength?: number;
  /** Invalid lines kept as examples per feed in the result. @default 3 */
  invalidExamples?: number;
}

const FEED_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const kindHint = z.enum(["ip", "domain", "url", "hash"] satisfies KindHint[]);

const headerValue = z.union([
  z.string().refine(isSendableHeaderValue, { message: "expected a header value without CR, LF or other control characters" }),
  z
    .object({
      /** The environment variable holding the value. */
      env: z.string().min(1, "expected an environment variable name"),
      /** Whether to send no header when the variable is unset, instead of failing the feed. @default false */
      optional: z.boolean().default(false),
    })
    .strict(),
]);

const csvSchema = z
  .object({
    /** The indicator's column: a 0-based index or a header name. */
    column: z.union([z.number().int().min(0), z.string().min(1)]),
    /** The kind of every value in the column; detected per value when absent. */
    kind: kindHint.optional(),
    /** The field separator, one character; absent, a comma. */
    delimiter: z.string().length(1).optional(),
    /** Where column names come from when `column` is a name; absent, the last comment line (`"comment"`). */
    header: z.enum(["first-line", "comment"]).optional(),
    /** The prefix marking comment lines; absent, `#`. */
    comment: z.string().min(1).optional(),
  })
  .strict();

const feedSchema = z
  .object({
    /** Unique, lower-case: letters, digits, `.`, `_`, `-`; at most 64 characters. Stored with each indicator. */
    name: z.string().regex(FEED_NAME, "expected lower-case letters, digits, '.', '_' or '-', at most 64 characters"),
    /** `https:` (or `http:` with `allowHttp`), or `file:` for a local list. For `taxii`, the collection's objects endpoint; for `misp-feed`, the feed's base URL or its manifest.json. */
    url: z.string().min(1),
    /** How the body is parsed: one of the formats on the ioc-ingest page (plain lists, Spamhaus DROP, FireHOL, CSV, STIX, TAXII, MISP). */
    format: z.enum(FEED_FORMATS as [FeedFormat, ...FeedFormat[]]),
    /**
     * How long an indicator stays listed after the feed last listed it.
     * @default "7d"
     */
    ttl: durationMs.prefault("7d"),
    /**
     * 0 to 100, stored with the indicators this feed lists (an indicator keeps the highest).
     * @default 50
     */
    confidence: z.number().int().min(0).max(100).default(50),
    /** Request headers, such as an API key: `{ "Auth-Key": { env: "URLHAUS_KEY", optional: true } }`. Values never reach a log or a result. */
    headers: z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "expected an HTTP header name"), headerValue).default({}),
    /** Allow a plain `http:` URL. @default false */
    allowHttp: z.boolean().default(false),
    /** Largest body accepted after decompression, in bytes; absent, the task's `maxBytes`. */
    maxBytes: z.number().int().positive().optional(),
    /** Longest one download may take, in milliseconds; absent, the task's `timeout`. */
    timeout: durationMs.optional(),
    /** Longest line of a line format, in characters; absent, the task's `maxLineLength`. */
    maxLineLength: z.number().int().min(256).optional(),
    /** Column mapping; required for `csv`. */
    csv: csvSchema.optional(),
    /** TAXII paging. */
    taxii: z
      .object({
        /** Objects per page requested. @default 1000 */
        limit: z.number().int().min(1).max(10_000).default(1000),
        /** Pages fetched in one run at most; the cursor resumes the rest next run. @default 100 */
        maxPages: z.number().int().min(1).default(100),
      })
      .strict()
      .prefault({}),
    /** Whether the feed is fetched. A disabled feed's indicators expire by its TTL. @default true */
    enabled: z.boolean().default(true),
  })
  .strict()
  .superRefine((feed, ctx) => {
    const problem = urlProblem(feed.url, feed.allowHttp);
    if (problem) ctx.addIssue({ code: "custom", path: ["url"], message: problem });
    if (feed.format === "csv" && !feed.csv) ctx.addIssue({ code: "custom", path: ["csv"], message: "required for the csv format" });
  });

/** Validates the task's input; errors name the field path, never its value. */
export const iocIngestSchema = z
  .object({
    /** The feeds to ingest; at least one. */
    feeds: z.array(feedSchema).min(1, "expected at least one feed"),
    /**
     * Prefix of the task's tables; use the same as the configuration's `tablePrefix`.
     * @default "upkeep_"
     */
    tablePrefix: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,30}$/i, "expected letters, digits and '_', starting with a letter")
      .default("upkeep_"),
    /** What is never listed, whatever a feed says. */
    allowlist: z
      .object({
        /** Private, loopback, link-local, CGNAT, multicast and documentation ranges and well-known public resolvers. @default true */
        builtin: z.boolean().default(true),
        /** The host's own entries: addresses, networks and domains (a domain covers its subdomains). @default [] */
        entries: z
          .array(z.string().refine((entry) => normalise(entry) !== undefined, { message: "expected an IP address, a network or a domain" }))
          .default([]),
      })
      .strict()
      .prefault({}),
    /** Networks broader than this are refused. @default { ipv4: 8, ipv6: 16 } */
    minPrefixLength: z
      .object({
        /** Shortest IPv4 prefix accepted, in bits. @default 8 */
        ipv4: z.number().int().min(0).max(32).default(8),
        /** Shortest IPv6 prefix accepted, in bits. @default 16 */
        ipv6: z.number().int().min(0).max(128).default(16),
      })
      .strict()
      .prefault({}),
    /**
     * A feed listing fewer than this share of its last good count is held: its previous
     * indicators are kept and the run reports it.
     * @default 0.5
     */
    maxShrink: z.number().min(0).max(1).default(0.5),
    /** Indicators per upsert statement and transaction. @default 1000 */
    batchSize: z.number().int().min(1).max(10_000).default(1000),
    /** Largest feed body, after decompression, in bytes. @default 104857600 (100 MiB) */
    maxBytes: z.number().int().positive().default(104_857_600),
    /** Longest one download may take, in milliseconds. @default "2m" */
    timeout: durationMs.prefault("2m"),
    /** Longest line of a line format, in characters; a longer line is counted invalid and skipped. @default 65536 */
    maxLineLength: z.number().int().min(256).default(DEFAULT_MAX_LINE_LENGTH),
    /** Invalid lines kept as examples per feed in the result. @default 3 */
    invalidExamples: z.number().int().min(0).max(50).default(3),
  })
  .strict()
  .superRefine((input, ctx) => {
    const seen = new Set<string>();
    input.feeds.forEach((feed, i) => {
      if (seen.has(feed.name)) ctx.addIssue({ code: "custom", path: ["feeds", i, "name"], message: "duplicate feed name" });
      seen.add(feed.name);
    });
  });

/** The validated input the task runs with (durations in ms, defaults filled in). */
export type IocIngestInput = z.output<typeof iocIngestSchema>;
export type FeedInput = IocIngestInput["feeds"][number];
