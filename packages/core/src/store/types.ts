import type { OverlapPolicy, RunTrigger } from "../task.ts";
import type { EventStore } from "./event-types.ts";

/** The outcome of a run, or `running` while it goes on. */
export type RunStatus = "running" | "succeeded" | "failed" | "skipped" | "timed_out" | "interrupted" | "abandoned";

export const FINAL_STATUSES: readonly RunStatus[] = ["succeeded", "failed", "skipped", "timed_out", "interrupted", "abandoned"];

/** One row of the run history. Times are `Date`s; JSON results are parsed. */
export interface RunRecord {
  /** The run's id (a UUID). */
  id: string;
  /** The task's id. */
  taskId: string;
  /** The tick the run serves; for a manual run, when it was asked for. */
  scheduledFor: Date;
  /** What started it: `schedule`, `catch-up` or `manual`. */
  trigger: RunTrigger;
  /** Its outcome, or `running` while it goes on. */
  status: RunStatus;
  /** The attempt number, from 1; more after retries. */
  attempt: number;
  /** Whether it ran as a dry run (changing nothing). */
  dryRun: boolean;
  /** When a process claimed it. */
  claimedAt: Date;
  /** When it ended, or null while running. */
  finishedAt: Date | null;
  /** Until when the running process holds it; a run still `running` past it is abandoned. */
  leaseUntil: Date | null;
  /** How long it ran, or null while running. */
  durationMs: number | null;
  /** The task's return value (JSON), for a run that produced one. */
  result: unknown;
  /** Why a run was skipped, interrupted or timed out, or the error code of a failure. */
  reason: string | null;
  /** The error's message of a failed or timed-out run (never a secret), or null. */
  errorMessage: string | null;
  /** The error's stack of a failed run, or null. */
  errorStack: string | null;
  /** The host name of the process that ran it. */
  host: string;
  /** The process id that ran it. */
  pid: number;
}

/** A run to claim. */
export interface NewRun {
  /** The run's id (a UUID). */
  id: string;
  /** The task's id. */
  taskId: string;
  /** The tick the run serves; for a manual run, when it was asked for. */
  scheduledFor: Date;
  /** What starts it: `schedule`, `catch-up` or `manual`. */
  trigger: RunTrigger;
  /** Whether it runs as a dry run. */
  dryRun: boolean;
  /** When it is claimed. */
  claimedAt: Date;
  /** Until when the claiming process holds it; renewed while the run goes on. */
  leaseUntil: Date;
  /** The host name of the claiming process. */
  host: string;
  /** The claiming process's id. */
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
  // Field by field, not a spread: this is on every claim's path, and every record has one shape.
  return {
    id: run.id,
    taskId: run.taskId,
    scheduledFor: run.scheduledFor,
    trigger: run.trigger,
    dryRun: run.dryRun,
    claimedAt: run.claimedAt,
    leaseUntil: run.leaseUntil,
    host: run.host,
    pid: run.pid,
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

/**
 * What `claim` found: the run is ours (recorded `running`, or already `skipped` because the task's
 * overlap policy found a live run), another process holds this tick, or (`paused`) the tick is a
 * scheduled or catch-up one of a paused task, so nothing was recorded.
 */
export type ClaimResult =
  | {
      /** The run was claimed: this process runs it. */
      claimed: true;
      /** The run as recorded, `running`. */
      run: RunRecord;
    }
  | {
      /** The run was not claimed. */
      claimed: false;
      /** The run already recorded for this tick, or the `skipped` run recorded instead; absent when there is none. */
      existing: RunRecord | undefined;
      /** Set when the task is paused, which is why nothing was claimed. */
      paused?: {
        /** The reason given to `upkeep.pause`; null when none was given. */
        reason: string | null;
      };
    };

/** How a claim treats other runs of the same task. */
export interface ClaimOptions {
  /**
   * `skip`: when another run of the task is `running` with a lease live at `claimedAt` (and was
   * not claimed after this run's own lease would end: a clock that far ahead does not block it),
   * the run is recorded `skipped` in the same atomic step; claims of one task are serialised, so of two
   * racing claims one runs. `allow`: no check.
   * @default "allow"
   */
  overlap?: OverlapPolicy;
}

/** The reason a run skipped by the overlap check is stored with. */
export const OVERLAP_REASON = "overlap: a run of this task is still going";

/** The reason the abandoned-run sweep stores. */
export const ABANDONED_REASON = "lease expired without an outcome";

/** The record of a run the overlap check skipped at its claim. */
export function skippedRecord(run: NewRun): RunRecord {
  return { ...newRecord(run), status: "skipped", finishedAt: run.claimedAt, leaseUntil: null, reason: OVERLAP_REASON };
}

/**
 * A run as an operator should see it at `now`: one still `running` past its lease is `abandoned`
 * (its process died), even before a sweep has recorded it so.
 */
export function asSeenAt(run: RunRecord, now: Date): RunRecord {
  if (run.status !== "running" || run.leaseUntil === null || run.leaseUntil.getTime() >= now.getTime()) return run;
  return { ...run, status: "abandoned", reason: run.reason ?? ABANDONED_REASON };
}

/** How a run ended. */
export interface RunOutcome {
  /** How the run ended. */
  status: Exclude<RunStatus, "running">;
  /** When it ended. */
  finishedAt: Date;
  /** The attempt that ended it. */
  attempt: number;
  /** How long it ran. */
  durationMs: number | null;
  /** Already serialised JSON, or null. */
  result: string | null;
  /** Why it was skipped, interrupted or timed out, or the failure's error code. */
  reason: string | null;
  /** The error's message of a failed run (never a secret), or null. */
  errorMessage: string | null;
  /** The error's stack of a failed run, or null. */
  errorStack: string | null;
}

/**
 * upkeep's own record of a task, shared by every process on the store: the pause flag, since when
 * its ticks are expected to run, and the health state last announced by an event.
 */
export interface TaskState {
  /** The task's id. */
  taskId: string;
  /** Scheduled and catch-up ticks of a paused task are not run, on any host. */
  paused: boolean;
  /** When it was paused, or null. */
  pausedAt: Date | null;
  /** The reason given with the pause, or null. */
  pausedReason: string | null;
  /**
   * Ticks before this moment are not expected to have a run: set when a worker first schedules the
   * task and again when it is resumed. Null until a worker has scheduled it.
   */
  watchedSince: Date | null;
  /** The health state the last `task:*` transition announced, so each transition is announced once. */
  announced: string | null;
}

/** Which runs `RunStore.list` returns, newest first. */
export interface RunQuery {
  /** Only this task's runs. */
  taskId?: string;
  /** Only runs in this status. */
  status?: RunStatus;
  /** Most runs returned. @default 50 */
  limit?: number;
}

/**
 * Where run history lives. Implementations must make `claim` atomic across processes: two claims
 * with the same `(taskId, claimKey(run))` give one `claimed: true`.
 */
export interface RunStore {
  /** The store's kind, shown in logs and errors: `"memory"`, or `knex:` and the knex client (`knex:pg`). */
  readonly name: string;
  /** Creates or upgrades the store's tables. Safe to call from several processes at once. */
  migrate(): Promise<void>;
  /**
   * The names of the migrations `migrate()` would apply; empty when the schema is current. A store
   * without it is taken as current by `start()` with `autoMigrate: false`.
   */
  pendingMigrations?(): Promise<string[]>;
  /**
   * Claims the tick, with the overlap check of `options` and, for a scheduled or catch-up tick, the
   * task's pause flag in the same atomic step: a paused task's tick records nothing and gives
   * `paused`.
   */
  claim(run: NewRun, options?: ClaimOptions): Promise<ClaimResult>;
  /**
   * Marks at most `limit` runs of any task still `running` whose lease ended before `now` as
   * `abandoned`, in one bounded statement; returns how many it marked.
   */
  abandonExpired(now: Date, limit: number): Promise<number>;
  /** Extends a running run's lease; false when the run is no longer `running`. */
  renewLease(runId: string, leaseUntil: Date): Promise<boolean>;
  /** Records the attempt number of a run being retried. */
  setAttempt(runId: string, attempt: number): Promise<void>;
  /**
   * Records the outcome of a run that is still `running` (compare-and-set on the status): the
   * first outcome wins. Returns false when the run already had one, which stays.
   */
  finish(runId: string, outcome: RunOutcome): Promise<boolean>;
  /** One run by its id, or undefined. */
  get(runId: string): Promise<RunRecord | undefined>;
  /** The scheduled or catch-up run of a tick, when one exists. */
  findByTick(taskId: string, scheduledFor: Date): Promise<RunRecord | undefined>;
  /** Recent runs, newest first. */
  list(query?: RunQuery): Promise<RunRecord[]>;
  /** The newest run of each of these tasks; a task with none has no entry. */
  latestPerTask(taskIds: readonly string[]): Promise<Map<string, RunRecord>>;
  /**
   * The runs that count as each task's ticks (scheduled and catch-up, not dry runs), latest tick
   * first, at most `limit` per task; a task with none has no entry. Health reads every task with
   * this one call, so a store should answer it in a fixed number of statements, not one per task.
   */
  recentTickRuns(taskIds: readonly string[], limit: number): Promise<Map<string, RunRecord[]>>;
  /** The latest succeeded tick run of each task (scheduled or catch-up, not a dry run); a task with none has no entry. */
  lastSucceeded(taskIds: readonly string[]): Promise<Map<string, RunRecord>>;
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
  /**
   * The events outbox. A store without one delivers events from memory only: a process that dies
   * between a change and its delivery loses the event.
   */
  readonly events?: EventStore;
  /** Releases the store's own resources (never the host's knex). */
  close?(): Promise<void>;
}
