import type { Command } from "../command.ts";
import { EXIT } from "../command.ts";
import { json } from "../format.ts";
import { requireTaskId } from "./run.ts";

const PAUSE_USAGE = "upkeep pause <id> [--reason <text>] [--json]";
const RESUME_USAGE = "upkeep resume <id> [--json]";

/** `upkeep pause <id>`: pauses a task on every host that shares the database. */
export const pauseCommand: Command = {
  name: "pause",
  summary: "Pause a task on every host: its scheduled ticks are not run until resumed (manual runs still work)",
  usage: PAUSE_USAGE,
  options: {
    reason: { type: "string", description: "Why, shown by `upkeep health` (at most 500 characters)" },
  },
  async run(ctx) {
    const id = await requireTaskId(ctx, PAUSE_USAGE);
    // upkeep.pause checks the reason's length (a ConfigError, exit 2).
    const raw = ctx.flags.reason;
    const reason = typeof raw === "string" && raw.length > 0 ? raw : undefined;
    await ctx.upkeep.pause(id, { reason });
    if (ctx.json) ctx.stdout(json({ taskId: id, paused: true, reason: reason ?? null }));
    else ctx.stdout(`${id}: paused${reason ? ` (${reason})` : ""}; its ticks are not run on any host until \`upkeep resume ${id}\`.\n`);
    return EXIT.ok;
  },
};

/** `upkeep resume <id>`: resumes a paused task. */
export const resumeCommand: Command = {
  name: "resume",
  summary: "Resume a paused task: its ticks from now on run again",
  usage: RESUME_USAGE,
  async run(ctx) {
    const id = await requireTaskId(ctx, RESUME_USAGE);
    await ctx.upkeep.resume(id);
    if (ctx.json) ctx.stdout(json({ taskId: id, paused: false }));
    else ctx.stdout(`${id}: resumed; its next tick runs as scheduled.\n`);
    return EXIT.ok;
  },
};
