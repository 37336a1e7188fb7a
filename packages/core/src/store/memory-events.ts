import type { EventRecord, EventStore, StoredEvent } from "./event-types.ts";

type MemoryRow = EventRecord & { leaseOwner: string | null; leaseUntil: number | null };

const stored = (row: MemoryRow): StoredEvent => ({
  id: row.id,
  task: row.task,
  runId: row.runId,
  type: row.type,
  severity: row.severity,
  security: row.security,
  data: { ...row.data },
  createdAt: row.createdAt,
});

/**
 * The outbox of the memory store: events live as long as the process. Events written with a
 * transaction appear only once it commits, and not at all if it rolls back.
 */
export function memoryEvents(): EventStore {
  const rows = new Map<string, MemoryRow>();
  const copy = (row: MemoryRow): EventRecord => ({
    ...stored(row),
    state: row.state,
    attempts: row.attempts,
    deliveredAt: row.deliveredAt,
  });
  const byAge = (a: EventRecord, b: EventRecord) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1);
  return {
    async write(events, lease, trx) {
      const keep = () => {
        for (const event of events) {
          rows.set(event.id, {
            ...event,
            state: "pending",
            attempts: 1,
            deliveredAt: null,
            leaseOwner: lease.owner,
            leaseUntil: lease.until.getTime(),
          });
        }
      };
      if (!trx) return keep();
      // The host's transaction is on another database, so nothing here can roll back with it: the
      // events are kept once it commits (before the writer delivers them: this reaction comes
      // first) and never if it rolls back. Memory dies with the process anyway, so what is lost
      // by a crash between the commit and this is what the memory store loses in any crash.
      trx.executionPromise.then(keep, () => {});
    },
    async claimPending(now, lease, limit) {
      const due = [...rows.values()]
        .filter((row) => row.state === "pending" && row.leaseUntil !== null && row.leaseUntil < now.getTime())
        .sort(byAge)
        .slice(0, limit);
      for (const row of due) Object.assign(row, { leaseOwner: lease.owner, leaseUntil: lease.until.getTime(), attempts: row.attempts + 1 });
      return due.map(stored);
    },
    async markDelivered(ids, at, held) {
      for (const id of ids) {
        const row = rows.get(id);
        // As the knex store does by the lease: a row another sweeper took meanwhile stays pending for it.
        if (!row || (held && (row.state !== "pending" || row.leaseOwner !== held.owner))) continue;
        Object.assign(row, { state: "delivered", deliveredAt: at, leaseOwner: null, leaseUntil: null });
      }
    },
    async list(query = {}) {
      return [...rows.values()]
        .filter(
          (row) =>
            (query.task === undefined || row.task === query.task) &&
            (query.since === undefined || row.createdAt.getTime() >= query.since.getTime()) &&
            (!query.security || row.security),
        )
        .sort((a, b) => byAge(b, a))
        .slice(0, query.limit ?? 100)
        .map(copy);
    },
    async get(id) {
      const row = rows.get(id);
      return row && copy(row);
    },
    async prune(before) {
      let removed = 0;
      for (const row of [...rows.values()]) {
        if (row.state === "delivered" && row.createdAt.getTime() < before.getTime()) {
          rows.delete(row.id);
          removed++;
        }
      }
      return removed;
    },
  };
}
