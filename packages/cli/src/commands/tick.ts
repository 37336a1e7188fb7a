import { hostname } from "node:os";
import { tick } from "@upkeep/cron";
import type { Command } from "../command.ts";
import { EXIT, runFailed } from "../command.ts";
import { json } from "../format.ts";

/** `upkeep tick`: what the single crontab line runs every minute. */
export const tickCommand: Command = {
  name: "tick",
  summary: "Run every task due this minute and the missed tick of catch-up tasks (for a `* * * * *` crontab line)",
  usage: "upkeep tick [--json]",
  async run(ctx) {
    const runs = await tick(ctx.upkeep, ctx.now());
    // The single crontab line is also the cluster's health sweep: it announces late and missed tasks.
    await ctx.upkeep.checkHealth().catch((error: unknown) => ctx.upkeep.logger.warn({ err: error }, "[upkeep] health sweep failed"));
    const here = (run: (typeof runs)[number]) => run.pid === process.pid && run.host === hostname();
    if (ctx.json) {
      ctx.stdout(json({ runs: runs.map((run) => ({ run, servedElsewhere: !here(run) })) }));
    } else if (runs.length === 0) {
      ctx.stdout("Nothing is due this minute.\n");
    } else {
      for (const run of runs) {
        const where = here(run) ? run.status : `already claimed by ${run.host} (pid ${run.pid}), ${run.status}`;
        ctx.stdout(`${run.taskId} ${run.scheduledFor.toISOString()} (${run.trigger}): ${where}\n`);
      }
    }
    return runs.some((run) => here(run) && runFailed(run.status)) ? EXIT.taskFailed : EXIT.ok;
  },
};
