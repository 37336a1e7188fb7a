import type { Adapter, ScheduledJob } from "./adapter.ts";
import { checkAdapterDependencies } from "./adapter-dependencies.ts";
import { configSchema, type TaskEntry, type UpkeepConfig } from "./config.ts";
import { createCrypto, type UpkeepCrypto } from "./crypto/crypto.ts";
import { parseDuration } from "./duration.ts";
import { AdapterError, ConfigError, type ConfigIssue, UpkeepError } from "./errors.ts";
import { Emitter, type UpkeepEventHandler, type UpkeepEventName } from "./events.ts";
import type { TaskHealth } from "./health.ts";
import { HealthMonitor } from "./health-monitor.ts";
import { childLogger, createJsonLogger, type Logger } from "./logger.ts";
import { Outbox, type UpkeepEventsHandle } from "./outbox.ts";
import { type RegisteredTask, Runner } from "./runner.ts";
import { createSchedule, type ScheduleOptions, SECOND_TICKS, scheduleProblem } from "./schedule.ts";
import { installStopOnSignals, type StopOnSignalsOptions } from "./stop-on-signals.ts";
import { knexStore } from "./store/knex-store.ts";
import { memoryStore } from "./store/memory-store.ts";
import { asSeenAt, type RunQuery, type RunRecord, type RunStore } from "./store/types.ts";
import { type AnyTaskDefinition, isTaskDefinition } from "./task.ts";
import { parseOrThrow, validateInput, validateInputOrThrow } from "./validate.ts";

/** A registered task as `upkeep.list()` shows it. */
export interface TaskInfo {
  /** The task's id. */
  id: string;
  /** The task's description. */
  description: string;
  /** Its 5-field cron pattern. */
  schedule: string;
  /** The timezone its schedule is read in. */
  timezone: string;
  /** Whether it is scheduled (a disabled task can still be run by hand). */
  enabled: boolean;
  /** The next tick, or null when the task is disabled or the pattern has none left. */
  nextRun: Date | null;
  /** The newest run in the history. */
  lastRun: RunRecord | undefined;
}

/** Options of a manual run. */
export interface RunOptions {
  /**
   * Overrides fields of the registered input (a shallow merge, or the task's `mergeInput`: cleanup's
   * guards only tighten), validated by the task's schema.
   */
  input?: Record<string, unknown>;
  /** Report what would change and change nothing. @default false */
  dryRun?: boolean;
  /**
   * Serve the tick the current minute belongs to, as a crontab line does, instead of a one-off
   * manual run; hosts running the same crontab then run each tick once.
   * @default false
   */
  scheduled?: boolean;
}

/** Options of `upkeep.pause`. */
export interface PauseOptions {
  /** Why, shown by `upkeep health` and the health state's detail (at most 500 characters). */
  reason?: string;
}

const REASON_MAX = 500;

/** A tick due at a moment, as `upkeep.due(at)` lists it. */
export interface DueTick {
  /** The task's job; `job.execute({ scheduledFor, catchUp })` runs the tick. */
  job: ScheduledJob;
  /** The tick that is due. */
  scheduledFor: Date;
  /** True for the latest missed tick of a `catchUp` task that has no run yet. */
  catchUp: boolean;
}

/** The handle `registerTasks` returns. */
export interface Upkeep {
  /**
   * Migrates (unless `autoMigrate: false`), schedules every enabled task, starts the adapter and the
   * abandoned-run sweep (once a lease length), runs catch-up.
   * @throws {UpkeepError} `NOT_MIGRATED` with `autoMigrate: false` when the schema is not current
   * (the message names the pending migrations and `upkeep migrate`); nothing is scheduled then.
   */
  start(): Promise<void>;
  /** Stops new runs, aborts those in flight, waits up to `timeout`, records the rest `interrupted`. */
  stop(options?: { timeout?: number }): Promise<void>;
  /**
   * Stops this process on SIGTERM or SIGINT: `stop({ timeout })`, then the host's `close` (its knex
   * pool, its Redis client), then `process.exit` with 0, or 1 when either failed. A second signal
   * exits at once with 128 + its number (143 for SIGTERM, 130 for SIGINT). A bare
   * `process.on("SIGTERM", () => upkeep.stop())` never exits: the listener replaces Node's default
   * exit and the host's pool keeps the process alive. Returns the function that removes the listeners.
   */
  stopOnSignals(options?: StopOnSignalsOptions): () => void;
  /**
   * Runs a task now, through the same pipeline as a scheduled run.
   * @throws {UpkeepError} `TASK_PAUSED` with `scheduled: true` when the task is paused (a manual run
   * of a paused task goes ahead).
   */
  run(id: string, options?: RunOptions): Promise<RunRecord>;
  /**
   * The registered tasks with their next run and last outcome (a last run still `running` past its
   * lease shows as `abandoned`).
   * @throws {UpkeepError} `STORE_FAILED` when the run store cannot be read (database down, not migrated).
   */
  list(): Promise<TaskInfo[]>;
  /**
   * Recent runs, newest first. A run still `running` past its lease shows as `abandoned` (its
   * process died), even before the sweep has recorded it so.
   */
  runs(query?: RunQuery): Promise<RunRecord[]>;
  /**
   * Every task's health state (new, up, running, late, missed, failing, paused, disabled) from its
   * schedule, its history and its shared state. Reads only.
   * @throws {UpkeepError} `STORE_FAILED` when the store cannot be read (database down, not migrated).
   */
  health(): Promise<TaskHealth[]>;
  /**
   * One task's health, the same as its entry in `health()`, read from that task's state and runs
   * only (a few indexed statements, whatever the number of tasks): for a page or a probe about one task.
   * @throws {UpkeepError} `TASK_NOT_FOUND` for an unknown id.
   * @throws {UpkeepError} `STORE_FAILED` when the store cannot be read (database down, not migrated).
   */
  taskHealth(id: string): Promise<TaskHealth>;
  /**
   * One health sweep, as a started instance makes every `healthInterval`: `health()`, then
   * `task:late`, `task:missed` and `task:recovered` for each transition no other process announced
   * first. `upkeep tick` calls it once a minute.
   */
  checkHealth(): Promise<TaskHealth[]>;
  /**
   * Pauses a task on every host that shares the store: its scheduled and catch-up ticks are not run
   * and not recorded until `resume`. Manual runs (`upkeep.run`) still work.
   * @throws {UpkeepError} `TASK_NOT_FOUND` for an unknown id.
   * @throws {ConfigError} when the reason is longer than 500 characters.
   */
  pause(id: string, options?: PauseOptions): Promise<void>;
  /**
   * Resumes a paused task; ticks from now on are expected to run again (those that fell while it was
   * paused never count as missed). Resuming a task that is not paused changes nothing.
   * @throws {UpkeepError} `TASK_NOT_FOUND` for an unknown id.
   */
  resume(id: string): Promise<void>;
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends UpkeepEventName>(event: E, handler: UpkeepEventHandler<E>): () => void;
  /** Applies upkeep's migrations; later runs and `start()` on this instance then skip the check. */
  migrate(): Promise<void>;
  /**
   * The ticks due in the minute `at` falls in, plus the latest earlier tick of each `catchUp` task
   * that has no run: what a system-cron line started every minute must run (`upkeep tick`).
   * Applies migrations first unless `autoMigrate: false`.
   */
  due(at: Date): Promise<DueTick[]>;
  /**
   * Envelope encryption with the configured KEK and the keyring in `db` (made on first access).
   * @throws {ConfigError} when the configuration has no `crypto` or no `db`.
   */
  readonly crypto: UpkeepCrypto;
  /**
   * The events outbox: list events, send one again, or deliver what a dead writer left pending
   * (as the periodic sweep does).
   */
  readonly events: UpkeepEventsHandle;
  /** The jobs as handed to the adapter, one per enabled task. */
  readonly jobs: readonly ScheduledJob[];
  /** The run store: the history and the claims. */
  readonly store: RunStore;
  /** The configuration's logger. */
  readonly logger: Logger;
}

function toEntry(item: unknown): TaskEntry | undefined {
  if (isTaskDefinition(item)) return { task: item };
  if (typeof item === "object" && item !== null && isTaskDefinition((item as TaskEntry).task)) return item as TaskEntry;
  return undefined;
}

function resolveTasks(config: UpkeepConfig, defaultTimezone: string, scheduleOptions: ScheduleOptions): Map<string, RegisteredTask> {
  const tasks = new Map<string, RegisteredTask>();
  const issues: ConfigIssue[] = [];
  config.tasks.forEach((item, index) => {
    const entry = toEntry(item);
    if (!entry) {
      issues.push({ path: `tasks.${index}`, message: "expected a task definition (defineTask or a built-in task) or { task, ... }" });
      return;
    }
    const definition: AnyTaskDefinition = entry.task;
    const where = `tasks.${definition.id}`;
    if (tasks.has(definition.id)) {
      issues.push({ path: `tasks.${index}.id`, message: `duplicate task id "${definition.id}"` });
      return;
    }
    if (definition.needsDb && !config.db) {
      issues.push({ path: where, message: `the ${definition.id} task needs the host's database: set db in the configuration` });
    }
    const pattern = entry.schedule ?? definition.schedule;
    const timezone = entry.timezone ?? definition.timezone ?? defaultTimezone;
    const problem = scheduleProblem(pattern, timezone, scheduleOptions);
    if (problem) {
      issues.push({ path: `${where}.${problem.includes("timezone") ? "timezone" : "schedule"}`, message: problem });
      return;
    }
    const timeoutMs = entry.timeout === undefined ? definition.timeoutMs : parseDuration(entry.timeout);
    if (timeoutMs === undefined || timeoutMs <= 0) {
      issues.push({ path: `${where}.timeout`, message: "expected a positive duration such as '15m'" });
      return;
    }
    const graceMs = entry.grace === undefined ? undefined : parseDuration(entry.grace);
    if (entry.grace !== undefined && (graceMs === undefined || graceMs < 0)) {
      issues.push({ path: `${where}.grace`, message: "expected a duration such as '5m'" });
      return;
    }
    const parsed = validateInput(definition.input, entry.input ?? definition.defaultInput ?? {}, `${where}.input`);
    if (!parsed.ok) {
      issues.push(...parsed.issues);
      return;
    }
    tasks.set(definition.id, {
      definition,
      input: parsed.value,
      schedule: createSchedule(pattern, timezone, scheduleOptions),
      enabled: entry.enabled ?? definition.enabled,
      timeoutMs,
      overlap: entry.overlap ?? definition.overlap,
      catchUp: entry.catchUp ?? definition.catchUp,
      graceMs,
    });
  });
  if (issues.length > 0) throw new ConfigError("invalid task configuration", issues);
  return tasks;
}

async function adapterCall<T>(adapter: Adapter, what: string, call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof AdapterError) throw error;
    throw new AdapterError(adapter.name, `${what} failed`, { cause: error });
  }
}

/**
 * Validates the configuration and every task's input, and returns the `Upkeep` handle. Nothing is
 * scheduled until `start()`.
 *
 * @throws {ConfigError} naming every invalid field (never its value).
 */
export function registerTasks(adapter: Adapter, config: UpkeepConfig): Upkeep {
  if (typeof adapter !== "object" || adapter === null || typeof adapter.schedule !== "function") {
    throw new ConfigError("invalid adapter", [{ path: "adapter", message: "expected an adapter such as cronerAdapter()" }]);
  }
  const options = parseOrThrow(configSchema, config, "upkeep config");
  const timezone = options.timezone ?? "UTC";
  if (scheduleProblem("* * * * *", timezone)) {
    throw new ConfigError("invalid upkeep config", [{ path: "timezone", message: "unknown IANA timezone" }]);
  }
  const seconds = (config as { [SECOND_TICKS]?: unknown })[SECOND_TICKS] === true;
  const tasks = resolveTasks(config, timezone, { seconds });
  const logger = config.logger ?? createJsonLogger();
  const dependencyIssues = checkAdapterDependencies(adapter, logger);
  if (dependencyIssues.length > 0) throw new ConfigError(`adapter ${adapter.name} cannot run with what is installed`, dependencyIssues);
  const store = config.store ?? (config.db ? knexStore(config.db, { tablePrefix: options.tablePrefix }) : memoryStore());
  const clock = config.clock ?? (() => new Date());
  const emitter = new Emitter(logger);
  const tablePrefix = options.tablePrefix ?? "upkeep_";
  let crypto: UpkeepCrypto | undefined;
  /** `upkeep.crypto`, made on first use; undefined when the configuration lacks `crypto` or `db`. */
  const configuredCrypto = (): UpkeepCrypto | undefined => {
    if (!crypto && config.crypto && config.db) crypto = createCrypto({ ...config.crypto, db: config.db, tablePrefix, clock });
    return crypto;
  };
  for (const [event, handler] of Object.entries(config.on ?? {})) {
    emitter.on(event as UpkeepEventName, handler as UpkeepEventHandler<UpkeepEventName>);
  }
  const leaseMs = parseDuration(options.lease ?? "30s") as number;
  const outbox = new Outbox({ store, emitter, logger, clock, leaseMs, targets: config.events?.targets ?? [] });
  const runner = new Runner({
    store,
    logger,
    emitter,
    clock,
    db: config.db,
    tablePrefix,
    crypto: configuredCrypto,
    leaseMs,
    abortGraceMs: parseDuration(options.abortGrace ?? "5s") as number,
    historyRetentionMs: parseDuration(options.historyRetention ?? "30d") as number,
    outbox,
    eventRetentionMs: parseDuration(options.events?.retention ?? "90d") as number,
  });
  const shutdownTimeoutMs = parseDuration(options.shutdownTimeout ?? "30s") as number;
  const healthIntervalMs = parseDuration(options.healthInterval ?? "1m") as number;
  const monitor = new HealthMonitor({ tasks, store, clock, emitter, logger });
  const autoMigrate = options.autoMigrate ?? true;

  const jobs: ScheduledJob[] = [...tasks.values()]
    .filter((task) => task.enabled)
    .map((task) => ({
      id: task.definition.id,
      pattern: task.schedule.pattern,
      timezone: task.schedule.timezone,
      next: (after: Date) => task.schedule.next(after),
      tickAt: (at: Date) => task.schedule.tickAt(at),
      execute: async (trigger = {}) => {
        try {
          return await runner.execute(task, { trigger: trigger.catchUp ? "catch-up" : "schedule", scheduledFor: trigger.scheduledFor });
        } catch (error) {
          logger.error({ taskId: task.definition.id, err: error }, "[upkeep] scheduled run could not be recorded");
          return undefined;
        }
      },
    }));

  // Migrated once per instance: an explicit migrate() counts, so the first run does not check again.
  let migrated: Promise<void> | undefined;
  const applyMigrations = () => {
    migrated = store.migrate().catch((error: unknown) => {
      migrated = undefined;
      throw error;
    });
    return migrated;
  };
  const ensureMigrated = () => (autoMigrate ? (migrated ?? applyMigrations()) : Promise.resolve());
  let state: "idle" | "started" | "stopped" = "idle";
  // Once per instance: from now on this process schedules the enabled tasks, so their ticks are expected.
  let watched: Promise<void> | undefined;
  const watch = () => {
    watched ??= store.watchTasks(
      jobs.map((job) => job.id),
      clock(),
    );
    return watched;
  };
  const taskOf = (id: string): RegisteredTask => {
    const task = tasks.get(id);
    if (!task) throw new UpkeepError("TASK_NOT_FOUND", `no task "${id}" is registered (known: ${[...tasks.keys()].join(", ") || "none"})`);
    return task;
  };

  const noEvents = () => new UpkeepError("STORE_FAILED", `the run store (${store.name}) keeps no events`);
  const events: UpkeepEventsHandle = {
    async list(query) {
      await ensureMigrated();
      return store.events ? store.events.list(query) : [];
    },
    async get(id) {
      await ensureMigrated();
      return store.events?.get(id);
    },
    async redeliver(id) {
      await ensureMigrated();
      if (!store.events) throw noEvents();
      return outbox.redeliver(id, new AbortController().signal);
    },
    async sweep() {
      await ensureMigrated();
      return runner.sweepEvents();
    },
  };

  const upkeep: Upkeep = {
    jobs,
    events,
    store,
    logger,
    get crypto() {
      const handle = configuredCrypto();
      if (handle) return handle;
      throw new ConfigError("upkeep.crypto is not configured", [
        { path: config.crypto ? "db" : "crypto", message: "upkeep.crypto needs both `db` and `crypto: { kek }`" },
      ]);
    },
    async migrate() {
      await applyMigrations();
    },
    async start() {
      if (state !== "idle") throw new UpkeepError("ALREADY_STARTED", "start() was already called on this instance");
      state = "started";
      try {
        await (autoMigrate ? ensureMigrated() : refuseStaleSchema());
      } catch (error) {
        state = "idle";
        throw error;
      }
      await verifyTasks();
      await watch();
      await adapterCall(adapter, "init", () => adapter.init?.({ logger }));
      for (const job of jobs) await adapterCall(adapter, `schedule(${job.id})`, () => adapter.schedule(job));
      await adapterCall(adapter, "start", () => adapter.start());
      runner.startSweeping();
      logger.info({ adapter: adapter.name, tasks: jobs.map((job) => job.id) }, "[upkeep] started");
      monitor.start(healthIntervalMs);
      await catchUp();
    },
    async stop(stopOptions = {}) {
      if (state === "stopped") return;
      state = "stopped";
      const timeoutMs = stopOptions.timeout ?? shutdownTimeoutMs;
      // The runner refuses new runs and aborts those in flight at once, while the adapter stops
      // firing: an adapter that waits for its own in-flight callbacks (BullMQ's worker.close)
      // would otherwise wait for runs nobody has told to stop yet.
      const shutdown = runner.shutdown(timeoutMs);
      await monitor.stop();
      let failure: unknown;
      try {
        await adapterCall(adapter, "stop", () => adapter.stop({ timeoutMs }));
      } catch (error) {
        failure = error;
      }
      const left = await shutdown;
      if (left.length > 0) logger.warn({ runIds: left }, "[upkeep] runs still going at the stop timeout were recorded interrupted");
      await store.close?.();
      if (failure !== undefined) throw failure;
      logger.info({}, "[upkeep] stopped");
    },
    stopOnSignals: (signalOptions) => installStopOnSignals((stopOptions) => upkeep.stop(stopOptions), logger, signalOptions),
    async run(id, runOptions = {}) {
      const task = taskOf(id);
      if (runner.stopping) throw new UpkeepError("NOT_STARTED", "this instance is stopping; no new runs");
      let input = task.input;
      if (runOptions.input !== undefined) {
        const merged = task.definition.mergeInput
          ? task.definition.mergeInput(task.input, runOptions.input)
          : { ...(task.input as Record<string, unknown>), ...runOptions.input };
        input = validateInputOrThrow(task.definition.input, merged, `input for task ${id}`, "input");
      }
      await ensureMigrated();
      const trigger = runOptions.scheduled ? "schedule" : "manual";
      if (runOptions.scheduled) {
        await watch();
        const taskState = await store.taskState(id);
        if (taskState?.paused) {
          throw new UpkeepError(
            "TASK_PAUSED",
            `task "${id}" is paused${taskState.pausedReason ? ` (${taskState.pausedReason})` : ""}; its ticks are not run`,
          );
        }
      }
      const record = await runner.execute(task, { trigger, input, dryRun: runOptions.dryRun });
      if (!record) throw new UpkeepError("NOT_STARTED", `task "${id}" has no tick to serve now`);
      return record;
    },
    async list() {
      // A store that cannot answer (database down, not migrated) is an error, not "never run".
      const latest = await store.latestPerTask([...tasks.keys()]);
      const now = clock();
      const last = (id: string) => {
        const run = latest.get(id);
        return run && asSeenAt(run, now);
      };
      return [...tasks.values()].map((task) => ({
        id: task.definition.id,
        description: task.definition.description,
        schedule: task.schedule.pattern,
        timezone: task.schedule.timezone,
        enabled: task.enabled,
        nextRun: task.enabled ? task.schedule.next(now) : null,
        lastRun: last(task.definition.id),
      }));
    },
    async runs(query) {
      const now = clock();
      return (await store.list(query)).map((run) => asSeenAt(run, now));
    },
    health: () => monitor.health(),
    taskHealth: async (id) => monitor.taskHealth(taskOf(id)),
    async checkHealth() {
      await ensureMigrated();
      return monitor.check();
    },
    async pause(id, pauseOptions = {}) {
      taskOf(id);
      const reason = pauseOptions.reason ?? null;
      if (reason !== null && (typeof reason !== "string" || reason.length > REASON_MAX)) {
        throw new ConfigError("invalid pause options", [{ path: "reason", message: `expected text of at most ${REASON_MAX} characters` }]);
      }
      await ensureMigrated();
      await store.setPaused(id, { reason }, clock());
      logger.info({ taskId: id, reason }, "[upkeep] task paused");
    },
    async resume(id) {
      taskOf(id);
      await ensureMigrated();
      await store.setPaused(id, null, clock());
      logger.info({ taskId: id }, "[upkeep] task resumed");
    },
    async due(at) {
      await ensureMigrated();
      await watch();
      const due: DueTick[] = [];
      for (const job of jobs) {
        const task = tasks.get(job.id) as RegisteredTask;
        const windowStart = Math.floor(at.getTime() / task.schedule.granularityMs) * task.schedule.granularityMs;
        const tick = task.schedule.next(new Date(windowStart - 1));
        if (tick && tick.getTime() <= at.getTime()) due.push({ job, scheduledFor: tick, catchUp: false });
        if (!task.catchUp) continue;
        const missed = task.schedule.previous(new Date(windowStart));
        if (missed && !(await store.findByTick(job.id, missed))) due.push({ job, scheduledFor: missed, catchUp: true });
      }
      return due;
    },
    on: (event, handler) => emitter.on(event, handler),
  };

  /** With `autoMigrate: false`, `start()` on a schema that is not current would fail every tick. */
  async function refuseStaleSchema() {
    const pending = (await store.pendingMigrations?.()) ?? [];
    if (pending.length === 0) return;
    throw new UpkeepError(
      "NOT_MIGRATED",
      `upkeep's tables (prefix ${tablePrefix}) are not migrated: ${pending.length} pending (${pending.join(", ")}). ` +
        "Run `upkeep migrate` (or `upkeep.migrate()`) before start(), or leave autoMigrate on",
    );
  }

  async function verifyTasks() {
    const issues: ConfigIssue[] = [];
    for (const task of tasks.values()) {
      const verify = task.definition.verify;
      if (!task.enabled || !verify) continue;
      const id = task.definition.id;
      const found = await verify({
        db: config.db,
        input: task.input,
        logger: childLogger(logger, { taskId: id }),
        crypto: configuredCrypto(),
        tablePrefix,
      });
      for (const issue of found) issues.push({ path: [`tasks.${id}.input`, issue.path].filter(Boolean).join("."), message: issue.message });
    }
    if (issues.length > 0) throw new ConfigError("invalid task configuration", issues);
  }

  async function catchUp() {
    const now = clock();
    for (const task of tasks.values()) {
      if (!task.enabled || !task.catchUp) continue;
      const tick = task.schedule.previous(now);
      if (!tick || (await store.findByTick(task.definition.id, tick))) continue;
      logger.info({ taskId: task.definition.id, scheduledFor: tick.toISOString() }, "[upkeep] catching up a missed tick");
      void runner.execute(task, { trigger: "catch-up", scheduledFor: tick }).catch((error: unknown) => {
        logger.error({ taskId: task.definition.id, err: error }, "[upkeep] catch-up run could not be recorded");
      });
    }
  }

  return upkeep;
}
