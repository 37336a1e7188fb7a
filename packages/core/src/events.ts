import type { HealthState, TaskHealth } from "./health.ts";
import type { Logger } from "./logger.ts";
import type { StoredEvent } from "./store/event-types.ts";
import type { RunRecord } from "./store/types.ts";
import type { Progress } from "./task.ts";

/** The payload of `task:late`, `task:missed` and `task:recovered`. */
export interface TaskHealthEvent {
  /** The task whose health changed. */
  taskId: string;
  /** The health that caused the transition. */
  health: TaskHealth;
  /** The state announced before, or null for the first announcement. */
  previous: HealthState | null;
}

/** Every event `upkeep.on` can subscribe to, with its payload. */
export interface UpkeepEvents {
  /** A run was claimed and starts. */
  "run:start": {
    /** The run, as recorded when it was claimed. */
    run: RunRecord;
  };
  /** A run succeeded. */
  "run:success": {
    /** The run, as recorded when it succeeded. */
    run: RunRecord;
  };
  /** A run that ended `failed`, `timed_out`, `interrupted` or `abandoned`. */
  "run:failure": {
    /** The run, as recorded when it ended. */
    run: RunRecord;
    /** What the task threw; absent when the run was interrupted or abandoned without an error. */
    error?: unknown;
  };
  /** A run was recorded `skipped`: the overlap check found a run still going, or the task called `ctx.skip`. */
  "run:skipped": {
    /** The run recorded `skipped`. */
    run: RunRecord;
  };
  /** A run reported progress (`ctx.progress`). */
  "run:progress": {
    /** The running run. */
    run: RunRecord;
    /** The progress the task reported. */
    progress: Progress;
  };
  /**
   * Any event a task emitted, once its change committed; at least once, in order per task: drop a
   * repeat by `event.id`.
   */
  event: {
    /** The run that emitted the event. */
    run: RunRecord;
    /** The event as stored in the outbox. */
    event: StoredEvent;
  };
  /** Events a task emitted with `security: true`, as `event`. */
  security: {
    /** The run that emitted the event. */
    run: RunRecord;
    /** The security event as stored in the outbox. */
    event: StoredEvent;
  };
  /**
   * A task became `late`: its latest tick has no run past the grace. Fired once per transition by
   * the process whose health sweep noticed it first.
   */
  "task:late": TaskHealthEvent;
  /** A task became `missed`: a whole tick period passed with no run. Fired once per transition. */
  "task:missed": TaskHealthEvent;
  /** A task that was `late`, `missed` or `failing` is `up` again. Fired once per transition. */
  "task:recovered": TaskHealthEvent;
}

/** The name of an event `upkeep.on` can subscribe to. */
export type UpkeepEventName = keyof UpkeepEvents;
/** A handler of one event; its errors (thrown or rejected) are logged, never break the runner. */
export type UpkeepEventHandler<E extends UpkeepEventName> = (payload: UpkeepEvents[E]) => void | Promise<void>;

/** A small typed emitter whose handlers can never break the runner: their errors are logged. */
export class Emitter {
  readonly #handlers = new Map<UpkeepEventName, Set<(payload: never) => void | Promise<void>>>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  on<E extends UpkeepEventName>(event: E, handler: UpkeepEventHandler<E>): () => void {
    let set = this.#handlers.get(event);
    if (!set) {
      set = new Set();
      this.#handlers.set(event, set);
    }
    set.add(handler as (payload: never) => void);
    return () => set.delete(handler as (payload: never) => void);
  }

  emit<E extends UpkeepEventName>(event: E, payload: UpkeepEvents[E]): void {
    if (this.has(event)) void this.#call(event, payload);
  }

  /** Whether `event` has a handler now. */
  has(event: UpkeepEventName): boolean {
    return (this.#handlers.get(event)?.size ?? 0) > 0;
  }

  /** As `emit`, resolving once every handler has returned (or its promise settled). */
  emitAndWait<E extends UpkeepEventName>(event: E, payload: UpkeepEvents[E]): Promise<void> {
    return this.#call(event, payload);
  }

  #call<E extends UpkeepEventName>(event: E, payload: UpkeepEvents[E]): Promise<void> {
    const set = this.#handlers.get(event);
    if (!set) return Promise.resolve();
    const pending: Promise<unknown>[] = [];
    for (const handler of set) {
      const fail = (error: unknown) => this.#logger.error({ event, err: error }, "[upkeep] event handler threw");
      try {
        const result = (handler as UpkeepEventHandler<E>)(payload);
        if (result instanceof Promise) pending.push(result.catch(fail));
      } catch (error) {
        fail(error);
      }
    }
    return pending.length === 0 ? Promise.resolve() : Promise.all(pending).then(() => undefined);
  }
}
