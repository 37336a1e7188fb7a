import type { Adapter, ScheduledJob } from "./adapter.ts";
import type { RunRecord } from "./store/types.ts";

/** An adapter that never fires on its own; `fire` runs a tick on demand. */
export interface ManualAdapter extends Adapter {
  /** Runs the tick of `id` that `at` belongs to, as a scheduler would. */
  fire(id: string, at?: Date): Promise<RunRecord | undefined>;
  /** The jobs scheduled so far. */
  readonly scheduled: ReadonlyMap<string, ScheduledJob>;
}

/**
 * The in-process adapter with no timer: for tests, for the CLI, and for hosts that start runs
 * themselves (`upkeep.run`). A test drives time through `fire(id, at)`.
 */
export function manualAdapter(): ManualAdapter {
  const scheduled = new Map<string, ScheduledJob>();
  return {
    name: "manual",
    capabilities: { inProcess: false, distributed: false },
    scheduled,
    schedule(job) {
      scheduled.set(job.id, job);
    },
    unschedule(id) {
      scheduled.delete(id);
    },
    start() {},
    stop() {},
    async fire(id, at) {
      const job = scheduled.get(id);
      if (!job) throw new Error(`[upkeep] [manual] no job "${id}" is scheduled`);
      return job.execute(at ? { scheduledFor: at } : {});
    },
  };
}
