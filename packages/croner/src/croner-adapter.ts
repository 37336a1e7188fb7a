import { type Adapter, type AdapterFactory, adapterDependency, type Logger, type RunRecord, type ScheduledJob } from "@upkeep/core";
import { Cron } from "croner";

/** Options of `cronerAdapter`. */
export interface CronerAdapterOptions {
  /**
   * Let the process exit while timers are pending (croner's `unref`). Leave it off in a service:
   * the schedule is what keeps a worker process alive.
   * @default false
   */
  unref?: boolean;
}

/** The croner adapter, with what it has armed (for tests and diagnostics). */
export interface CronerAdapter extends Adapter {
  /** The `Cron` of each scheduled task id. */
  readonly crons: ReadonlyMap<string, Cron>;
}

/**
 * The in-process adapter: one croner `Cron` per task, in the task's timezone. The embedded default:
 * it needs nothing but the process, and the run store's claim keeps several processes with the
 * same schedule to one run per tick.
 *
 * ```ts
 * const upkeep = registerTasks(cronerAdapter(), { db, tasks: [cleanup()] });
 * await upkeep.start();
 * ```
 */
export function cronerAdapter(options: CronerAdapterOptions = {}): CronerAdapter {
  const jobs = new Map<string, ScheduledJob>();
  const crons = new Map<string, Cron>();
  const inflight = new Set<Promise<unknown>>();
  let logger: Logger | undefined;
  let started = false;

  function fire(job: ScheduledJob): Promise<RunRecord | undefined> {
    // croner fires at or just after the tick; the core says which tick that is.
    const scheduledFor = job.tickAt(new Date()) ?? undefined;
    const run = job.execute({ scheduledFor }).catch((error: unknown) => {
      logger?.error({ taskId: job.id, err: error }, "[upkeep] [croner] scheduled run threw");
      return undefined;
    });
    inflight.add(run);
    void run.finally(() => inflight.delete(run));
    return run;
  }

  function arm(job: ScheduledJob): void {
    crons.get(job.id)?.stop();
    const cron = new Cron(
      job.pattern,
      {
        timezone: job.timezone,
        mode: job.pattern.split(" ").length === 6 ? "6-part" : "5-part",
        domAndDow: false,
        unref: options.unref ?? false,
        // croner's protection is the first overlap guard: it never re-enters a run that is still
        // going. The tick it blocks still goes to the runner, which records it `skipped` (or runs
        // it, for a task with overlap "allow"), so the history shows every tick.
        protect: () => {
          void fire(job);
        },
        // Without `catch`, a rejected callback becomes an unhandled rejection.
        catch: (error: unknown) => logger?.error({ taskId: job.id, err: error }, "[upkeep] [croner] scheduled run threw"),
      },
      async () => {
        await fire(job);
      },
    );
    crons.set(job.id, cron);
  }

  const croner = adapterDependency("croner", import.meta.url);
  return {
    name: "croner",
    capabilities: { inProcess: true, distributed: false },
    dependencies: croner ? [croner] : [],
    crons,
    init(context) {
      logger = context.logger;
    },
    schedule(job) {
      jobs.set(job.id, job);
      if (started) arm(job);
    },
    unschedule(id) {
      crons.get(id)?.stop();
      crons.delete(id);
      jobs.delete(id);
    },
    start() {
      started = true;
      for (const job of jobs.values()) arm(job);
    },
    async stop({ timeoutMs }) {
      started = false;
      for (const cron of crons.values()) cron.stop();
      crons.clear();
      // croner's stop() does not wait: wait here for the runs it started, up to the timeout.
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([Promise.allSettled([...inflight]), limit]);
      clearTimeout(timer);
    },
  };
}

cronerAdapter satisfies AdapterFactory<CronerAdapterOptions>;
