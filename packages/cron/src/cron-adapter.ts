import type { Adapter, AdapterFactory, ScheduledJob } from "@upkeep/core";

/** The system-cron adapter, with the jobs it was given (what `renderCrontab` renders). */
export interface CronAdapter extends Adapter {
  /** The jobs registered with the adapter, by task id. */
  readonly jobs: ReadonlyMap<string, ScheduledJob>;
}

/**
 * The system-cron adapter. It fires nothing in-process: the crontab starts `upkeep run <id>
 * --scheduled` or `upkeep tick`, each a short process that runs its tick and exits. Use it in the
 * configuration those commands load; `renderCrontab(upkeep.jobs)` gives the lines.
 */
export function cronAdapter(): CronAdapter {
  const jobs = new Map<string, ScheduledJob>();
  return {
    name: "cron",
    capabilities: { inProcess: false, distributed: false },
    jobs,
    schedule(job) {
      jobs.set(job.id, job);
    },
    unschedule(id) {
      jobs.delete(id);
    },
    start() {},
    stop() {},
  };
}

cronAdapter satisfies AdapterFactory;
