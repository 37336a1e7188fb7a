import * as z from "zod";
import { type Duration, parseDuration } from "../../duration.ts";

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const identifierMessage = "expected an SQL identifier: letters, digits and '_', not starting with a digit";

const column = z.string().regex(IDENTIFIER, identifierMessage);
const table = z
  .string()
  .regex(/^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$/, `${identifierMessage} (optionally schema.table)`);
const statusValue = z.string().min(1).max(64);

const grace = z
  .union([z.number(), z.string()])
  .refine((value) => parseDuration(value) !== undefined, {
    message: "expected milliseconds or a duration such as '30s', '15m', '1h'",
  })
  .transform((value) => Math.round(parseDuration(value) as number));

/** The host table's column names. */
export interface HeartbeatColumns {
  /** Primary key. @default "id" */
  id?: string;
  /** The token's status column. @default "status" */
  status?: string;
  /** Seconds between required heartbeats; null (or 0) means the token needs none. @default "heartbeat_required_every" */
  heartbeatRequiredEvery?: string;
  /** Time of the last heartbeat, null when there was none. @default "last_heartbeat_at" */
  lastHeartbeatAt?: string;
  /** Creation time: the deadline counts from it while there was no heartbeat. @default "created_at" */
  createdAt?: string;
  /** Set to the pass's time when a token is suspended. @default "suspended_at" */
  suspendedAt?: string;
  /** Set to `reason` when a token is suspended. @default "suspended_reason" */
  suspendedReason?: string;
  /**
   * Expiry time. When set, an overdue token already past it is marked `statuses.expired` instead of
   * suspended. When unset there is no expiry branch.
   * @default undefined
   */
  expiresAt?: string;
}

/** The values of the status column. */
export interface HeartbeatStatuses {
  /** Only tokens with this status are ever changed. @default "ACTIVE" */
  active?: string;
  /** Written for a token suspended for a missing heartbeat. @default "SUSPENDED" */
  suspended?: string;
  /** Not written by the task; `heartbeatStatus` reports it as down. @default "REVOKED" */
  revoked?: string;
  /** Written for overdue tokens past `expiresAt`. @default "EXPIRED" */
  expired?: string;
}

/** Where the agent tokens live and how they are named: shared by the task and its helpers. */
export interface HeartbeatTableOptions {
  /** The host's agent-token table (`schema.table` allowed). @default "agent_tokens" */
  table?: string;
  /** The table's column names; each defaults to the name shown on it. */
  columns?: HeartbeatColumns;
  /** The status column's values; each defaults to the value shown on it. */
  statuses?: HeartbeatStatuses;
  /**
   * Extra time past the period before a token is suspended. A token is overdue when
   * `now > (last heartbeat or creation) + period + grace`.
   * @default 0
   */
  grace?: Duration;
  /**
   * How the task writes `suspended_at` (and `recordHeartbeat` writes `last_heartbeat_at`) on SQLite,
   * where a column's declared type does not fix what it holds. `auto` writes the form the column's
   * rows hold (Django's `YYYY-MM-DD HH:MM:SS.ffffff`, ISO-8601 `…Z`, epoch ms or seconds); a column
   * with no rows gets its table's other time columns' form, else ISO-8601 text in a text-typed column
   * and epoch milliseconds (what knex stores for a `Date`) in the rest. Reading always goes by the rows.
   * @default "auto"
   */
  sqliteTimeFormat?: "auto" | "epoch-ms" | "iso";
}

/** Options of the `heartbeats` task. */
export interface HeartbeatsOptions extends HeartbeatTableOptions {
  /** The task id. @default "heartbeats" */
  id?: string;
  /** @default "* * * * *" */
  schedule?: string;
  /** The IANA time zone of the schedule. @default the configuration's timezone */
  timezone?: string;
  /** `suspended_reason` written for a suspended token. @default "HEARTBEAT_MISSING" */
  reason?: string;
  /**
   * Tokens changed per statement (each its own short transaction); a pass repeats until a statement
   * changes fewer. Unset, one statement suspends every overdue token: the fastest, and what a fleet
   * of ordinary size needs. Set it when a pass may suspend so many tokens that one statement would
   * hold their row locks too long.
   * @default undefined (one statement)
   */
  batchSize?: number;
  /**
   * Most ids listed in the run result per list; the counts are always complete and every token
   * still gets its event.
   * @default 1000
   */
  resultIdLimit?: number;
}

export const tableSchema = z
  .object({
    /** The host's agent-token table (`schema.table` allowed). @default "agent_tokens" */
    table: table.default("agent_tokens"),
    /** The table's column names; each defaults to the name shown on it. */
    columns: z
      .object({
        /** The token table's primary key column. @default "id" */
        id: column.default("id"),
        /** The token's status column. @default "status" */
        status: column.default("status"),
        /** Seconds between required heartbeats; null (or 0) means the token needs none. @default "heartbeat_required_every" */
        heartbeatRequiredEvery: column.default("heartbeat_required_every"),
        /** Time of the last heartbeat, null when there was none. @default "last_heartbeat_at" */
        lastHeartbeatAt: column.default("last_heartbeat_at"),
        /** Creation time: the deadline counts from it while there was no heartbeat. @default "created_at" */
        createdAt: column.default("created_at"),
        /** Set to the pass's time when a token is suspended. @default "suspended_at" */
        suspendedAt: column.default("suspended_at"),
        /** Set to `reason` when a token is suspended. @default "suspended_reason" */
        suspendedReason: column.default("suspended_reason"),
        /**
         * Expiry time. When set, an overdue token already past it is marked `statuses.expired` instead of
         * suspended. When unset there is no expiry branch.
         * @default undefined
         */
        expiresAt: column.optional(),
      })
      .strict()
      .prefault({}),
    /** The status column's values; each defaults to the value shown on it. */
    statuses: z
      .object({
        /** Only tokens with this status are ever changed. @default "ACTIVE" */
        active: statusValue.default("ACTIVE"),
        /** Written for a token suspended for a missing heartbeat. @default "SUSPENDED" */
        suspended: statusValue.default("SUSPENDED"),
        /** Not written by the task; `heartbeatStatus` reports it as down. @default "REVOKED" */
        revoked: statusValue.default("REVOKED"),
        /** Written for overdue tokens past `expiresAt`. @default "EXPIRED" */
        expired: statusValue.default("EXPIRED"),
      })
      .strict()
      .prefault({}),
    /**
     * Extra time past the period before a token is suspended. A token is overdue when
     * `now > (last heartbeat or creation) + period + grace`.
     * @default 0
     */
    grace: grace.default(0),
    /**
     * How the task writes `suspended_at` (and `recordHeartbeat` writes `last_heartbeat_at`) on SQLite,
     * where a column's declared type does not fix what it holds. `auto` writes the form the column's
     * rows hold (Django's `YYYY-MM-DD HH:MM:SS.ffffff`, ISO-8601 `…Z`, epoch ms or seconds); a column
     * with no rows gets its table's other time columns' form, else ISO-8601 text in a text-typed column
     * and epoch milliseconds (what knex stores for a `Date`) in the rest. Reading always goes by the rows.
     * @default "auto"
     */
    sqliteTimeFormat: z.enum(["auto", "epoch-ms", "iso"]).default("auto"),
  })
  .strict();

export const inputSchema = tableSchema
  .extend({
    /** `suspended_reason` written for a suspended token. @default "HEARTBEAT_MISSING" */
    reason: statusValue.default("HEARTBEAT_MISSING"),
    /**
     * Tokens changed per statement (each its own short transaction); a pass repeats until a statement
     * changes fewer. Unset, one statement suspends every overdue token: the fastest, and what a fleet
     * of ordinary size needs. Set it when a pass may suspend so many tokens that one statement would
     * hold their row locks too long.
     * @default undefined (one statement)
     */
    batchSize: z.number().int().min(1).max(1_000_000).optional(),
    /**
     * Most ids listed in the run result per list; the counts are always complete and every token
     * still gets its event.
     * @default 1000
     */
    resultIdLimit: z.number().int().min(0).max(100_000).default(1000),
  })
  .strict();

/** The table options with every default applied; `grace` in milliseconds. */
export type HeartbeatTable = z.output<typeof tableSchema>;
/** The task's validated input. */
export type HeartbeatsInput = z.output<typeof inputSchema>;
