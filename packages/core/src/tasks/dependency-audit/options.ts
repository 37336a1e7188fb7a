import * as z from "zod";
import { type Duration, durationMs } from "../../duration.ts";

/** Severities, lowest first, as npm's advisories grade them. */
export const SEVERITIES = ["info", "low", "moderate", "high", "critical"] as const;
/** An advisory's severity, one of `SEVERITIES`. */
export type Severity = (typeof SEVERITIES)[number];

/** What a finding is: an advisory, or one of the integrity checks. */
export type FindingKind = "advisory" | "integrity.mismatch" | "integrity.foreign_host" | "integrity.unpublished";

/** The severity each integrity finding gets. */
export const INTEGRITY_SEVERITY: Record<Exclude<FindingKind, "advisory">, Severity> = {
  "integrity.mismatch": "critical",
  "integrity.foreign_host": "high",
  "integrity.unpublished": "moderate",
};

/** An acknowledged finding: kept and reported, not alerted and not failing the run until `expires`. */
export interface AuditIgnore {
  /** The advisory's id (`1096366`), its GHSA id (the last segment of its URL), or an integrity kind (`integrity.foreign_host`). */
  advisory: string;
  /** Only this package. @default every package */
  package?: string;
  /** Why it is acknowledged; stored with the finding. */
  reason: string;
  /** An ISO date or time; from then on the finding alerts and counts again. */
  expires: string;
}

/** The registry the lockfiles resolve from. */
export interface AuditRegistryOptions {
  /** Its base URL, as in `.npmrc`'s `registry=`: `https:` (or `http:` with `allowHttp`). */
  url: string;
  /** An auth token sent as `Authorization: Bearer` to the registry only; a literal or `{ env }`. Never logged. */
  token?:
    | string
    | {
        /** Name of the environment variable holding the token. */
        env: string;
      };
  /** Allow a plain `http:` registry URL. @default false */
  allowHttp?: boolean;
}

/** The options of `dependencyAuditTask`. */
export interface DependencyAuditOptions {
  /** The task id. @default "dependency-audit" */
  id?: string;
  /** @default "0 4 1 * *" (04:00 on the first of each month) */
  schedule?: string;
  /** The IANA time zone of the schedule. @default the configuration's timezone */
  timezone?: string;
  /** The folder holding the app's lockfile(s), looked up by name. @default process.cwd() at run time */
  root?: string;
  /** Lockfile paths, instead of looking in `root`. @default the lockfiles found in `root` */
  lockfiles?: string[];
  /** The registry the lockfiles resolve from, whose advisories and packuments the audit reads. */
  registry: AuditRegistryOptions;
  /**
   * An OSV-format source besides the registry's advisories: the base URL of a service answering
   * OSV's `POST /v1/querybatch` and `GET /v1/vulns/:id` (a mirror of OSV's npm ecosystem). No token
   * is sent to it.
   * @default none
   */
  osv?: {
    /** The service's base URL: `https:` (or `http:` with `allowHttp`). */
    url: string;
    /** Allow a plain `http:` URL. @default false */
    allowHttp?: boolean;
  };
  /** Hosts besides the registry's that a lockfile's `resolved` URL may name. @default [] */
  allowedHosts?: string[];
  /** Compare lockfile integrity and hosts with the registry's packuments. @default true */
  integrity?: boolean;
  /** Include dev-only packages. @default true */
  dev?: boolean;
  /** Acknowledged findings. @default [] */
  ignore?: AuditIgnore[];
  /** A `security` event for each new finding at or above this severity. @default "moderate" */
  alertAt?: Severity;
  /**
   * The run fails (the CLI exits 1) while an unacknowledged finding at or above this severity is
   * open; `"none"` never fails on findings.
   * @default "high"
   */
  failOn?: Severity | "none";
  /** Package names per bulk advisory request. @default 500 */
  batchSize?: number;
  /** Packument requests in flight at once. @default 8 */
  concurrency?: number;
  /** Longest one request may take. @default "30s" */
  requestTimeout?: Duration;
  /** Retries of a request answered 429, 5xx or not at all. @default 3 */
  retries?: number;
  /** Longest `Retry-After` honoured; a longer one fails the batch. @default "2m" */
  maxRetryAfter?: Duration;
  /** Largest answer accepted, in bytes. @default 67108864 (64 MiB) */
  maxResponseBytes?: number;
  /** Dependency paths kept per finding. @default 5 */
  maxPaths?: number;
  /** Prefix of the task's tables; the same as the configuration's `tablePrefix`. @default "upkeep_" */
  tablePrefix?: string;
}

const severity = z.enum(SEVERITIES);

/** An http(s) base URL without credentials, http only when allowed. */
function checkBaseUrl(value: { url: string; allowHttp: boolean }, ctx: z.RefinementCtx, field: string): void {
  let url: URL;
  try {
    url = new URL(value.url);
  } catch {
    ctx.addIssue({ code: "custom", path: ["url"], message: "expected an absolute URL" });
    return;
  }
  if (url.protocol === "http:" && !value.allowHttp) {
    ctx.addIssue({ code: "custom", path: ["url"], message: `plain http is refused unless ${field}.allowHttp is true` });
  } else if (url.protocol !== "https:" && url.protocol !== "http:") {
    ctx.addIssue({ code: "custom", path: ["url"], message: "expected an https: URL" });
  }
  if (url.username || url.password)
    ctx.addIssue({ code: "custom", path: ["url"], message: "put credentials in registry.token, not in the URL" });
}

const registrySchema = z
  .object({
    /** The registry's base URL, as in `.npmrc`'s `registry=`. */
    url: z.string().min(1),
    /** An auth token sent as `Authorization: Bearer` to the registry only; a literal or `{ env }`. Never logged. */
    token: z
      .union([
        z.string().min(1),
        z
          .object({
            /** Name of the environment variable holding the token. */
            env: z.string().min(1, "expected an environment variable name"),
          })
          .strict(),
      ])
      .optional(),
    /** Whether a plain `http:` URL is accepted (a local mirror). @default false */
    allowHttp: z.boolean().default(false),
  })
  .strict()
  .superRefine((registry, ctx) => checkBaseUrl(registry, ctx, "registry"));

const osvSchema = z
  .object({
    /** The service's base URL. */
    url: z.string().min(1),
    /** Whether a plain `http:` URL is accepted (a local mirror). @default false */
    allowHttp: z.boolean().default(false),
  })
  .strict()
  .superRefine((osv, ctx) => checkBaseUrl(osv, ctx, "osv"));

const ignoreSchema = z
  .object({
    /** The advisory's id (`1096366`), its GHSA id (the last segment of its URL), or an integrity kind (`integrity.foreign_host`). */
    advisory: z.string().min(1),
    /** Only this package. @default every package */
    package: z.string().min(1).optional(),
    /** Why it is acknowledged; stored with the finding. */
    reason: z.string().min(1, "expected a reason"),
    /** An ISO date or time; from then on the finding alerts and counts again. */
    expires: z.string().refine((value) => !Number.isNaN(Date.parse(value)), { message: "expected an ISO date such as 2026-06-30" }),
  })
  .strict();

/** Validates the task's input; errors name the field path, never its value. */
export const dependencyAuditSchema = z
  .object({
    /** The folder holding the app's lockfile(s), looked up by name. @default process.cwd() at run time */
    root: z.string().min(1).optional(),
    /** Lockfile paths, instead of looking in `root`. @default the lockfiles found in `root` */
    lockfiles: z.array(z.string().min(1)).min(1, "expected at least one path").optional(),
    /** The registry the lockfiles resolve from, whose advisories and packuments the audit reads. */
    registry: registrySchema,
    /**
     * An OSV-format source besides the registry's advisories: the base URL of a service answering
     * OSV's `POST /v1/querybatch` and `GET /v1/vulns/:id` (a mirror of OSV's npm ecosystem). No token
     * is sent to it.
     * @default none
     */
    osv: osvSchema.optional(),
    /** Hosts besides the registry's that a lockfile's `resolved` URL may name. @default [] */
    allowedHosts: z.array(z.string().regex(/^[a-z0-9.-]+(:\d+)?$/i, "expected a host name, optionally with :port")).default([]),
    /** Compare lockfile integrity and hosts with the registry's packuments. @default true */
    integrity: z.boolean().default(true),
    /** Include dev-only packages. @default true */
    dev: z.boolean().default(true),
    /** Acknowledged findings. @default [] */
    ignore: z.array(ignoreSchema).default([]),
    /** A `security` event for each new finding at or above this severity. @default "moderate" */
    alertAt: severity.default("moderate"),
    /**
     * The run fails (the CLI exits 1) while an unacknowledged finding at or above this severity is
     * open; `"none"` never fails on findings.
     * @default "high"
     */
    failOn: z.union([severity, z.literal("none")]).default("high"),
    /** Package names per bulk advisory request. @default 500 */
    batchSize: z.number().int().min(1).max(10_000).default(500),
    /** Packument requests in flight at once. @default 8 */
    concurrency: z.number().int().min(1).max(64).default(8),
    /** Longest one request may take. @default "30s" */
    requestTimeout: durationMs.prefault("30s"),
    /** Retries of a request answered 429, 5xx or not at all. @default 3 */
    retries: z.number().int().min(0).max(10).default(3),
    /** Longest `Retry-After` honoured; a longer one fails the batch. @default "2m" */
    maxRetryAfter: durationMs.prefault("2m"),
    /** Largest answer accepted, in bytes. @default 67108864 (64 MiB) */
    maxResponseBytes: z.number().int().positive().default(67_108_864),
    /** Dependency paths kept per finding. @default 5 */
    maxPaths: z.number().int().min(1).max(100).default(5),
    /** Prefix of the task's tables; the same as the configuration's `tablePrefix`. @default "upkeep_" */
    tablePrefix: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,30}$/i, "expected letters, digits and '_', starting with a letter")
      .default("upkeep_"),
  })
  .strict();

/** The validated input the task runs with (durations in ms, defaults filled in). */
export type DependencyAuditInput = z.output<typeof dependencyAuditSchema>;

/** Whether `a` is at least `b`. */
export const atLeast = (a: Severity, b: Severity) => SEVERITIES.indexOf(a) >= SEVERITIES.indexOf(b);

/** An advisory's severity, `high` when the registry gives none it knows (an unknown grade is not taken lightly). */
export const severityOf = (value: unknown): Severity => (SEVERITIES.includes(value as Severity) ? (value as Severity) : "high");
