import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Knex } from "knex";
import type { Duration } from "./duration.ts";
import { UpkeepError } from "./errors.ts";
import { newEventId } from "./event-id.ts";
import type { Emitter } from "./events.ts";
import type { Logger } from "./logger.ts";
import type { EventLease, EventQuery, EventRecord, EventStore, StoredEvent } from "./store/event-types.ts";
import type { RunRecord, RunStore } from "./store/types.ts";
import type { TaskEvent } from "./task.ts";

/**
 * Somewhere events go besides the `upkeep.on` handlers, such as a signed webhook. An event counts
 * as delivered once the handlers ran and every target accepted it.
 */
export interface EventTarget {
  /** Shown in logs, such as `webhook:alerts`. */
  readonly name: string;
  /**
   * Durably accept the event (may enqueue); resolve once accepted. Must not throw for a receiver
   * failure; rejects only if it could not accept (the event then stays pending and the next sweep
   * offers it again).
   */
  accept(event: StoredEvent, signal: AbortSignal): Promise<void>;
  /** Optional: called from the periodic sweep so the target can retry its own backlog. */
  sweep?(now: Date, signal: AbortSignal): Promise<void>;
}

/** The configuration's `events`. */
export interface EventsConfig {
  /** Where events go besides the `upkeep.on` handlers. @default [] */
  targets?: EventTarget[];
  /**
   * Delivered events older than this are deleted from `<prefix>events`, at most once an hour; 0
   * keeps all.
   * @default "90d"
   */
  retention?: Duration;
}

/** The outbox as `upkeep.events` offers it. */
export interface UpkeepEventsHandle {
  /** Events, newest first. */
  list(query?: EventQuery): Promise<EventRecord[]>;
  /** One event by its id, or undefined when there is none (or it was pruned). */
  get(id: string): Promise<EventRecord | undefined>;
  /**
   * Sends an event again to the handlers and every target, whatever its state.
   * @throws {UpkeepError} `EVENT_NOT_FOUND` for an unknown id.
   */
  redeliver(id: string): Promise<StoredEvent>;
  /**
   * Delivers every pending event whose lease ended (its writer died), as the periodic sweep does;
   * returns how many were delivered.
   */
  sweep(): Promise<number>;
}

const TYPE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const SEVERITIES = new Set(["info", "warning", "critical"]);
/** Largest `data` kept as is, serialised; a larger one is stored as `{ truncated, bytes }`. */
const DATA_LIMIT = 64 * 1024;
/** Events one sweep statement takes; the sweep goes on until none is left. */
const SWEEP_BATCH = 500;

export interface OutboxOptions {
  store: RunStore;
  emitter: Emitter;
  logger: Logger;
  clock: () => Date;
  leaseMs: number;
  targets: readonly EventTarget[];
}

/**
 * A copy of `data` when it is flat and JSON already (strings, finite numbers, booleans, null) and
 * clearly under the limit, as most events are: the same as the JSON round trip, without it.
 */
function flatCopy(data: object): Record<string, unknown> | undefined {
  const copy: Record<string, unknown> = {};
  let size = 0;
  for (const key in data) {
    if (!Object.hasOwn(data, key)) continue;
    if (key === "__proto__") return undefined;
    const value = (data as Record<string, unknown>)[key];
    if (typeof value === "string") size += value.length;
    else if (!(value === null || typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value)))) return undefined;
    size += key.length + 32;
    if (size > DATA_LIMIT / 8) return undefined;
    copy[key] = value;
  }
  return copy;
}

function serialiseData(data: unknown): Record<string, unknown> {
  if (data === undefined || data === null) return {};
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new UpkeepError("EVENT_INVALID", "event.data: expected an object");
  }
  if (Object.getPrototypeOf(data) === Object.prototype) {
    const flat = flatCopy(data);
    if (flat) return flat;
  }
  const text = JSON.stringify(data, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
  if (text.length > DATA_LIMIT) return { truncated: true, bytes: text.length };
  return JSON.parse(text) as Record<string, unknown>;
}

/**
 * The events outbox of one process: writes what tasks emit (in the task's transaction when it gives
 * one), delivers it after commit to the handlers and targets, and sweeps what a dead writer left.
 */
export class Outbox {
  readonly #options: OutboxOptions;
  /** Names this process as the holder of events it writes or sweeps; each lease adds a number of its own. */
  readonly #owner = `${hostname().slice(0, 20)}:${process.pid}:${randomBytes(8).toString("hex")}`;
  #leases = 0;

  constructor(options: OutboxOptions) {
    this.#options = options;
  }

  get #events(): EventStore | undefined {
    return this.#options.store.events;
  }

  /**
   * A lease with an owner of its own (at most 64 characters): the pending rows held under it are
   * exactly the ones one write or one sweep claim took, so they can be marked delivered by it.
   */
  #lease(): EventLease {
    this.#leases++;
    return {
      owner: `${this.#owner}:${this.#leases.toString(36)}`,
      until: new Date(this.#options.clock().getTime() + this.#options.leaseMs),
    };
  }

  /** The stored form of a task's events; throws `EVENT_INVALID` naming the field. */
  make(run: RunRecord, events: readonly TaskEvent[]): StoredEvent[] {
    const now = this.#options.clock();
    return events.map((event) => {
      if (typeof event?.type !== "string" || !TYPE.test(event.type)) {
        throw new UpkeepError("EVENT_INVALID", "event.type: expected a dotted name of letters, digits, '.', '_', ':' or '-', at most 128");
      }
      const severity = event.severity ?? "info";
      if (!SEVERITIES.has(severity)) throw new UpkeepError("EVENT_INVALID", "event.severity: expected info, warning or critical");
      return {
        id: newEventId(now.getTime()),
        task: run.taskId,
        runId: run.id,
        type: event.type,
        severity,
        security: event.security === true,
        data: serialiseData(event.data),
        createdAt: now,
      };
    });
  }

  /**
   * Writes the events as pending, held by this process under a lease of their own; with `trx`,
   * inside the host's transaction. Returns that lease (undefined when nothing was written).
   */
  async write(events: readonly StoredEvent[], trx?: Knex.Transaction): Promise<EventLease | undefined> {
    const store = this.#events;
    if (events.length === 0 || !store) return undefined;
    const lease = this.#lease();
    await store.write(events, lease, trx);
    return lease;
  }

  /**
   * Hands each event, in order, to the handlers (awaited; a handler that throws is logged) and to
   * every target, then marks delivered those every target accepted. An event a target could not
   * accept stays pending for the next sweep. `held` is the lease all of `events`, and only they, are
   * pending under (one write, one sweep claim): when every event went out, the store may mark them
   * by it in one statement rather than by id.
   */
  async deliver(run: RunRecord | undefined, events: readonly StoredEvent[], signal: AbortSignal, held?: EventLease): Promise<number> {
    const { emitter, targets, logger, clock } = this.#options;
    const delivered: string[] = [];
    for (const event of events) {
      if (run) {
        // Awaited only when someone listens: a pass of 10,000 events should not wait 20,000 times on nobody.
        if (emitter.has("event")) await emitter.emitAndWait("event", { run, event });
        if (event.security && emitter.has("security")) await emitter.emitAndWait("security", { run, event });
      } else {
        logger.warn(
          { eventId: event.id, runId: event.runId },
          "[upkeep] event delivered to targets only: its run is no longer in the history",
        );
      }
      let accepted = true;
      for (const target of targets) {
        try {
          await target.accept(event, signal);
        } catch (error) {
          accepted = false;
          logger.warn(
            { eventId: event.id, target: target.name, err: error },
            "[upkeep] an event target could not accept an event; it stays pending",
          );
        }
      }
      if (accepted) delivered.push(event.id);
    }
    if (delivered.length > 0) {
      await this.#events?.markDelivered(delivered, clock(), delivered.length === events.length ? held : undefined);
    }
    return delivered.length;
  }

  /** Delivers every pending event whose lease ended, batch by batch; then lets each target sweep. */
  async sweep(signal: AbortSignal): Promise<number> {
    const { store, targets, logger, clock } = this.#options;
    let delivered = 0;
    const events = this.#events;
    if (events) {
      const runs = new Map<string, RunRecord | undefined>();
      while (!signal.aborted) {
        const lease = this.#lease();
        const taken = await events.claimPending(clock(), lease, SWEEP_BATCH);
        const runIds = new Set(taken.map((event) => event.runId));
        for (const runId of runIds) {
          if (!runs.has(runId)) runs.set(runId, await store.get(runId));
        }
        // In order per task: a batch is oldest first, and each run's events go out in that order.
        for (const runId of runIds) {
          const own = taken.filter((event) => event.runId === runId);
          delivered += await this.deliver(runs.get(runId), own, signal, runIds.size === 1 ? lease : undefined);
        }
        // Not `< SWEEP_BATCH`: with several sweepers at once a batch can come back short while due
        // events remain; the loop ends on the first claim that finds none.
        if (taken.length === 0) break;
      }
      if (delivered > 0) logger.warn({ delivered }, "[upkeep] delivered events their writer left pending (its process died?)");
    }
    for (const target of targets) {
      if (!target.sweep || signal.aborted) continue;
      try {
        await target.sweep(clock(), signal);
      } catch (error) {
        logger.warn({ target: target.name, err: error }, "[upkeep] an event target's sweep failed");
      }
    }
    return delivered;
  }

  /** Sends one stored event again to the handlers and targets. */
  async redeliver(id: string, signal: AbortSignal): Promise<StoredEvent> {
    const record = await this.#events?.get(id);
    if (!record) throw new UpkeepError("EVENT_NOT_FOUND", `no event "${id}" in the outbox`);
    const { state: _state, attempts: _attempts, deliveredAt: _at, ...event } = record;
    await this.deliver(await this.#options.store.get(event.runId), [event], signal);
    return event;
  }

  /** Deletes delivered events created before `before`. */
  prune(before: Date): Promise<number> {
    return this.#events?.prune(before) ?? Promise.resolve(0);
  }
}

/**
 * The events of one run, delivered in the order they were emitted: each batch once it is written
 * (or, with a transaction, once that commits), never one whose transaction rolled back.
 */
export class RunEvents {
  readonly #outbox: Outbox;
  readonly #logger: Logger;
  readonly #signal: AbortSignal;
  #chain: Promise<void> = Promise.resolve();

  constructor(outbox: Outbox, logger: Logger, signal: AbortSignal) {
    this.#outbox = outbox;
    this.#logger = logger;
    this.#signal = signal;
  }

  /** What `ctx.emit` does: returns a promise only with `trx`. */
  emit(run: RunRecord, events: readonly TaskEvent[], trx?: Knex.Transaction): Promise<void> | undefined {
    const stored = this.#outbox.make(run, events);
    if (trx) {
      return this.#outbox.write(stored, trx).then((lease) => {
        this.#after(
          run,
          stored,
          trx.executionPromise.then(() => lease),
          true,
        );
      });
    }
    const written = this.#outbox.write(stored).catch((error: unknown) => {
      this.#logger.error(
        { err: error, events: stored.length },
        "[upkeep] events could not be written to the outbox; delivered from memory only",
      );
      return undefined;
    });
    this.#after(run, stored, written, false);
    return undefined;
  }

  /** Delivers `stored` once `ready` gives the lease they were written under (a rollback: never, when `transactional`). */
  #after(run: RunRecord, stored: StoredEvent[], ready: Promise<EventLease | undefined>, transactional: boolean): void {
    // Attached now, so a rollback is never an unhandled rejection.
    const outcome = ready.then(
      (lease) => ({ deliver: true, lease }),
      () => ({ deliver: !transactional, lease: undefined }),
    );
    this.#chain = this.#chain
      .then(async () => {
        const { deliver, lease } = await outcome;
        if (!deliver) return;
        await this.#outbox.deliver(run, stored, this.#signal, lease);
      })
      .catch((error: unknown) => {
        this.#logger.warn({ err: error }, "[upkeep] event delivery failed; the next sweep delivers what is pending");
      });
  }

  /** Resolves once every event emitted so far was delivered (or left for the sweep). */
  settled(): Promise<void> {
    return this.#chain;
  }
}
