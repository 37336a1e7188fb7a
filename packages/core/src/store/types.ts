import type { RunTrigger } from "../task.ts";

/** The outcome of a run, or `running` while it goes on. */
export type RunStatus = "running" | "succeeded" | "failed" | "skipped" | "timed_out" | "interrupted" | "abandoned";

export const FINAL_STATUSES: readonly RunStatus[] = ["succeeded", "failed", "skipped", "timed_out", "interrupted", "abandoned"];

/** One row of the run history. Times are `Date`s; JSON results are parsed. */
export interface RunRecord {
  id: string;
  taskId: string;
  scheduledFor: Date;
  trigger: RunTrigger;
  status: RunStatus;
  attempt: number;
  dryRun: boolean;
  claimedAt: Date;
  finishedAt: Date | null;
  leaseUntil: Date | null;
  durationMs: number | null;
  /** The task's return value (JSON), for a run that produced one. */
  result: unknown;
  /** Why a run was skipped, interrupted or timed out, or the error code of a failure. */
  reason: string | null;
  errorMessage: string | null;
  errorStack: string | null;
  host: string;
  pid: number;
}

/** A run to claim. */
export interface NewRun {
  id: string;
  taskId: string;
  scheduledFor: Date;
  trigger: RunTrigger;
  dryRun: boolean;
  claimedAt: Date;
  leaseUntil: Date;
  host: string;
  pid: number;
}

/**
 * The key a claim is unique on, per task. Scheduled and catch-up runs of one tick share
 * `tick:<epoch ms>`, so only one process wins it; manual runs never collide with a tick or with
 * each other.
 */
export function claimKey(run: Pick<NewRun, "id" | "trigger" | "scheduledFor">): string {
  return run.trigger === "manual" ? `manual:${run.id}` : `tick:${run.scheduledFor.getTime()}`;
}

/** The record of a run just claimed, before it has an outcome. */
export function newRecord(run: NewRun): RunRecord {
  return {
    ...run,
    status: "running",
    attempt: 1,
    finishedAt: null,
    durationMs: null,
    result: null,
    reason: null,
    errorMessage: null,
    errorStack: null,
  };
}

/** What `claim` found: the run is ours, or another process holds this tick. */
export type ClaimResult = { claimed: true; run: RunRecord } | { claimed: false; existing: RunRecord | undefined };

/** How a run ended. */
export interface RunOutcome {
  status: Exclude<RunStatus, "running">;
  finishedAt: Date;
  attempt: number;
  durationMs: number | null;
  /** Already serialised JSON, or null. */
  result: string | null;
  reason: string | null;
  errorMessage: string | null;
  errorStack: string | null;
}

/**
 * upkeep's own record of a task, shared by every process on the store: the pause flag, since when
 * its ticks are expected to run, and the health state last announced by an event.
 */
export interface TaskState {
  taskId: string;
  /** Scheduled and catch-up ticks of a paused task are not run, on any host. */
  paused: boolean;
  pausedAt: Date | null;
  pausedReason: string | null;
  /**
   * Ticks before this moment are not expected to have a run: set when a worker first schedules the
   * task and again when it is resumed. Null until a worker has scheduled it.
   */
  watchedSince: Date | null;
  /** The health state the last `task:*` transition announced, so each transition is announced once. */
  announced: string | null;
}

export interface RunQuery {
  taskId?: string;
  status?: RunStatus;
  /** @default 50 */
  limit?: number;
}

/**
 * Where run history lives. Implementations must make `claim` atomic across processes: two claims
 * with the same `(taskId, claimKey(run))` give one `claimed: true`.
 */
export interface RunStore {
  readonly name: string;
  /** Creates or upgrades the store's tables. Safe to call from several processes at once. */
  migrate(): Promise<void>;
  /**
   * The names of the migrations `migrate()` would apply; empty when the schema is current. A store
   * without it is taken as current by `start()` with `autoMigrate: false`.
   */
  pendingMigrations?(): Promise<string[]>;
  claim(run: NewRun): Promise<ClaimResult>;
  /**
   * Whether another run of the task holds a live lease and was claimed before `run` (earlier
   * `claimedAt`, ties broken by id), so exactly one of two racing claims goes ahead.
   */
  hasEarlierLiveRun(run: RunRecord, now: Date): Promise<boolean>;
  /** Marks the task's running runs whose lease ended before `now` as `abandoned`; returns their ids. */
  abandonExpired(taskId: string, now: Date): Promise<string[]>;
  /** Extends a running run's lease; false when the run is no longer `running`. */
  renewLease(runId: string, leaseUntil: Date): Promise<boolean>;
  /** Records the attempt number of a run being retried. */
  setAttempt(runId: string, attempt: number): Promise<void>;
  finish(runId: string, outcome: RunOutcome): Promise<void>;
  get(runId: string): Promise<RunRecord | undefined>;
  /** The scheduled or catch-up run of a tick, when one exists. */
  findByTick(taskId: string, scheduledFor: Date): Promise<RunRecord | undefined>;
  /** Recent runs, newest first. */
  list(query?: RunQuery): Promise<RunRecord[]>;
  /** The newest run of each task. */
  latestPerTask(): Promise<Map<string, RunRecord>>;
  /**
   * The runs that count as a task's ticks (scheduled and catch-up, not dry runs), latest tick
   * first, at most `limit`.
   */
  recentTickRuns(taskId: string, limit: number): Promise<RunRecord[]>;
  /** The latest succeeded tick run of a task (scheduled or catch-up, not a dry run). */
  lastSucceeded(taskId: string): Promise<RunRecord | undefined>;
  /** The state of one task; undefined when no process has scheduled, paused or resumed it. */
  taskState(taskId: string): Promise<TaskState | undefined>;
  /** The state of every task that has one. */
  taskStates(): Promise<Map<string, TaskState>>;
  /** Records that the tasks are scheduled from `at` on, for those that have no state yet. */
  watchTasks(taskIds: readonly string[], at: Date): Promise<void>;
  /** Sets (`pause` given) or clears (`null`) the pause flag. Resuming also restarts `watchedSince` at `at`. */
  setPaused(taskId: string, pause: { reason: string | null } | null, at: Date): Promise<void>;
  /**
   * Compare-and-set of the announced health state: true for the one caller that moved it from
   * `from` to `to`, false when another process announced first.
   */
  announce(taskId: string, from: string | null, to: string): Promise<boolean>;
  /** Deletes finished runs claimed before `before`, in batches; returns how many went. */
  prune(before: Date, batchSize?: number): Promise<number>;
  /** Releases the store's own resources (never the host's knex). */
  close?(): Promise<void>;
}
