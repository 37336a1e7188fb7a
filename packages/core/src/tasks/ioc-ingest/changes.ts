import type { Knex } from "knex";

// In-process notice that an ingest changed the indicators, so matchers on the same knex instance
// reload at once instead of waiting for their next poll.

type Listener = (db: Knex, tablePrefix: string) => void;

const listeners = new Set<Listener>();

/** Subscribes to ingest changes; returns the unsubscribe function. */
export function onIocChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Tells every matcher of this process that indicators under `tablePrefix` in `db` changed. */
export function notifyIocChange(db: Knex, tablePrefix: string): void {
  for (const listener of listeners) listener(db, tablePrefix);
}
