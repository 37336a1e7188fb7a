import type { RunRecord, Upkeep } from "@upkeep/core";

/**
 * Runs what a crontab line started at `now` must: every task whose tick falls in this minute, and
 * the latest missed tick of each `catchUp` task that has none. The ticks run side by side; the
 * runner's claim keeps hosts with the same crontab to one run per tick. Resolves when all are done.
 */
export async function tick(upkeep: Upkeep, now: Date = new Date()): Promise<RunRecord[]> {
  const due = await upkeep.due(now);
  const runs = await Promise.all(due.map((item) => item.job.execute({ scheduledFor: item.scheduledFor, catchUp: item.catchUp })));
  return runs.filter((run): run is RunRecord => run !== undefined);
}
