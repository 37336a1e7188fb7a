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
 * One multi-row `insert ... values` for a chunk of events, the bindings in `COLUMNS` order written
 * straight from the events (knex's own SQLite insert is a compound select, limited to 500 rows).
 */
function insertSql(
  table: string,
  events: readonly StoredEvent[],
  lease: EventLease,
  sqlite: boolean,
): { sql: string; bindings: Knex.RawBinding[] } {
  const tuple = `(${COLUMNS.map(() => "?").join(", ")})`;
  const bindings: Knex.RawBinding[] = [table, ...COLUMNS];
  const until = lease.until.getTime();
  for (const event of events) {
    bindings.push(
      event.id,
      event.task,
      event.runId,
      event.type,
      event.severity,
      sqlite ? Number(event.security) : event.security,
      JSON.stringify(event.data),
      event.createdAt.getTime(),
      "pending",
      lease.owner,
      until,
      1,
      null,
    );
  }
  const sql = `insert into ?? (${COLUMNS.map(() => "??").join(", ")}) values ${events.map(() => tuple).join(", ")}`;
  return { sql, bindings };
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
        for (const chunk of chunks(list, INSERT_CHUNK)) {
          const { sql, bindings } = insertSql(table, chunk, lease, dialect === "sqlite");
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
    markDelivered: (ids, at, held) =>
      wrap("event delivery mark", async () => {
        const delivered = { state: "delivered", delivered_at: at.getTime(), lease_owner: null, lease_until: null };
        if (held) {
          // Every event pending under this lease, by the lease: one statement on the sweep index
          // (state, lease_until), the owner naming exactly one write or one sweep claim. A row a
          // sweeper took meanwhile has its owner, not this one, and stays pending for it.
          await retryDeadlocks(() =>
            events().where({ state: "pending", lease_until: held.until.getTime(), lease_owner: held.owner }).update(delivered),
          );
          return;
        }
        for (const chunk of chunks(ids, ID_CHUNK)) {
          await retryDeadlocks(() => events().whereIn("id", chunk).update(delivered));
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
