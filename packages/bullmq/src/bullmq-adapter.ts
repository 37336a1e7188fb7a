import {
  type Adapter,
  AdapterError,
  type AdapterFactory,
  adapterDependency,
  type Duration,
  type Logger,
  parseDuration,
  type ScheduledJob,
} from "@upkeep/core";
import { type ConnectionOptions, type Job, Queue, Worker } from "bullmq";

/**
 * The part of an ioredis connection (`Redis` of ioredis 5 or 6) the adapter uses itself; BullMQ gets
 * the same object. Typed by shape, so either major's `Redis` fits.
 */
export interface RedisConnection {
  /** The options the connection was made with; a worker needs `maxRetriesPerRequest: null`. */
  readonly options: {
    /** ioredis' retry limit per command; `null` (retry forever) is what a BullMQ worker needs. */
    readonly maxRetriesPerRequest?: number | null;
  };
  /** A new connection with the same options (BullMQ opens its blocking connections with it). */
  duplicate(...args: never[]): unknown;
  /** Sets a key. */
  set(key: string, value: string): Promise<unknown>;
  /** Sets a key only when it does not exist. */
  set(key: string, value: string, nx: "NX"): Promise<unknown>;
  /** Listens for the connection becoming ready. */
  on(event: "ready", listener: () => void): unknown;
  /** Stops listening for the connection becoming ready. */
  off(event: "ready", listener: () => void): unknown;
}

/** Options of `bullmqAdapter`. */
export interface BullmqAdapterOptions {
  /**
   * The host's ioredis connection. A process that runs a worker needs `maxRetriesPerRequest: null`
   * on it (BullMQ workers hold blocking commands). upkeep never closes it.
   */
  connection: RedisConnection;
  /**
   * The BullMQ queue the schedulers and workers share.
   * @default "upkeep"
   */
  queueName?: string;
  /**
   * BullMQ's key prefix in Redis.
   * @default "bull"
   */
  prefix?: string;
  /**
   * Run a `Worker` in this process. Turn it off in a process that only keeps the schedulers.
   * @default true
   */
  worker?: boolean;
  /**
   * Keep the job schedulers at `start()`: upsert each task's scheduler whose pattern or timezone
   * changed and remove the schedulers of tasks no longer registered. Turn it off in worker-only
   * processes when one deploy step owns the schedule.
   * @default true
   */
  scheduler?: boolean;
  /**
   * How often a scheduler-keeping process (`scheduler: true`) checks that Redis still holds the
   * schedulers, and re-creates them if Redis lost its data (a restart without persistence, a
   * failover to an empty replica, a `FLUSHDB`). The check also runs whenever the connection
   * becomes ready again. It reads one marker key; `false` turns the periodic check off.
   * @default "1m"
   */
  reconcileEvery?: Duration | false;
  /**
   * Jobs one worker runs at once. Keep it above one: a tick that arrives while the previous run of
   * the same task goes on must reach the runner to be recorded `skipped`.
   * @default 8
   */
  concurrency?: number;
  /**
   * How many finished jobs BullMQ keeps in Redis; run history lives in the run store.
   * @default { completed: 100, failed: 500 }
   */
  keep?: {
    /** Completed jobs kept. @default 100 */
    completed?: number;
    /** Failed jobs kept. @default 500 */
    failed?: number;
  };
}

/** The BullMQ adapter, with its queue once started (for diagnostics and tests). */
export interface BullmqAdapter extends Adapter {
  /** The queue, from `start()` until `stop()`. */
  readonly queue: Queue | undefined;
}

const ADAPTER = "bullmq";

/**
 * Why a connection cannot serve a worker, or undefined. ioredis retries a command 20 times by
 * default and then rejects it, which breaks the blocking commands a BullMQ worker waits on.
 */
function connectionProblem(connection: RedisConnection): string | undefined {
  if (typeof connection !== "object" || connection === null || typeof connection.duplicate !== "function") {
    return "connection: expected an ioredis instance, such as new Redis(url, { maxRetriesPerRequest: null })";
  }
  if (connection.options?.maxRetriesPerRequest !== null) {
    return "connection: a BullMQ worker needs maxRetriesPerRequest: null on its ioredis connection (new Redis(url, { maxRetriesPerRequest: null }))";
  }
  return undefined;
}

/**
 * The distributed adapter: one BullMQ job scheduler per task, and a `Worker` that hands each job to
 * the runner. Scale out by starting more worker processes; the runner's claim makes a job that
 * BullMQ runs twice (a stalled job) harmless.
 *
 * @throws {AdapterError} when a worker would run on a connection without `maxRetriesPerRequest: null`.
 */
export function bullmqAdapter(options: BullmqAdapterOptions): BullmqAdapter {
  const runsWorker = options.worker ?? true;
  const keepsSchedule = options.scheduler ?? true;
  const problem = runsWorker ? connectionProblem(options.connection) : undefined;
  if (problem) throw new AdapterError(ADAPTER, problem);
  const queueName = options.queueName ?? "upkeep";
  const prefix = options.prefix ?? "bull";
  const removeOnComplete = options.keep?.completed ?? 100;
  const removeOnFail = options.keep?.failed ?? 500;
  const reconcileMs = options.reconcileEvery === false ? undefined : parseDuration(options.reconcileEvery ?? "1m");
  if (options.reconcileEvery !== false && (reconcileMs === undefined || reconcileMs <= 0)) {
    throw new AdapterError(ADAPTER, 'reconcileEvery: expected a positive duration such as 60_000 or "1m", or false');
  }
  // Set at each full reconcile, before it writes, so a loss after that point deletes it too.
  const markerKey = `${prefix}:${queueName}:upkeep-schedulers`;
  const jobs = new Map<string, ScheduledJob>();
  let logger: Logger | undefined;
  let queue: Queue | undefined;
  let worker: Worker | undefined;
  let timer: NodeJS.Timeout | undefined;
  let checking: Promise<void> | undefined;
  /** Whether this process's last reconcile completed; a failed one is retried at the next check. */
  let reconciled = false;

  async function upsert(job: ScheduledJob): Promise<void> {
    await queue?.upsertJobScheduler(
      job.id,
      { pattern: job.pattern, tz: job.timezone },
      { name: job.id, data: {}, opts: { removeOnComplete, removeOnFail } },
    );
  }

  /** Upserts what changed and removes what is gone; a redeploy with the same tasks writes nothing. */
  async function reconcile(current: Queue): Promise<void> {
    const existing = await current.getJobSchedulers(0, -1);
    const byId = new Map(existing.map((scheduler) => [scheduler.key, scheduler]));
    for (const job of jobs.values()) {
      const scheduler = byId.get(job.id);
      const opts = scheduler?.template?.opts;
      const same =
        scheduler !== undefined &&
        scheduler.pattern === job.pattern &&
        scheduler.tz === job.timezone &&
        opts?.removeOnComplete === removeOnComplete &&
        opts?.removeOnFail === removeOnFail;
      if (!same) await upsert(job);
    }
    for (const id of byId.keys()) {
      if (!jobs.has(id)) {
        await current.removeJobScheduler(id);
        logger?.info({ taskId: id }, "[upkeep] [bullmq] removed the scheduler of a task no longer registered");
      }
    }
  }

  /** Marks the schedule as kept, then upserts what changed and removes what is gone. */
  async function reassert(current: Queue): Promise<void> {
    reconciled = false;
    await options.connection.set(markerKey, new Date().toISOString());
    await reconcile(current);
    reconciled = true;
  }

  /**
   * Re-creates the schedulers if Redis lost them. The marker is gone only when Redis lost data
   * (schedulers a newer deploy removed on purpose leave it in place, so they stay removed); one
   * `SET NX` both tests it and claims the re-creation, so of several processes one re-creates.
   * Concurrent upserts of one scheduler still leave one scheduler and one pending iteration.
   */
  async function check(): Promise<void> {
    const current = queue;
    if (!current) return;
    const lost = (await options.connection.set(markerKey, new Date().toISOString(), "NX")) === "OK";
    if (!lost && reconciled) return;
    if (lost)
      logger?.warn({ queueName, prefix }, "[upkeep] [bullmq] the schedulers are gone from Redis (data lost or flushed); re-creating them");
    await reassert(current);
  }

  /** Runs one check at a time; a failure is logged and retried at the next one. */
  function checkSoon(): void {
    checking ??= check()
      .catch((error: unknown) => {
        reconciled = false;
        logger?.error({ err: error }, "[upkeep] [bullmq] checking the schedulers in Redis failed; trying again at the next check");
      })
      .finally(() => {
        checking = undefined;
      });
  }

  async function handle(bullJob: Job): Promise<{ runId: string; status: string } | null> {
    const job = jobs.get(bullJob.name);
    if (!job) {
      logger?.warn({ taskId: bullJob.name }, "[upkeep] [bullmq] a job for a task this process does not know: ignored");
      return null;
    }
    // The scheduler's timestamp for this iteration; the core snaps it to its own tick, so every
    // adapter claims the same tick for the same moment.
    const at = new Date(bullJob.opts.prevMillis ?? bullJob.timestamp + (bullJob.delay ?? 0));
    const run = await job.execute({ scheduledFor: job.tickAt(at) ?? at });
    return run ? { runId: run.id, status: run.status } : null;
  }

  async function closeWithin<T>(closing: Promise<T>, timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([closing.then(() => true), limit]);
    } finally {
      clearTimeout(timer);
    }
  }

  const bullmq = adapterDependency("bullmq", import.meta.url);
  return {
    name: ADAPTER,
    capabilities: { inProcess: true, distributed: true },
    dependencies: bullmq ? [bullmq] : [],
    get queue() {
      return queue;
    },
    init(context) {
      logger = context.logger;
    },
    async schedule(job) {
      jobs.set(job.id, job);
      if (queue && keepsSchedule) await upsert(job);
    },
    async unschedule(id) {
      jobs.delete(id);
      if (queue && keepsSchedule) await queue.removeJobScheduler(id);
    },
    async start() {
      queue = new Queue(queueName, { connection: options.connection as ConnectionOptions, prefix });
      queue.on("error", (error) => logger?.error({ err: error }, "[upkeep] [bullmq] queue error"));
      if (keepsSchedule) {
        await reassert(queue);
        // ioredis emits "ready" after every reconnect, such as to a Redis that restarted empty.
        options.connection.on("ready", checkSoon);
        if (reconcileMs !== undefined) timer = setInterval(checkSoon, reconcileMs).unref();
      }
      if (runsWorker) {
        worker = new Worker(queueName, handle, {
          connection: options.connection as ConnectionOptions,
          prefix,
          concurrency: options.concurrency ?? 8,
        });
        worker.on("error", (error) => logger?.error({ err: error }, "[upkeep] [bullmq] worker error"));
      }
    },
    async stop({ timeoutMs }) {
      clearInterval(timer);
      timer = undefined;
      options.connection.off("ready", checkSoon);
      const current = worker;
      worker = undefined;
      const closeWorker = async () => {
        if (!current) return;
        // worker.close() waits for active jobs without limit; the runner is aborting them now.
        const closed = await closeWithin(current.close(), timeoutMs);
        if (!closed) {
          logger?.warn({ timeoutMs }, "[upkeep] [bullmq] worker did not close within the stop timeout; forcing it");
          await closeWithin(current.close(true), 1000);
        }
      };
      // A check in flight waits on Redis (for ever while it is down): bounded by the same timeout.
      await Promise.all([closeWorker(), closeWithin(checking ?? Promise.resolve(), timeoutMs)]);
      reconciled = false;
      await queue?.close();
      queue = undefined;
    },
  };
}

bullmqAdapter satisfies AdapterFactory<BullmqAdapterOptions>;
