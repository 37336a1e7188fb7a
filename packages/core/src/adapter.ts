import type { AdapterDependency } from "./adapter-dependencies.ts";
import type { Logger } from "./logger.ts";
import type { RunRecord } from "./store/types.ts";

/** What started a run, as an adapter reports it to the runner. */
export interface Trigger {
  /**
   * The tick being served. Adapters that know it (a BullMQ job's timestamp) pass it; otherwise the
   * runner derives it from the schedule and the current time.
   */
  scheduledFor?: Date;
  /**
   * Serve `scheduledFor` as a missed tick (recorded with trigger `catch-up`), as `upkeep tick` does
   * for tasks with `catchUp`.
   * @default false
   */
  catchUp?: boolean;
}

/** One task as the adapter sees it. `execute` runs the whole core pipeline for a tick. */
export interface ScheduledJob {
  /** The task id, unique within a configuration. */
  readonly id: string;
  /** Normalised 5-field cron pattern. */
  readonly pattern: string;
  /** IANA timezone of the pattern. */
  readonly timezone: string;
  /** The next tick after `after`, computed by the core (adapters must not compute their own). */
  next(after: Date): Date | null;
  /**
   * The tick a firing at `at` serves: the latest tick at or before it, computed by the core. An
   * adapter woken by its own timer passes this as `scheduledFor`.
   */
  tickAt(at: Date): Date | null;
  /** Runs a tick through claim, overlap check, run and record. Never rejects. */
  execute(trigger?: Trigger): Promise<RunRecord | undefined>;
}

/** What an adapter can do, so the core and the CLI can adapt. */
export interface AdapterCapabilities {
  /** Fires ticks by itself while the process lives (croner, BullMQ); false for system cron. */
  inProcess: boolean;
  /** Spreads runs over several processes on its own (BullMQ workers). */
  distributed: boolean;
}

/** What the core hands an adapter once, before any `schedule` call. */
export interface AdapterContext {
  /** The configuration's logger, for the adapter's own lines. */
  logger: Logger;
}

/**
 * The contract between the core and a runtime. Adapters decide when and where a run starts; the
 * core runner decides everything else. Every method may be async; the core wraps each call and
 * turns failures into `AdapterError`.
 */
export interface Adapter {
  /** The adapter's name, such as `croner`; shown in logs and errors. */
  readonly name: string;
  /** What the runtime does by itself. */
  readonly capabilities: AdapterCapabilities;
  /**
   * The host packages the adapter loaded (`adapterDependency("bullmq", import.meta.url)`), checked
   * by `registerTasks`: a version outside the adapter's peer range is a `ConfigError`, a second copy
   * of a package core also loads (croner) a warning.
   * @default none, nothing is checked
   */
  readonly dependencies?: readonly AdapterDependency[];
  /** Called once by `registerTasks` before scheduling. */
  init?(context: AdapterContext): void | Promise<void>;
  /** Adds or replaces the job with this id. Calling it again for the same job must be harmless. */
  schedule(job: ScheduledJob): void | Promise<void>;
  /** Removes the job; unknown ids are ignored. */
  unschedule(id: string): void | Promise<void>;
  /**
   * Starts firing scheduled jobs. Every job of the configuration has been handed to `schedule`
   * before this call, so an adapter that persists schedules (BullMQ, a crontab) may remove the ones
   * whose ids it was not given: tasks removed from the configuration.
   */
  start(): void | Promise<void>;
  /** Stops firing new runs and releases resources within `timeoutMs`. Runs in flight are the core's. */
  stop(options: { timeoutMs: number }): void | Promise<void>;
}

/** The factory type every adapter exports: `cronerAdapter(options)`, `bullmqAdapter({ connection })`. */
export type AdapterFactory<Options = void> = Options extends void ? () => Adapter : (options: Options) => Adapter;
