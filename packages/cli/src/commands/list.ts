import type { RunRecord } from "@upkeep/core";
import type { Command } from "../command.ts";
import { EXIT } from "../command.ts";
import { formatRelative, formatTime, json, table } from "../format.ts";

function lastOutcome(run: RunRecord | undefined, now: Date): string {
  if (!run) return "never run";
  return `${run.status}${run.dryRun ? " (dry run)" : ""} ${formatRelative(run.claimedAt, now)}`;
}

/** `upkeep list`: every registered task with its schedule, next run and last outcome. */
export const listCommand: Command = {
  name: "list",
  summary: "List the tasks: schedule, timezone, next run, last outcome",
  usage: "upkeep list [--json]",
  async run(ctx) {
    const tasks = await ctx.upkeep.list();
    const now = ctx.now();
    if (ctx.json) {
      ctx.stdout(
        json({
          tasks: tasks.map((task) => ({
            id: task.id,
            description: task.description,
            schedule: task.schedule,
            timezone: task.timezone,
            enabled: task.enabled,
            nextRun: task.nextRun,
            lastRun: task.lastRun
              ? {
                  id: task.lastRun.id,
                  status: task.lastRun.status,
                  trigger: task.lastRun.trigger,
                  dryRun: task.lastRun.dryRun,
                  claimedAt: task.lastRun.claimedAt,
                  finishedAt: task.lastRun.finishedAt,
                  durationMs: task.lastRun.durationMs,
                }
              : null,
          })),
        }),
      );
      return EXIT.ok;
    }
    if (tasks.length === 0) {
      ctx.stdout(`No tasks in ${ctx.configPath}.\n`);
      return EXIT.ok;
    }
    const rows = tasks.map((task) => [
      task.id,
      task.schedule,
      task.timezone,
      !task.enabled
        ? "disabled"
        : task.nextRun
          ? `${formatTime(task.nextRun, task.timezone)} (${formatRelative(task.nextRun, now)})`
          : "none",
      lastOutcome(task.lastRun, now),
    ]);
    ctx.stdout(table(["ID", "SCHEDULE", "TIMEZONE", "NEXT RUN", "LAST RUN"], rows));
    return EXIT.ok;
  },
};
