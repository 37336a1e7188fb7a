import type { Knex } from "knex";
import { retryDeadlocks, type SqlDialect } from "../db.ts";
import type { EventLease, EventQuery, EventRecord, EventStore, StoredEvent } from "./event-types.ts";
import { deleteInBatches } from "./knex-store.ts";

type Row = Record<string, unknown>;
type Wrap = <T>(what: string, work: () => Promise<T>) => Promise<T>;

const num = (value: unknown): number => (typeof value === "number" ? value : Number(value));

/** Rows per insert statement: 13 bindings a row stays under every dialect's limit on bindings. */
const INSERT_CHUNK = 2000;
/** Ids per `in (...)` list. */
const ID_CHUNK = 1000;

const COLUMNS = [
  "id",
  "task",
  "run_id",
  "type",
  "severity",
  "security",
  "data",
  "created_at",
  "state",
  "lease_owner",
  "lease_until",
  "attempts",
  "delivered_at",
] as const;

/**
 * One multi-row `insert ... values` for a chunk of rows (knex's own SQLite insert is a compound
 * select, limited to 500 rows).
 */
function insertSql(table: string, rows: readonly Row[], sqlite: boolean): { sql: string; bindings: Knex.RawBinding[] } {
  const tuple = `(${COLUMNS.map(() => "?").join(", ")})`;
  const bindings: Knex.RawBinding[] = [table, ...COLUMNS];
  for (const row of rows) {
    for (const column of COLUMNS) {
      const value = row[column];
      bindings.push((sqlite && typeof value === "boolean" ? Number(value) : value) as Knex.RawBinding);
    }
  }
  const sql = `insert into ?? (${COLUMNS.map(() => "??").join(", ")}) values ${rows.map(() => tuple).join(", ")}`;
  return { sql, bindings };
}

/** One outbox row for an event written under a lease. */
export function eventRow(event: StoredEvent, lease: EventLease): Row {
  return {
    id: event.id,
    task: event.task,
    run_id: event.runId,
    type: event.type,
    severity: event.severity,
    security: event.security,
    data: JSON.stringify(event.data),
    created_at: event.createdAt.getTime(),
    state: "pending",
    lease_owner: lease.owner,
    lease_until: lease.until.getTime(),
    attempts: 1,
    delivered_at: null,
  };
}

function toEvent(row: Row): StoredEvent {
  return {
    id: String(row.id),
    task: String(row.task),
    runId: String(row.run_id),
    type: String(row.type),
    severity: row.severity as StoredEvent["severity"],
    security: Boolean(num(row.security)),
    data: typeof row.data === "string" ? (JSON.parse(row.data) as Record<string, unknown>) : {},
    createdAt: new Date(num(row.created_at)),
  };
}

function toRecord(row: Row): EventRecord {
  return {
    ...toEvent(row),
    state: row.state as EventRecord["state"],
    attempts: num(row.attempts),
    deliveredAt: row.delivered_at === null || row.delivered_at === undefined ? null : new Date(num(row.delivered_at)),
  };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The outbox `<prefix>events` of a knex run store. */
export function knexEvents(db: Knex, prefix: string, dialect: SqlDialect, wrap: Wrap): EventStore {
  const table = `${prefix}events`;
  const events = () => db(table);
  const order = [
    { column: "created_at", order: "asc" as const },
    { column: "id", order: "asc" as const },
  ];
  return {
    write: (list, lease, trx) =>
      wrap("event write", async () => {
        const rows = list.map((event) => eventRow(event, lease));
        for (const chunk of chunks(rows, INSERT_CHUNK)) {
          const { sql, bindings } = insertSql(table, chunk, dialect === "sqlite");
          await (trx ?? db).raw(sql, bindings);
        }
      }),
    claimPending: (now, lease, limit) =>
      wrap("event sweep", async () => {
        const taken = { lease_owner: lease.owner, lease_until: lease.until.getTime(), attempts: db.raw("attempts + 1") };
        const due = (q: Knex.QueryBuilder) => q.where({ state: "pending" }).where("lease_until", "<", now.getTime());
        // A compare-and-set on the lease: a row another sweeper took meanwhile no longer matches.
        if (dialect === "mysql") {
          // MySQL cannot update a table from a subquery on itself. An update that walks the sweep
          // index locks its entries before the rows, the reverse of a delivery mark's update by id,
          // and three sweepers at once deadlocked: read the ids without locks, then set by primary key.
          // A sweeper that lost every id it read to another reads again.
          for (;;) {
            const ids = (await due(db(table).select("id")).orderBy(order).limit(limit)).map((row: Row) => row.id);
            if (ids.length === 0) break;
            const set = await retryDeadlocks(() => due(events().whereIn("id", ids)).update(taken));
            if (set > 0) break;
          }
        } else await due(events().whereIn("id", due(db(table).select("id")).orderBy(order).limit(limit))).update(taken);
        const rows = (await events().where({ lease_owner: lease.owner, state: "pending" }).orderBy(order)) as Row[];
        return rows.map(toEvent);
      }),
    markDelivered: (ids, at) =>
      wrap("event delivery mark", async () => {
        for (const chunk of chunks(ids, ID_CHUNK)) {
          await retryDeadlocks(() =>
            events().whereIn("id", chunk).update({ state: "delivered", delivered_at: at.getTime(), lease_owner: null, lease_until: null }),
          );
        }
      }),
    list: (query: EventQuery = {}) =>
      wrap("event list", async () => {
        const q = events()
          .select("*")
          .orderBy([
            { column: "created_at", order: "desc" },
            { column: "id", order: "desc" },
          ])
          .limit(query.limit ?? 100);
        if (query.task !== undefined) q.where({ task: query.task });
        if (query.since !== undefined) q.where("created_at", ">=", query.since.getTime());
        if (query.security) q.where({ security: true });
        return ((await q) as Row[]).map(toRecord);
      }),
    get: (id) =>
      wrap("event read", async () => {
        const row = (await events().where({ id }).first()) as Row | undefined;
        return row && toRecord(row);
      }),
    prune: (before, batchSize = 1000) =>
      wrap("event prune", () =>
        deleteInBatches(db, table, (q) => q.where({ state: "delivered" }).where("created_at", "<", before.getTime()), batchSize),
      ),
  };
}
