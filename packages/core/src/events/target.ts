import type { TaskEvent } from "../task.ts";

/** An event as the outbox stored it: what a delivery target receives. */
export interface StoredEvent {
  /** Stable across redeliveries: receivers drop a repeat by it. */
  id: string;
  /** The id of the task that emitted it. */
  task: string;
  /** The run that emitted it, or null when it was written outside a run. */
  runId: string | null;
  /** A dotted name, such as `agent.suspended`. */
  type: string;
  severity: NonNullable<TaskEvent["severity"]>;
  /** Whether the task marked it a security event. */
  security: boolean;
  /** The event's data, as JSON. */
  data: unknown;
  /** When the event was written. */
  createdAt: Date;
}

/** Somewhere events go once written, besides the `upkeep.on` handlers (a webhook, a queue). */
export interface EventTarget {
  /** Unique among the configured targets; stored with each delivery. */
  readonly name: string;
  /**
   * Durably accepts the event (it may send it later); resolves once accepted. Does not throw for a
   * receiver's failure; rejects only when it could not accept the event.
   */
  accept(event: StoredEvent, signal: AbortSignal): Promise<void>;
  /** Called from the periodic sweep, so the target can retry its own backlog. */
  sweep?(now: Date, signal: AbortSignal): Promise<void>;
}
