import type { Knex } from "knex";
import * as z from "zod";
import { type Duration, parseDuration } from "../../duration.ts";
import type { FlagColumn, FlagConditions } from "./flags.ts";

/**
 * How a policy's timestamp column stores time, so the cutoff is bound in the same form:
 * - `"date"`: a native timestamp column whose wall-time reading is not known (UTC or the
 *   process's zone); the cutoff is the earlier of both readings, so nothing goes early.
 * - `"utc"`: a native timestamp column that holds UTC (Django with `USE_TZ`, Rails, Prisma,
 *   Laravel with its default `UTC` timezone); the cutoff is exact in any process time zone.
 * - `"epoch_ms"`, `"epoch_s"`: integer epochs.
 * - `"iso"`: ISO 8601 text.
 */
export type TimeFormat = "date" | "utc" | "epoch_ms" | "epoch_s" | "iso";

/** What a `where` function receives besides the query. */
export interface WhereContext {
  /** The run's `ctx.now()`. */
  now: Date;
  /**
   * Converts a date into the policy's `timeFormat` (on SQLite, the form its time columns' rows
   * hold), ready to bind; exact with `<` and `>=`.
   */
  time(date: Date): Date | number | string;
}

/**
 * An extra condition, added to the policy's selection with AND (grouped, so `orWhere` inside stays
 * inside): `(q, { now, time }) => q.where("expires_at", "<", time(now)).orWhereNotNull("used_at")`.
 */
export type CleanupWhere = (query: Knex.QueryBuilder, at: WhereContext) => void;

/** A `where` function as the selection calls it: a policy's own, or a preset's, which also gets its flag conditions. */
export type SelectionWhere = (query: Knex.QueryBuilder, at: WhereContext & FlagConditions) => void;

/** What an archive sink is told about the batch it receives. */
export interface SinkBatch {
  /** The policy's name (its `name`, or its table when unnamed). */
  policy: string;
  /** The table the rows come from. */
  table: string;
  /** The primary key column; acknowledge rows by this column's values. */
  primaryKey: string;
}

/**
 * Receives one batch of rows to archive (a ClickHouse writer, an object store). Resolve with
 * nothing to acknowledge every row, or with the primary keys it stored: only those are deleted.
 * A sink that throws stops the policy, with nothing deleted for that batch. Delivery is
 * at-least-once (a crash between the sink and the delete sends the batch again), so write
 * idempotently by primary key.
 */
export type CleanupSink = (
  rows: Record<string, unknown>[],
  batch: SinkBatch,
  // biome-ignore lint/suspicious/noConfusingVoidType: a sink that acknowledges every row simply returns nothing.
) => Promise<readonly unknown[] | undefined | void>;

/** One retention policy. */
export interface CleanupPolicy {
  /**
   * Names the policy in results, progress and errors.
   * @default the table name
   */
  name?: string;
  /** The table to clean. */
  table: string;
  /**
   * Single-column primary key, used to walk and delete the table in batches.
   * @default "id"
   */
  primaryKey?: string;
  /** Timestamp column compared with `olderThan`. */
  column?: string;
  /** Rows whose `column` is older than this go; 0 or null keeps them forever (the policy is skipped). */
  olderThan?: Duration | null;
  /**
   * How `column` stores time. `"utc"` for a timestamp column that holds UTC (what Django, Rails,
   * Prisma and Laravel write): exact whatever the process's zone. `"date"` when the column may hold
   * the process's local time: never early, but west of UTC a row may stay up to the zone's offset
   * longer. On SQLite the column's rows decide (Django/Rails text, ISO-8601, epoch ms or seconds);
   * an explicit `epoch_ms`, `epoch_s` or `iso` is checked against them and says what a column with
   * no rows yet holds.
   * @default "date"
   */
  timeFormat?: TimeFormat;
  /**
   * An extra condition ANDed to the selection: raw SQL text, or a function adding knex where clauses.
   * Raw SQL must be one closed expression (balanced parentheses and quotes; no `;`, comment,
   * backslash or `$`), or registration refuses it.
   */
  where?: string | CleanupWhere;
  /**
   * What happens to matching rows.
   * @default "delete"
   */
  action?: "delete" | "archive" | "dedupe";
  /** Where `archive` moves rows: a table in the same database with every column of the source, or a sink. */
  archive?:
    | {
        /** The archive table; each batch is copied there and deleted here in one transaction. */
        table: string;
      }
    | {
        /** Receives each batch before it is deleted; the rows stay when the sink throws. */
        sink: CleanupSink;
      };
  /** For `dedupe`: rows with equal `key` columns are duplicates; one is kept. */
  dedupe?: {
    /** The columns whose equal values make rows duplicates. */
    key: string[];
    /** Which row of each key stays: the first or the last by `orderBy`. @default "oldest" */
    keep?: "oldest" | "newest";
    /**
     * Column that decides which row is oldest.
     * @default the primary key
     */
    orderBy?: string;
  };
  /**
   * Rows in this policy's first batch (one short transaction each); a pure age cut with integer
   * keys cuts batches as ranges of this many keys, so at most this many rows.
   * @default the task's batchSize
   */
  batchSize?: number;
}

interface PresetTable {
  /** Single-column primary key, used to walk and delete the table in batches. @default "id" */
  primaryKey?: string;
  /**
   * Rows per batch (one short transaction each).
   * @default the task's batchSize
   */
  batchSize?: number;
}

/** Rows that expire: gone once `expiresColumn` is in the past. */
export interface ExpiringTable extends PresetTable {
  /** The host's table (`schema.table` allowed). @default the preset's table for this entry */
  table?: string;
  /** The expiry time column; a row goes once it is past. @default "expires_at" */
  expiresColumn?: string;
}

/** Rows kept for a while: gone once `column` is older than `olderThan` (0 keeps forever). */
export interface AgedTable extends PresetTable {
  /** The host's table (`schema.table` allowed). @default the preset's table for this entry */
  table?: string;
  /** Timestamp column compared with `olderThan`. @default "created_at" */
  column?: string;
  /**
   * Age past which a row goes, counted from `column`; 0 or null keeps rows forever.
   * @default the preset's retention for this entry
   */
  olderThan?: Duration | null;
}

/** The auth preset; set a table to `false` to leave it alone. */
export interface AuthPresetOptions {
  /** How the preset's timestamp columns store time (on SQLite, each column's rows decide). @default "date" */
  timeFormat?: TimeFormat;
  /** Expired blacklisted tokens. Table @default "blacklisted_tokens" */
  blacklistedTokens?: false | ExpiringTable;
  /** Expired magic links. Table @default "magic_links" */
  magicLinks?: false | ExpiringTable;
  /** OTP codes that are expired or used (or expired only, see `delete`). Table @default "otp_codes" */
  otpCodes?:
    | false
    | (ExpiringTable & {
        /**
         * Marks a used code: a nullable timestamp (used = not null) or a boolean such as Tenxyte's
         * `is_used` (used = true), read from the catalog; `{ column, kind }` states the kind.
         * @default "used_at"
         */
        usedColumn?: FlagColumn;
        /**
         * Which codes go: `"expired-or-used"`, or `"expired"` only (Tenxyte's own command), which
         * keeps used codes until they expire and does not read `usedColumn`.
         * @default "expired-or-used"
         */
        delete?: "expired-or-used" | "expired";
      });
  /** Refresh tokens that are expired or revoked. Table @default "refresh_tokens" */
  refreshTokens?:
    | false
    | (ExpiringTable & {
        /**
         * Marks a revoked token: a nullable timestamp or a boolean such as Tenxyte's `is_revoked`,
         * like `otpCodes.usedColumn`.
         * @default "revoked_at"
         */
        revokedColumn?: FlagColumn;
      });
  /** Login attempts. Table @default "login_attempts", olderThan @default "90d" */
  loginAttempts?: false | AgedTable;
  /** Audit logs. Table @default "audit_logs", olderThan @default "365d" */
  auditLogs?: false | AgedTable;
}

/** The platform preset; set a table to `false` to leave it alone. */
export interface PlatformPresetOptions {
  /** How the preset's timestamp columns store time (on SQLite, each column's rows decide). @default "date" */
  timeFormat?: TimeFormat;
  /** Raw endpoint telemetry. Table @default "endpoint_telemetry", olderThan @default "30d" */
  telemetry?: false | AgedTable;
  /** Audit logs. Table @default "audit_logs", olderThan @default "30d" */
  auditLogs?: false | AgedTable;
  /** Cookie-consent records. Table @default "cookie_consents", olderThan @default "30d" */
  consentRecords?: false | AgedTable;
  /**
   * Published outbox events, archived. Table @default "outbox_events", column @default "published_at",
   * olderThan @default "30d", archive @default { table: "outbox_events_archive" }
   */
  outboxPublished?:
    | false
    | (AgedTable & {
        /** Where published events go: an archive table or a sink, as a policy's `archive`. */
        archive?:
          | {
              /** The archive table. */
              table: string;
            }
          | {
              /** Receives each batch before it is deleted. */
              sink: CleanupSink;
            };
      });
  /**
   * Dead-lettered outbox events: never published after `maxAttempts`. Table @default "outbox_events",
   * column @default "created_at", olderThan @default "7d"
   */
  outboxDeadLetters?:
    | false
    | (AgedTable & {
        /**
         * Marks a published event: a nullable timestamp or a boolean, like the auth preset's `usedColumn`.
         * @default "published_at"
         */
        publishedColumn?: FlagColumn;
        /** The column counting publish attempts. @default "attempts" */
        attemptsColumn?: string;
        /** Attempts after which an unpublished event counts as dead-lettered. @default 10 */
        maxAttempts?: number;
      });
  /** Legacy duplicate threat-intelligence rows. Table @default "threat_indicators", key @default ["type", "value"] */
  threatIntelDuplicates?:
    | false
    | (PresetTable & {
        /** The host's table (`schema.table` allowed). @default "threat_indicators" */
        table?: string;
        /** Columns whose equal values make rows duplicates. @default ["type", "value"] */
        key?: string[];
        /** Which duplicate stays. @default "oldest" */
        keep?: "oldest" | "newest";
        /** Column that decides which row is oldest. @default the primary key */
        orderBy?: string;
      });
  /**
   * High-value tables no policy may name.
   * @default PLATFORM_PROTECTED_TABLES
   */
  protectedTables?: string[];
}

/** Options of `cleanupTask`. */
export interface CleanupOptions {
  /** The task id. @default "cleanup" */
  id?: string;
  /** @default "0 3 * * *" */
  schedule?: string;
  /** The IANA time zone of the schedule. @default the configuration's timezone */
  timezone?: string;
  /** Your own policies, run after the presets'. */
  policies?: CleanupPolicy[];
  /** Turns on the auth preset (true for its defaults). @default false */
  auth?: boolean | AuthPresetOptions;
  /** Turns on the platform preset (true for its defaults). @default false */
  platform?: boolean | PlatformPresetOptions;
  /**
   * Tables no policy may touch; a policy naming one is refused at registration. Names match
   * without case, and a run's input can add tables here but never remove one.
   * @default []
   */
  protectedTables?: string[];
  /**
   * Minimum retention per table (compliance): a policy on the table must keep rows at least this
   * long, e.g. `{ audit_logs: "90d" }`. Names match without case; a run's input can raise a floor,
   * never lower it.
   * @default {}
   */
  floors?: Record<string, Duration>;
  /**
   * Rows in the first batch of each policy, each batch its own short transaction (a pure age cut
   * with integer keys on MariaDB/MySQL and SQLite: a range of this many keys, so at most this many
   * rows). Later batches grow or shrink to take about `batchTime` (sink batches always stay at
   * this size).
   * @default 1000
   */
  batchSize?: number;
  /**
   * How long one batch should take: a batch that took under half of it or over all of it is
   * resized to land at three quarters, growing at most 4x and shrinking at most 8x per batch.
   * 0 keeps every batch at `batchSize`.
   * @default "100ms"
   */
  batchTime?: Duration;
  /**
   * Upper bound of a grown batch.
   * @default 50000
   */
  maxBatchSize?: number;
  /**
   * Pause between batches, to let replicas and concurrent writers breathe (in each lane, see
   * `concurrency`).
   * @default 0
   */
  pause?: Duration;
  /**
   * How many batches of one policy may run at once on MariaDB/MySQL, each its own short
   * transaction on its own pooled connection, over disjoint ranges of keys. It applies to a pure
   * age cut that is deleted by key ranges; every other policy, and every policy on PostgreSQL and
   * SQLite, runs one batch at a time. 1 runs one batch at a time everywhere.
   * @default 2
   */
  concurrency?: number;
}

/** The input the task validates: its options without id, schedule and timezone. */
export type CleanupInput = Omit<CleanupOptions, "id" | "schedule" | "timezone">;

export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const identifier = z.string().regex(IDENTIFIER, "expected a plain SQL identifier (letters, digits, '_')");
const duration = z.union([z.number(), z.string()]).refine((value) => parseDuration(value) !== undefined, {
  message: "expected milliseconds or a duration such as '30d'",
});
const fn = <T>() => z.custom<T>((value) => typeof value === "function", "expected a function");
const timeFormat = z.enum(["date", "utc", "epoch_ms", "epoch_s", "iso"]);
const batchSize = z.number().int().min(1).max(10_000);
const archiveTarget = z.union([z.object({ table: identifier }).strict(), z.object({ sink: fn<CleanupSink>() }).strict()]);

export const policySchema = z
  .object({
    /**
     * Names the policy in results, progress and errors.
     * @default the table name
     */
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, "expected letters, digits, '_', '.', ':' or '-'")
      .optional(),
    table: identifier,
    primaryKey: identifier.optional(),
    column: identifier.optional(),
    olderThan: duration.nullable().optional(),
    timeFormat: timeFormat.optional(),
    /**
     * An extra condition ANDed to the selection: raw SQL text, or a function adding knex where clauses.
     * Raw SQL must be one closed expression (balanced parentheses and quotes; no `;`, comment,
     * backslash or `$`), or registration refuses it.
     */
    where: z.union([z.string().min(1), fn<CleanupWhere>()]).optional(),
    /**
     * What happens to matching rows.
     * @default "delete"
     */
    action: z.enum(["delete", "archive", "dedupe"]).optional(),
    archive: archiveTarget.optional(),
    /** For `dedupe`: rows with equal `key` columns are duplicates; one is kept. */
    dedupe: z
      .object({ key: z.array(identifier).min(1), keep: z.enum(["oldest", "newest"]).optional(), orderBy: identifier.optional() })
      .strict()
      .optional(),
    batchSize: batchSize.optional(),
  })
  .strict();

const presetTable = { table: identifier.optional(), primaryKey: identifier.optional(), batchSize: batchSize.optional() };
const expiring = z.object({ ...presetTable, expiresColumn: identifier.optional() }).strict();
const aged = { ...presetTable, column: identifier.optional(), olderThan: duration.nullable().optional() };
const flagColumn = z.union([identifier, z.object({ column: identifier, kind: z.enum(["flag", "timestamp"]) }).strict()]);
const toggle = <T extends z.ZodType>(schema: T) => z.union([z.literal(false), schema]).optional();

const authSchema = z
  .object({
    timeFormat: timeFormat.optional(),
    /** Expired blacklisted tokens. Table @default "blacklisted_tokens" */
    blacklistedTokens: toggle(expiring),
    /** Expired magic links. Table @default "magic_links" */
    magicLinks: toggle(expiring),
    otpCodes: toggle(expiring.extend({ usedColumn: flagColumn.optional(), delete: z.enum(["expired-or-used", "expired"]).optional() })),
    refreshTokens: toggle(expiring.extend({ revokedColumn: flagColumn.optional() })),
    /** Login attempts. Table @default "login_attempts", olderThan @default "90d" */
    loginAttempts: toggle(z.object(aged).strict()),
    auditLogs: toggle(z.object(aged).strict()),
  })
  .strict();

const platformSchema = z
  .object({
    timeFormat: timeFormat.optional(),
    /** Raw endpoint telemetry. Table @default "endpoint_telemetry", olderThan @default "30d" */
    telemetry: toggle(z.object(aged).strict()),
    auditLogs: toggle(z.object(aged).strict()),
    /** Cookie-consent records. Table @default "cookie_consents", olderThan @default "30d" */
    consentRecords: toggle(z.object(aged).strict()),
    outboxPublished: toggle(z.object({ ...aged, archive: archiveTarget.optional() }).strict()),
    outboxDeadLetters: toggle(
      z
        .object({
          ...aged,
          /**
           * Marks a published event: a nullable timestamp or a boolean, like the auth preset's `usedColumn`.
           * @default "published_at"
           */
          publishedColumn: flagColumn.optional(),
          /** The column counting publish attempts. @default "attempts" */
          attemptsColumn: identifier.optional(),
          /** Attempts after which an unpublished event counts as dead-lettered. @default 10 */
          maxAttempts: z.number().int().min(1).optional(),
        })
        .strict(),
    ),
    threatIntelDuplicates: toggle(
      z
        .object({
          ...presetTable,
          key: z.array(identifier).min(1).optional(),
          keep: z.enum(["oldest", "newest"]).optional(),
          orderBy: identifier.optional(),
        })
        .strict(),
    ),
    protectedTables: z.array(identifier).optional(),
  })
  .strict();

/** The shape of the input, before the cross-field rules in input.ts. */
export const inputShape = z
  .object({
    /** Your own policies, run after the presets'. */
    policies: z.array(policySchema).optional(),
    /** Turns on the auth preset (true for its defaults). @default false */
    auth: z.union([z.boolean(), authSchema]).optional(),
    /** Turns on the platform preset (true for its defaults). @default false */
    platform: z.union([z.boolean(), platformSchema]).optional(),
    protectedTables: z.array(identifier).optional(),
    /**
     * Minimum retention per table (compliance): a policy on the table must keep rows at least this
     * long, e.g. `{ audit_logs: "90d" }`. Names match without case; a run's input can raise a floor,
     * never lower it.
     * @default {}
     */
    floors: z.record(identifier, duration).optional(),
    batchSize: batchSize.optional(),
    /**
     * How long one batch should take: a batch that took under half of it or over all of it is
     * resized to land at three quarters, growing at most 4x and shrinking at most 8x per batch.
     * 0 keeps every batch at `batchSize`.
     * @default "100ms"
     */
    batchTime: duration.optional(),
    /**
     * Upper bound of a grown batch.
     * @default 50000
     */
    maxBatchSize: z.number().int().min(1).max(1_000_000).optional(),
    /**
     * Pause between batches, to let replicas and concurrent writers breathe (in each lane, see
     * `concurrency`).
     * @default 0
     */
    pause: duration.optional(),
    /**
     * How many batches of one policy may run at once on MariaDB/MySQL, each its own short
     * transaction on its own pooled connection, over disjoint ranges of keys. It applies to a pure
     * age cut that is deleted by key ranges; every other policy, and every policy on PostgreSQL and
     * SQLite, runs one batch at a time. 1 runs one batch at a time everywhere.
     * @default 2
     */
    concurrency: z.number().int().min(1).max(16).optional(),
  })
  .strict();
