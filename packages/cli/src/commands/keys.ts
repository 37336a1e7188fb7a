import {
  type KeyRotationResult,
  type KeysStatus,
  keysStatusOf,
  type RewrapResult,
  type RunRecord,
  rewrapConfiguredKeys,
  rotateKeysNow,
} from "@upkeep/core";
import { type Command, type CommandContext, EXIT, runFailed, UsageError } from "../command.ts";
import { ProgressView } from "../progress-view.ts";

const USAGE = "upkeep keys status | rotate [--dry-run] | rewrap [--dry-run] [--task <id>] [--json]";
const DAY_MS = 86_400_000;

const day = (date: Date) => date.toISOString().slice(0, 10);

function statusText(status: KeysStatus, now: Date): string {
  const lines: string[] = [];
  const active = status.active;
  if (!active) lines.push("no active data key yet: the first encrypt or the first key-rotation run makes one");
  else {
    const dueIn = Math.ceil((active.dueAt.getTime() - now.getTime()) / DAY_MS);
    const due = active.due ? "due now: the next run rotates it" : `next rotation due ${day(active.dueAt)} (in ${dueIn} days)`;
    lines.push(`active key ${active.id} (generation ${active.generation}), ${active.ageDays} days old; ${due}`);
  }
  lines.push("", "keys:");
  for (const key of status.keys) {
    const retired = key.retiredAt ? `, retired ${day(key.retiredAt)}` : "";
    lines.push(`  ${key.id}  gen ${key.generation}  ${key.status.padEnd(7)}  created ${day(key.createdAt)}${retired}  kek ${key.kekId}`);
  }
  lines.push("", "rows per key:");
  for (const column of status.columns) {
    const counts = Object.entries(column.rowsByKey).map(([key, n]) => `${column.kind === "fernet" ? `fernet #${key}` : key}: ${n}`);
    if (column.unrecognised > 0) counts.push(`unrecognised: ${column.unrecognised}`);
    lines.push(`  ${column.table}.${column.column} (${column.kind})  ${counts.join(", ") || "no rows"}`);
  }
  if (status.columns.length === 0) lines.push("  no columns registered with the key-rotation task");
  return `${lines.join("\n")}\n`;
}

function rotateText(result: KeyRotationResult | null, status: string, reason: string | null | undefined): string {
  if (!result) return `key-rotation: ${status}${reason ? ` (${reason})` : ""}\n`;
  const lines = [
    `key-rotation: ${status}${result.dryRun ? " (dry run: nothing was changed)" : ""}`,
    result.rotated ? `new active key ${result.activeKeyId}` : `active key ${result.activeKeyId ?? "none"}`,
  ];
  for (const column of result.columns) {
    lines.push(
      `  ${column.table}.${column.column}: ${column.reencrypted} re-encrypted, ${column.conflicts} left to newer app writes, ${column.undecryptable} undecryptable${
        column.undecryptableIds.length > 0 ? ` (ids ${column.undecryptableIds.join(", ")})` : ""
      }`,
    );
  }
  if (result.retired.length > 0) lines.push(`retired: ${result.retired.join(", ")}`);
  if (result.stopped) lines.push("stopped between batches; run again to continue");
  return `${lines.join("\n")}\n`;
}

function rewrapText(result: RewrapResult): string {
  const verb = result.dryRun ? "would re-wrap" : "re-wrapped";
  const lines = [`${verb} ${result.rewrapped.length} data key(s) under KEK ${result.kekId}; ${result.unchanged.length} already were`];
  if (result.conflicts.length > 0) lines.push(`changed by another process meanwhile, run again: ${result.conflicts.join(", ")}`);
  return `${lines.join("\n")}\n`;
}

async function rotate(ctx: CommandContext, taskId: string | undefined): Promise<number> {
  const view = ctx.tty && !ctx.json ? new ProgressView({ write: ctx.stdout, label: taskId ?? "key-rotation" }) : undefined;
  let run: RunRecord;
  try {
    run = await rotateKeysNow(ctx.upkeep, {
      taskId,
      dryRun: ctx.flags["dry-run"] === true,
      onProgress: view && ((progress) => view.update(progress)),
    });
  } finally {
    view?.finish();
  }
  const result = run.result as KeyRotationResult | null;
  if (ctx.json) ctx.stdout(`${JSON.stringify({ run }, null, 2)}\n`);
  else {
    ctx.stdout(rotateText(result, run.status, run.reason));
    if (run.errorMessage) ctx.stderr(`error: ${run.errorMessage}\n`);
  }
  return runFailed(run.status) ? EXIT.taskFailed : EXIT.ok;
}

/** `upkeep keys`: the keyring's status, a rotation now, or a re-wrap after a KEK rotation. */
export const keysCommand: Command = {
  name: "keys",
  summary: "Data-encryption keys: status, rotate now, rewrap after a KEK rotation",
  usage: USAGE,
  options: {
    "dry-run": { type: "boolean", description: "rotate/rewrap: report what would change and change nothing" },
    task: { type: "string", description: "The key-rotation task's id, when it was renamed (default key-rotation)" },
  },
  async run(ctx) {
    const [action, ...rest] = ctx.positionals;
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}": ${USAGE}`);
    const taskId = typeof ctx.flags.task === "string" ? ctx.flags.task : undefined;
    switch (action) {
      case "status": {
        const now = ctx.config.clock?.() ?? new Date();
        const status = await keysStatusOf(ctx.config, { taskId, now });
        ctx.stdout(ctx.json ? `${JSON.stringify(status, null, 2)}\n` : statusText(status, now));
        return EXIT.ok;
      }
      case "rotate":
        return rotate(ctx, taskId);
      case "rewrap": {
        const result = await rewrapConfiguredKeys(ctx.config, { taskId, dryRun: ctx.flags["dry-run"] === true });
        ctx.stdout(ctx.json ? `${JSON.stringify(result, null, 2)}\n` : rewrapText(result));
        return result.conflicts.length > 0 ? EXIT.taskFailed : EXIT.ok;
      }
      default:
        throw new UsageError(action === undefined ? `missing action: ${USAGE}` : `unknown action "${action}": ${USAGE}`);
    }
  },
};
