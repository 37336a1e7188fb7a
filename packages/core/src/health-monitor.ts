import type { Emitter } from "./events.ts";
import { decideHealth, graceAt, HEALTH_RUNS_READ, type HealthState, type TaskHealth } from "./health.ts";
import type { Logger } from "./logger.ts";
import type { RegisteredTask } from "./runner.ts";
import type { RunRecord, RunStore } from "./store/types.ts";

/**
 * The task with a schedule that answers each question once per health read: deciding the state,
 * the grace and the next run ask croner for the same few ticks up to seven times, at a few tenths
 * of a millisecond each, more than the read's statements cost.
 */
function withRememberedTicks(task: RegisteredTask): RegisteredTask {
  const { schedule } = task;
  const answers = new Map<string, Date | null>();
  const remember =
    (kind: string, ask: (at: Date) => Date | null) =>
    (at: Date): Date | null => {
      const key = `${kind}${at.getTime()}`;
      if (!answers.has(key)) answers.set(key, ask(at));
      return answers.get(key) ?? null;
    };
  return {
    ...task,
    schedule: {
      pattern: schedule.pattern,
      timezone: schedule.timezone,
      granularityMs: schedule.granularityMs,
      next: remember("n", (at) => schedule.next(at)),
      previous: remember("p", (at) => schedule.previous(at)),
      tickAt: remember("t", (at) => schedule.tickAt(at)),
    },
  };
}

/** States that page when entered, and that `task:recovered` ends. */
const ALERTS: ReadonlySet<string> = new Set<HealthState>(["late", "missed", "failing"]);

/**
 * Computes every task's health and announces transitions. The announced state lives in the store
 * and moves by compare-and-set, so of all the processes that sweep, one announces each transition.
 */
export class HealthMonitor {
  readonly #tasks: ReadonlyMap<string, RegisteredTask>;
  readonly #store: RunStore;
  readonly #clock: () => Date;
  readonly #emitter: Emitter;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<unknown> | undefined;

  constructor(options: {
    tasks: ReadonlyMap<string, RegisteredTask>;
    store: RunStore;
    clock: () => Date;
    emitter: Emitter;
    logger: Logger;
  }) {
    this.#tasks = options.tasks;
    this.#store = options.store;
    this.#clock = options.clock;
    this.#emitter = options.emitter;
    this.#logger = options.logger;
  }

  /**
   * Every task's health now, in registration order. Two statements for all the tasks (their
   * states, their latest tick runs), and a third only for tasks whose latest runs hold no success.
   */
  health(): Promise<TaskHealth[]> {
    return this.#read([...this.#tasks.values()], null);
  }

  /** One task's health, from that task's state and runs only. */
  async taskHealth(task: RegisteredTask): Promise<TaskHealth> {
    const [health] = await this.#read([task], task.definition.id);
    return health as TaskHealth;
  }

  async #read(tasks: readonly RegisteredTask[], one: string | null): Promise<TaskHealth[]> {
    const now = this.#clock();
    const ids = tasks.map((task) => task.definition.id);
    const [states, recent] = await Promise.all([
      one === null ? this.#store.taskStates() : this.#store.taskState(one).then((state) => new Map(state ? [[one, state]] : [])),
      this.#store.recentTickRuns(ids, HEALTH_RUNS_READ),
    ]);
    // The latest success is among the runs read unless they are a full page of anything else.
    const older = ids.filter((id) => {
      const runs = recent.get(id) ?? [];
      return runs.length === HEALTH_RUNS_READ && !runs.some((run) => run.status === "succeeded");
    });
    const successes = older.length > 0 ? await this.#store.lastSucceeded(older) : new Map<string, RunRecord>();
    return tasks.map((registered): TaskHealth => {
      const task = withRememberedTicks(registered);
      const id = task.definition.id;
      const state = states.get(id);
      const runs = recent.get(id) ?? [];
      return {
        id,
        ...decideHealth(task, state, runs, now),
        schedule: task.schedule.pattern,
        timezone: task.schedule.timezone,
        nextRun: task.enabled ? task.schedule.next(now) : null,
        graceMs: graceAt(task, now),
        lastRun: runs[0],
        lastSuccess: runs.find((run) => run.status === "succeeded") ?? successes.get(id),
        paused: state?.paused ? { at: state.pausedAt, reason: state.pausedReason } : null,
      };
    });
  }

  /**
   * One sweep: computes health, moves each task's announced state and emits `task:late`,
   * `task:missed` or `task:recovered` for the transitions this process won. `running` is not a
   * state of its own here: a late task whose run starts stays announced late until the run ends.
   */
  async check(): Promise<TaskHealth[]> {
    const all = await this.health();
    const states = await this.#store.taskStates();
    for (const health of all) {
      if (health.state === "running") continue;
      const state = states.get(health.id);
      if (!state) continue;
      const previous = state.announced as HealthState | null;
      if (previous === health.state) continue;
      if (!(await this.#store.announce(health.id, previous, health.state))) continue;
      const payload = { taskId: health.id, health, previous };
      if (health.state === "late") this.#emitter.emit("task:late", payload);
      else if (health.state === "missed") this.#emitter.emit("task:missed", payload);
      else if (health.state === "up" && previous !== null && ALERTS.has(previous)) this.#emitter.emit("task:recovered", payload);
      this.#logger.debug({ taskId: health.id, from: previous, to: health.state }, "[upkeep] task health changed");
    }
    return all;
  }

  /** Sweeps every `intervalMs` until `stop()`; a failed sweep is logged and the next one tries again. */
  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#sweeping !== undefined) return;
      this.#sweeping = this.check()
        .catch((error: unknown) => this.#logger.warn({ err: error }, "[upkeep] health sweep failed"))
        .finally(() => {
          this.#sweeping = undefined;
        });
    }, intervalMs);
    this.#timer.unref();
  }

  /** Stops sweeping and waits for a sweep in progress. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping;
  }
}
