import { memoryEvents } from "./memory-events.ts";
import {
  ABANDONED_REASON,
  type ClaimOptions,
  type ClaimResult,
  claimKey,
  type NewRun,
  newRecord,
  type RunOutcome,
  type RunQuery,
  type RunRecord,
  type RunStore,
  skippedRecord,
  type TaskState,
} from "./types.ts";

const keyOf = (taskId: string, key: string) => `${taskId}\u0000${key}`;

function parseResult(result: string | null): unknown {
  return result === null ? null : JSON.parse(result);
}

/** Scheduled and catch-up runs that are not dry runs: the runs health counts as a task's ticks. */
function isTickRun(run: RunRecord): boolean {
  return run.trigger !== "manual" && !run.dryRun;
}

function byLatestTick(a: RunRecord, b: RunRecord): number {
  return b.scheduledFor.getTime() - a.scheduledFor.getTime() || b.claimedAt.getTime() - a.claimedAt.getTime();
}

function byNewest(a: RunRecord, b: RunRecord): number {
  return b.claimedAt.getTime() - a.claimedAt.getTime() || (a.id < b.id ? 1 : -1);
}

/**
 * Run history in this process's memory: for tests and single-process hosts with no database.
 * It cannot de-duplicate runs across processes.
 */
export function memoryStore(): RunStore {
  const runs = new Map<string, RunRecord>();
  const ticks = new Map<string, string>();
  const states = new Map<string, TaskState>();
  /** The runs still `running`, per task: the overlap check and the sweep never walk the history. */
  const running = new Map<string, Set<RunRecord>>();
  const settled = (run: RunRecord) => {
    const set = running.get(run.taskId);
    set?.delete(run);
    if (set?.size === 0) running.delete(run.taskId);
  };
  const copy = (run: RunRecord): RunRecord => ({ ...run });
  const tickRuns = (taskId: string) => [...runs.values()].filter((run) => run.taskId === taskId && isTickRun(run)).sort(byLatestTick);
  const stateOf = (taskId: string): TaskState => {
    let state = states.get(taskId);
    if (!state) {
      state = { taskId, paused: false, pausedAt: null, pausedReason: null, watchedSince: null, announced: null };
      states.set(taskId, state);
    }
    return state;
  };
  /** Another run of the task holds a lease live at `run.claimedAt` (see `ClaimOptions.overlap`). */
  const hasLiveRun = (run: NewRun): boolean => {
    const at = run.claimedAt.getTime();
    for (const other of running.get(run.taskId) ?? []) {
      if (!other.leaseUntil) continue;
      if (other.leaseUntil.getTime() >= at && other.claimedAt.getTime() <= run.leaseUntil.getTime()) return true;
    }
    return false;
  };

  return {
    name: "memory",
    events: memoryEvents(),
    async migrate() {},
    async claim(run: NewRun, options: ClaimOptions = {}): Promise<ClaimResult> {
      const key = keyOf(run.taskId, claimKey(run));
      const existingId = ticks.get(key);
      const state = run.trigger === "manual" ? undefined : states.get(run.taskId);
      if (state?.paused) return { claimed: false, existing: undefined, paused: { reason: state.pausedReason } };
      if (existingId !== undefined) {
        const existing = runs.get(existingId);
        return { claimed: false, existing: existing && copy(existing) };
      }
      const record = options.overlap === "skip" && hasLiveRun(run) ? skippedRecord(run) : newRecord(run);
      runs.set(run.id, record);
      ticks.set(key, run.id);
      if (record.status === "running") {
        const set = running.get(run.taskId) ?? new Set();
        running.set(run.taskId, set.add(record));
      }
      return { claimed: true, run: copy(record) };
    },
    async abandonExpired(now, limit) {
      let marked = 0;
      for (const run of [...running.values()].flatMap((set) => [...set])) {
        if (marked >= limit) break;
        if (!run.leaseUntil || run.leaseUntil.getTime() >= now.getTime()) continue;
        Object.assign(run, { status: "abandoned", finishedAt: now, leaseUntil: null, reason: ABANDONED_REASON });
        settled(run);
        marked++;
      }
      return marked;
    },
    async renewLease(runId, leaseUntil) {
      const run = runs.get(runId);
      if (run?.status !== "running") return false;
      run.leaseUntil = leaseUntil;
      return true;
    },
    async setAttempt(runId, attempt) {
      const run = runs.get(runId);
      if (run) run.attempt = attempt;
    },
    async finish(runId, outcome: RunOutcome) {
      const run = runs.get(runId);
      if (run?.status !== "running") return false;
      Object.assign(run, { ...outcome, result: parseResult(outcome.result), leaseUntil: null });
      settled(run);
      return true;
    },
    async get(runId) {
      const run = runs.get(runId);
      return run && copy(run);
    },
    async findByTick(taskId, scheduledFor) {
      const id = ticks.get(keyOf(taskId, claimKey({ id: "", trigger: "schedule", scheduledFor })));
      const run = id === undefined ? undefined : runs.get(id);
      return run && copy(run);
    },
    async list(query: RunQuery = {}) {
      const limit = query.limit ?? 50;
      return [...runs.values()]
        .filter(
          (run) =>
            (query.taskId === undefined || run.taskId === query.taskId) && (query.status === undefined || run.status === query.status),
        )
        .sort(byNewest)
        .slice(0, limit)
        .map(copy);
    },
    async latestPerTask(taskIds) {
      const wanted = new Set(taskIds);
      const latest = new Map<string, RunRecord>();
      for (const run of [...runs.values()].sort(byNewest)) {
        if (wanted.has(run.taskId) && !latest.has(run.taskId)) latest.set(run.taskId, copy(run));
      }
      return latest;
    },
    async recentTickRuns(taskIds, limit) {
      const byTask = new Map<string, RunRecord[]>();
      for (const taskId of taskIds) {
        const list = tickRuns(taskId).slice(0, limit).map(copy);
        if (list.length > 0) byTask.set(taskId, list);
      }
      return byTask;
    },
    async lastSucceeded(taskIds) {
      const byTask = new Map<string, RunRecord>();
      for (const taskId of taskIds) {
        const run = tickRuns(taskId).find((candidate) => candidate.status === "succeeded");
        if (run) byTask.set(taskId, copy(run));
      }
      return byTask;
    },
    async taskState(taskId) {
      const state = states.get(taskId);
      return state && { ...state };
    },
    async taskStates() {
      return new Map([...states].map(([id, state]) => [id, { ...state }]));
    },
    async watchTasks(taskIds, at) {
      for (const id of taskIds) {
        const state = stateOf(id);
        state.watchedSince ??= at;
      }
    },
    async setPaused(taskId, pause, at) {
      const state = stateOf(taskId);
      if (pause) Object.assign(state, { paused: true, pausedAt: at, pausedReason: pause.reason });
      else if (state.paused) Object.assign(state, { paused: false, pausedAt: null, pausedReason: null, watchedSince: at });
    },
    async announce(taskId, from, to) {
      const state = states.get(taskId);
      if (!state || state.announced !== from) return false;
      state.announced = to;
      return true;
    },
    async prune(before) {
      let removed = 0;
      for (const run of [...runs.values()]) {
        if (run.status !== "running" && run.claimedAt.getTime() < before.getTime()) {
          runs.delete(run.id);
          ticks.delete(keyOf(run.taskId, claimKey(run)));
          removed++;
        }
      }
      return removed;
    },
  };
}
