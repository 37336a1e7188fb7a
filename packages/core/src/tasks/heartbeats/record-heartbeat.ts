import type { Knex } from "knex";
import { dialectOf } from "../../db.ts";
import { parseOrThrow } from "../../validate.ts";
import { type HeartbeatTableOptions, tableSchema } from "./options.ts";
import { detectTimeKinds, TIME_SQL, type TimeKind } from "./time-sql.ts";

/** Options of `recordHeartbeat`: the table names of the task, and the time to record. */
export interface RecordHeartbeatOptions extends HeartbeatTableOptions {
  /**
   * The heartbeat's time.
   * @default new Date()
   */
  now?: Date;
}

const kindCache = new WeakMap<Knex, Map<string, TimeKind>>();

async function heartbeatKind(
  db: Knex,
  table: string,
  column: string,
  createdAt: string,
  format: "auto" | "epoch-ms" | "iso",
): Promise<TimeKind> {
  let cache = kindCache.get(db);
  if (!cache) {
    cache = new Map();
    kindCache.set(db, cache);
  }
  const key = `${table}\u0000${column}\u0000${createdAt}\u0000${format}`;
  let kind = cache.get(key);
  if (!kind) {
    // The creation column tells the form to write while no heartbeat has been recorded yet (SQLite).
    kind = (await detectTimeKinds(db, dialectOf(db), table, { column, createdAt }, format)).column;
    cache.set(key, kind);
  }
  return kind;
}

/**
 * Records a heartbeat for an agent token: sets its last-heartbeat time, only while the token is
 * active. It never reactivates a token: a suspended, revoked or expired token stays as it is, and
 * the call returns `false` so the host's API can refuse the agent.
 *
 * @returns `true` when the heartbeat was recorded, `false` when no active token has this id.
 * @throws {ConfigError} when `options` is invalid.
 */
export async function recordHeartbeat(db: Knex, tokenId: string | number, options: RecordHeartbeatOptions = {}): Promise<boolean> {
  const { now = new Date(), ...rest } = options;
  const { table, columns, statuses, sqliteTimeFormat } = parseOrThrow(tableSchema, rest, "recordHeartbeat options");
  const kind = await heartbeatKind(db, table, columns.lastHeartbeatAt, columns.createdAt, sqliteTimeFormat);
  const value = TIME_SQL[dialectOf(db)].write(kind, now);
  const changed = await db(table)
    .where(columns.id, tokenId)
    .andWhere(columns.status, statuses.active)
    .update({ [columns.lastHeartbeatAt]: db.raw(value.sql, value.bindings as Knex.RawBinding[]) });
  return Number(changed) > 0;
}
