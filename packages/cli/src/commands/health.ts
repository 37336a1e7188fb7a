import { type TaskHealth, UNHEALTHY_STATES } from "@upkeep/core";
import type { Command } from "../command.ts";
import { EXIT } from "../command.ts";
import { formatRelative, json, oneLine, table } from "../format.ts";

function lastRun(health: TaskHealth, now: Date): string {
  const run = health.lastRun;
  return run ? `${run.status} ${formatRelative(run.claimedAt, now)}` : "never run";
}

/** Whether any task is late, missed or failing: what `upkeep health` exits 1 for. */
export function anyUnhealthy(all: readonly TaskHealth[]): boolean {
  return all.some((health) => UNHEALTHY_STATES.includes(health.state));
}

/** `upkeep health`: every task's health state; exits 1 when any is late, missed or failing. */
export const healthCommand: Command = {
  name: "health",
  summary: "Show each task's health (up, late, missed, failing, ...); exit 1 when any is late, missed or failing",
  usage: "upkeep health [--json]",
  async run(ctx) {
    const all = await ctx.upkeep.health();
    const code = anyUnhealthy(all) ? EXIT.taskFailed : EXIT.ok;
    if (ctx.json) {
      ctx.stdout(json({ healthy: code === EXIT.ok, tasks: all }));
      return code;
    }
    if (all.length === 0) {
      ctx.stdout(`No tasks in ${ctx.configPath}.\n`);
      return code;
    }
    const now = ctx.now();
    const rows = all.map((health) => [health.id, health.state, lastRun(health, now), oneLine(health.detail, 100)]);
    ctx.stdout(table(["TASK", "STATE", "LAST TICK RUN", "DETAIL"], rows));
    const bad = all.filter((health) => UNHEALTHY_STATES.includes(health.state)).length;
    ctx.stdout(bad === 0 ? "No task is late, missed or failing.\n" : `${bad} of ${all.length} tasks are late, missed or failing.\n`);
    return code;
  },
};
