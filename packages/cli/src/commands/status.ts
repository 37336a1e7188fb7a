import type { RunRecord, RunStatus } from "@upkeep/core";
import type { Command } from "../command.ts";
import { EXIT, UsageError } from "../command.ts";
import { formatDuration, formatRelative, formatTime, json, oneLine, table } from "../format.ts";

const FAILURES: ReadonlySet<RunStatus> = new Set(["failed", "timed_out", "interrupted", "abandoned"]);
const DEFAULT_LIMIT = 20;
const USAGE = "upkeep status [id] [--limit <n>] [--json]";

/** Failures first, each group newest first (the store already returns newest first). */
export function failuresFirst(runs: readonly RunRecord[]): RunRecord[] {
  return [...runs.filter((run) => FAILURES.has(run.status)), ...runs.filter((run) => !FAILURES.has(run.status))];
}

function parseLimit(raw: string | boolean | undefined): number {
  if (raw === undefined || typeof raw === "boolean") return DEFAULT_LIMIT;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError("--limit must be a whole number from 1 to 10000");
  return limit;
}

function detail(run: RunRecord): string {
  if (run.errorMessage) return `${oneLine(run.errorMessage)}${run.reason ? ` (${run.reason})` : ""}`;
  if (run.reason) return oneLine(run.reason);
  return run.dryRun ? "dry run" : "";
}

/** `upkeep status [id]`: the recent run history, failures first. */
export const statusCommand: Command = {
  name: "status",
  summary: "Show recent runs, failures first",
  usage: USAGE,
  options: {
    limit: { type: "string", short: "n", description: `How many recent runs to read (default ${DEFAULT_LIMIT})` },
  },
  async run(ctx) {
    if (ctx.positionals.length > 1) throw new UsageError(`expected at most one task id: ${USAGE}`);
    const id = ctx.positionals[0];
    const limit = parseLimit(ctx.flags.limit);
    const runs = failuresFirst(await ctx.upkeep.runs({ taskId: id, limit }));
    if (id !== undefined && runs.length === 0) {
      const known = (await ctx.upkeep.list()).map((task) => task.id);
      if (!known.includes(id)) throw new UsageError(`unknown task "${id}"; known tasks: ${known.join(", ") || "none"}`);
    }
    const failures = runs.filter((run) => FAILURES.has(run.status)).length;
    if (ctx.json) {
      ctx.stdout(json({ runs, failures }));
      return EXIT.ok;
    }
    if (runs.length === 0) {
      ctx.stdout(id === undefined ? "No runs yet.\n" : `No runs of ${id} yet.\n`);
      return EXIT.ok;
    }
    const now = ctx.now();
    const timezone = ctx.config.timezone ?? "UTC";
    const rows = runs.map((run) => [
      `${formatTime(run.claimedAt, timezone)} (${formatRelative(run.claimedAt, now)})`,
      run.taskId,
      run.status,
      run.trigger,
      formatDuration(run.durationMs),
      detail(run),
    ]);
    ctx.stdout(table([`STARTED (${timezone})`, "TASK", "STATUS", "TRIGGER", "DURATION", "DETAIL"], rows));
    ctx.stdout(`${failures} of the last ${runs.length} runs did not succeed.\n`);
    return EXIT.ok;
  },
};
