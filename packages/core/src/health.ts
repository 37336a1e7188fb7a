import type { RegisteredTask } from "./runner.ts";
import type { RunRecord, RunStatus, TaskState } from "./store/types.ts";

/**
 * A task's health, in the spirit of healthchecks.io:
 * - `new`: no worker has scheduled it yet, or no tick it was scheduled for has come;
 * - `up`: its latest finished tick run succeeded (or was skipped by the task);
 * - `running`: a tick run is going on;
 * - `late`: its latest tick has no run yet and the grace after it has passed;
 * - `missed`: the tick before the latest one got no run at all, its whole period passed;
 * - `failing`: its latest finished tick run failed, timed out or was abandoned;
 * - `paused`: paused with `upkeep.pause`; its ticks are not run;
 * - `disabled`: `enabled: false` in the configuration.
 * Manual runs and dry runs never count as a tick's run.
 */
export type HealthState = "new" | "up" | "running" | "late" | "missed" | "failing" | "paused" | "disabled";

/** The states `upkeep health` exits 1 for and a monitor should page on. */
export const UNHEALTHY_STATES: readonly HealthState[] = ["late", "missed", "failing"];

/** One task's health as `upkeep.health()` reports it. */
export interface TaskHealth {
  /** The task's id. */
  id: string;
  /** Its health state. */
  state: HealthState;
  /** One line saying why, for a table or a page. */
  detail: string;
  /** Its 5-field cron pattern. */
  schedule: string;
  /** The timezone its schedule is read in. */
  timezone: string;
  /** The tick the state is about (the late or missed one, or the one whose run decided it), when there is one. */
  tick: Date | null;
  /** Its next tick, or null when it has none or is disabled. */
  nextRun: Date | null;
  /** How long after a tick its run may start before the task is `late`. */
  graceMs: number;
  /** Finished tick runs that failed, timed out or were abandoned since the last success (within the runs read). */
  consecutiveFailures: number;
  /** The latest tick run (scheduled or catch-up, not a dry run). */
  lastRun: RunRecord | undefined;
  /** The latest succeeded tick run. */
  lastSuccess: RunRecord | undefined;
  /** Set while the task is paused. */
  paused: {
    /** When it was paused; null when the store did not record it. */
    at: Date | null;
    /** The reason given to `upkeep.pause`; null when none was given. */
    reason: string | null;
  } | null;
}

const FAILED: ReadonlySet<RunStatus> = new Set(["failed", "timed_out", "abandoned"]);
/** Outcomes that say nothing about the task's health: look at the run before. */
const NEUTRAL: ReadonlySet<RunStatus> = new Set(["skipped", "interrupted"]);
const MAX_GRACE_MS = 600_000;

/** How many tick runs health reads per task: enough to count a long streak of failures. */
export const HEALTH_RUNS_READ = 50;

/** The default grace after `tick`: the smaller of 10 % of the period that starts there and 10 minutes. */
export function defaultGrace(task: RegisteredTask, tick: Date): number {
  const next = task.schedule.next(tick);
  const period = next ? next.getTime() - tick.getTime() : MAX_GRACE_MS * 10;
  return Math.min(Math.floor(period / 10), MAX_GRACE_MS);
}

/** The grace that applies to the tick `now` belongs to: the task's `grace`, or `defaultGrace`. */
export function graceAt(task: RegisteredTask, now: Date): number {
  return task.graceMs ?? defaultGrace(task, task.schedule.tickAt(now) ?? now);
}

type Verdict = Pick<TaskHealth, "state" | "detail" | "tick" | "consecutiveFailures">;

/** The state from the finished runs, latest tick first: failing with its streak, up, or new. */
function fromOutcomes(runs: readonly RunRecord[], now: Date): Verdict {
  let failures = 0;
  let failed: RunRecord | undefined;
  for (const run of runs) {
    const status: RunStatus = run.status === "running" && (run.leaseUntil?.getTime() ?? 0) < now.getTime() ? "abandoned" : run.status;
    if (status === "running" || NEUTRAL.has(status)) continue;
    if (FAILED.has(status)) {
      failures++;
      failed ??= run;
      continue;
    }
    break;
  }
  if (failed) {
    const what = failed.errorMessage ?? failed.reason ?? failed.status;
    return {
      state: "failing",
      detail: `${failures} failed tick run${failures === 1 ? "" : "s"} in a row; last: ${failed.status}: ${what}`,
      tick: failed.scheduledFor,
      consecutiveFailures: failures,
    };
  }
  const latest = runs[0];
  if (!latest) return { state: "new", detail: "no tick run yet", tick: null, consecutiveFailures: 0 };
  return {
    state: "up",
    detail: `tick ${latest.scheduledFor.toISOString()} ${latest.status}`,
    tick: latest.scheduledFor,
    consecutiveFailures: 0,
  };
}

/**
 * Decides a task's state from its schedule, its shared state and its latest tick runs (latest
 * tick first). A pure function of its arguments, so every process computes the same state.
 */
export function decideHealth(task: RegisteredTask, state: TaskState | undefined, runs: readonly RunRecord[], now: Date): Verdict {
  if (!task.enabled) return { state: "disabled", detail: "enabled: false in the configuration", tick: null, consecutiveFailures: 0 };
  if (state?.paused) {
    const detail = `paused${state.pausedReason ? `: ${state.pausedReason}` : ""}`;
    return { state: "paused", detail, tick: null, consecutiveFailures: 0 };
  }
  const latest = runs[0];
  if (latest?.status === "running" && (latest.leaseUntil?.getTime() ?? 0) >= now.getTime()) {
    return {
      state: "running",
      detail: `tick ${latest.scheduledFor.toISOString()} running`,
      tick: latest.scheduledFor,
      consecutiveFailures: 0,
    };
  }
  const outcome = fromOutcomes(runs, now);
  const tick = task.schedule.tickAt(now);
  const since = state?.watchedSince;
  // A tick is only expected to have a run once a worker schedules the task (and not while paused).
  if (!tick || !since) return outcome;
  const runOf = (at: Date) => runs.find((run) => run.scheduledFor.getTime() === at.getTime());
  if (runOf(tick)) return outcome;
  const previous = task.schedule.previous(tick);
  if (previous && previous.getTime() >= since.getTime() && !runOf(previous)) {
    return { ...outcome, state: "missed", detail: `tick ${previous.toISOString()} passed with no run`, tick: previous };
  }
  const grace = graceAt(task, now);
  if (tick.getTime() >= since.getTime() && now.getTime() >= tick.getTime() + grace) {
    return { ...outcome, state: "late", detail: `tick ${tick.toISOString()} has not started within ${Math.round(grace / 1000)}s`, tick };
  }
  return outcome;
}
