import type { Knex } from "knex";

/** An event as the outbox keeps it: what a task emitted, with its stable id and where it came from. */
export interface StoredEvent {
  /**
   * Stable and unique (time-ordered, 26 characters): every delivery of this event carries the same
   * id, so a handler or receiver drops a repeat by it.
   */
  id: string;
  /** The task that emitted it. */
  task: string;
  /** The run that emitted it. */
  runId: string;
  /** A dotted name, such as `agent.suspended`. */
  type: string;
  /** How urgent the event is; `info` unless the task said otherwise. */
  severity: "info" | "warning" | "critical";
  /** Whether the task marked it a security event. */
  security: boolean;
  /** The event's fields as the task emitted them; an empty object when it gave none. */
  data: Record<string, unknown>;
  /** When the task emitted it. */
  createdAt: Date;
}

/** Delivery state of an outbox row. */
export type EventState = "pending" | "delivered";

/** An outbox row as `upkeep events` lists it. */
export interface EventRecord extends StoredEvent {
  /** Whether it is still waiting for delivery or has been delivered. */
  state: EventState;
  /** How many times a process took it for delivery (the writer's own delivery counts as one). */
  attempts: number;
  /** When it was delivered; null while it is pending. */
  deliveredAt: Date | null;
}

/** Who holds an event for delivery, and until when. */
export interface EventLease {
  /** An id naming the process that holds the event. */
  owner: string;
  /** When the lease ends and another process may take the event. */
  until: Date;
}

/** Filters of `EventStore.list`. */
export interface EventQuery {
  /** Only this task's events; absent, every task's. */
  task?: string;
  /** Events created at or after this moment. */
  since?: Date;
  /** Only security events. @default false */
  security?: boolean;
  /** Most events returned. @default 100 */
  limit?: number;
}

/**
 * The outbox of a run store: where emitted events are kept until they have been delivered, then
 * until their retention ends.
 */
export interface EventStore {
  /**
   * Writes events as `pending`, held by `lease` (the writer delivers them after commit). With `trx`
   * (the host's knex transaction on the store's database) they commit or roll back with it.
   */
  write(events: readonly StoredEvent[], lease: EventLease, trx?: Knex.Transaction): Promise<void>;
  /**
   * Takes up to `limit` pending events whose lease ended before `now` (their writer died, or a
   * sweeper did), oldest first, under `lease`; a compare-and-set, so two sweepers never take the
   * same event. Returns those taken, in order. Each claim comes with an owner of its own, so the
   * pending rows held under `lease.owner` are exactly the ones this claim took.
   */
  claimPending(now: Date, lease: EventLease, limit: number): Promise<StoredEvent[]>;
  /**
   * Marks the events delivered. With `held`, `ids` are all the events still pending under that
   * lease (one `write` or one `claimPending`, each with an owner of its own), and the store may
   * mark them by the lease in one statement instead of by id; an event another process took
   * meanwhile (its lease ended: it has a new owner) is left to that process.
   */
  markDelivered(ids: readonly string[], at: Date, held?: EventLease): Promise<void>;
  /** Events, newest first. */
  list(query?: EventQuery): Promise<EventRecord[]>;
  /** One event by its id, or undefined when there is none (or it was pruned). */
  get(id: string): Promise<EventRecord | undefined>;
  /** Deletes events created before `before`, in batches; returns how many went. */
  prune(before: Date, batchSize?: number): Promise<number>;
}
