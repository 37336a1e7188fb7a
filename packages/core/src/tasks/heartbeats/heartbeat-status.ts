import { parseOrThrow } from "../../validate.ts";
import { type HeartbeatTableOptions, tableSchema } from "./options.ts";

/** A token's heartbeat health: on time, past its period but within grace, or down. */
export type HeartbeatHealth = "up" | "late" | "down";

const NAIVE = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/**
 * Epoch milliseconds of a time value as drivers return it: a `Date`, epoch milliseconds (number,
 * bigint or numeric string), or ISO-8601 text; text without a zone is read as UTC.
 */
export function toEpochMs(value: unknown): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value === "bigint") return Number(value);
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  const parsed = Date.parse(NAIVE.test(text) ? `${text.replace(" ", "T")}Z` : text);
  return Number.isNaN(parsed) ? undefined : parsed;
}

/**
 * A token's heartbeat health, like a health check, from a row of the host's table as the driver
 * returned it (column names from `options.columns`, defaults as the task's):
 * - `down`: the token is not active (suspended, revoked, expired), or it is past its period plus
 *   grace, so the next pass suspends it;
 * - `late`: past its period, still within grace;
 * - `up`: on time, or no heartbeat required.
 * It reads the same rule as the task: due = (last heartbeat, or creation) + period.
 *
 * @throws {ConfigError} when `options` is invalid.
 */
export function heartbeatStatus(
  token: Readonly<Record<string, unknown>>,
  now: Date = new Date(),
  options: HeartbeatTableOptions = {},
): HeartbeatHealth {
  const { columns, statuses, grace } = parseOrThrow(tableSchema, options, "heartbeatStatus options");
  if (token[columns.status] !== statuses.active) return "down";
  const every = Number(token[columns.heartbeatRequiredEvery] ?? Number.NaN);
  if (!(every > 0)) return "up";
  const base = toEpochMs(token[columns.lastHeartbeatAt]) ?? toEpochMs(token[columns.createdAt]);
  if (base === undefined) return "up";
  const due = base + every * 1000;
  const at = now.getTime();
  if (at <= due) return "up";
  return at <= due + grace ? "late" : "down";
}
