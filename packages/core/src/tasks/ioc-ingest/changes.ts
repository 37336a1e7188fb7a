// In-process notice that an ingest changed the indicators, so matchers in the same process reload
// at once instead of waiting for their next poll.

type Listener = (tablePrefix: string) => void;

const listeners = new Set<Listener>();

/** Subscribes to ingest changes; returns the unsubscribe function. */
export function onIocChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Tells every matcher of this process that indicators under `tablePrefix` changed. */
export function notifyIocChange(tablePrefix: string): void {
  for (const listener of listeners) listener(tablePrefix);
}
