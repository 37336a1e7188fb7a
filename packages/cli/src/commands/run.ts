import { hostname } from "node:os";
import { isTaskDefinition, type RunRecord } from "@upkeep/core";
import type { Command, CommandContext } from "../command.ts";
import { EXIT, runFailed, UsageError } from "../command.ts";
import { formatDuration, json } from "../format.ts";
import { ProgressView } from "../progress-view.ts";

const INPUT_HINT = `pass one JSON object, such as --input '{"batchSize":500}'`;

/** Parses `--input`; the message names the flag and never repeats the value. */
export function parseInput(raw: string | boolean | undefined): Record<string, unknown> | undefined {
  if (raw === undefined || typeof raw === "boolean") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new UsageError(`--input is not valid JSON: ${INPUT_HINT}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(`--input must be a JSON object: ${INPUT_HINT}`);
  }
  return value as Record<string, unknown>;
}

/** Checks the task id against the registered ones; the error lists them. */
export async function requireTaskId(ctx: CommandContext, usage: string): Promise<string> {
  const id = ctx.positionals[0];
  // From the config, not upkeep.list(): a run on a fresh database migrates before it reads the store.
  const known = ctx.config.tasks.map((item) => (isTaskDefinition(item) ? item.id : item.task.id));
  const list = known.length > 0 ? known.join(", ") : `none: ${ctx.configPath} has no tasks`;
  if (id === undefined) throw new UsageError(`missing task id: ${usage} (known tasks: ${list})`);
  if (ctx.positionals.length > 1) throw new UsageError(`expected one task id, got ${ctx.positionals.length}: ${usage}`);
  if (!known.includes(id)) throw new UsageError(`unknown task "${id}"; known tasks: ${list}`);
  return id;
}

function summary(run: RunRecord, servedElsewhere: boolean): string {
  if (servedElsewhere) {
    return `${run.taskId}: the tick ${run.scheduledFor.toISOString()} was already claimed by ${run.host} (pid ${run.pid}), status ${run.status}; nothing ran here\n`;
  }
  const notes = [`${run.trigger} run ${run.id}`];
  if (run.dryRun) notes.push("dry run: nothing was changed");
  if (run.attempt > 1) notes.push(`${run.attempt} attempts`);
  let text = `${run.taskId}: ${run.status} in ${formatDuration(run.durationMs)} (${notes.join(", ")})\n`;
  if (run.status === "skipped" && run.reason) text += `skipped: ${run.reason}\n`;
  else if (run.reason && run.status !== "failed") text += `reason: ${run.reason}\n`;
  if (run.errorMessage) text += `error: ${run.errorMessage}${run.reason ? ` (${run.reason})` : ""}\n`;
  if (run.result !== null && run.result !== undefined) text += `result:\n${json(run.result)}`;
  return text;
}

function isPaused(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "TASK_PAUSED";
}

const USAGE = "upkeep run <id> [--dry-run] [--input <json>] [--scheduled] [--json]";

/** `upkeep run <id>`: runs a task now through the runner, with live progress and a summary. */
export const runCommand: Command = {
  name: "run",
  summary: "Run a task now and print its outcome",
  usage: USAGE,
  options: {
    "dry-run": { type: "boolean", description: "Report what would change and change nothing (ctx.dryRun)" },
    input: { type: "string", description: "JSON object merged over the task's configured input, validated by its schema" },
    scheduled: {
      type: "boolean",
      description: "Serve the tick the current minute belongs to, as a crontab line does; hosts sharing a database run it once",
    },
  },
  async run(ctx) {
    const id = await requireTaskId(ctx, USAGE);
    const input = parseInput(ctx.flags.input);
    if (ctx.flags["dry-run"] === true && ctx.flags.scheduled === true) {
      throw new UsageError("--dry-run and --scheduled cannot be combined: a dry run would claim the real tick, which then never runs");
    }
    const view = ctx.tty && !ctx.json ? new ProgressView({ write: ctx.stdout, label: id }) : undefined;
    const unsubscribe = ctx.upkeep.on("run:progress", ({ run, progress }) => {
      if (run.taskId === id) view?.update(progress);
    });
    let run: RunRecord;
    try {
      run = await ctx.upkeep.run(id, { input, dryRun: ctx.flags["dry-run"] === true, scheduled: ctx.flags.scheduled === true });
    } catch (error) {
      // A crontab line of a paused task: nothing to run, and nothing for cron to mail about.
      if (!isPaused(error)) throw error;
      if (ctx.json) ctx.stdout(json({ run: null, paused: true }));
      else ctx.stdout(`${id}: paused; the tick was not run\n`);
      return EXIT.ok;
    } finally {
      unsubscribe();
      view?.finish();
    }
    // With --scheduled, a tick another process already claimed comes back as that process's run.
    const servedElsewhere = run.pid !== process.pid || run.host !== hostname();
    if (ctx.json) ctx.stdout(json({ run, servedElsewhere }));
    else ctx.stdout(summary(run, servedElsewhere));
    return !servedElsewhere && runFailed(run.status) ? EXIT.taskFailed : EXIT.ok;
  },
};
