import type { EventTarget, WebhookRedeliverReport, WebhookTarget } from "@upkeep/core";
import { type CommandContext, type CommandOption, EXIT, UsageError } from "../command.ts";
import { json } from "../format.ts";

/** The flags of `upkeep events redeliver`, for the `events` command's options. */
export const REDELIVER_OPTIONS: Record<string, CommandOption> = {
  failed: { type: "boolean", description: "redeliver: every failed webhook delivery (reset to pending, then sent)" },
  target: { type: "string", description: "redeliver: only the delivery target of this name" },
};

export const REDELIVER_USAGE = "upkeep events redeliver --failed [--target <name>] [--json]";

/** Whether a configured target keeps deliveries it can send again (a `webhookTarget`). */
function redeliverable(target: EventTarget): target is WebhookTarget {
  return typeof (target as Partial<WebhookTarget>).redeliver === "function";
}

/** The configured targets that can redeliver, narrowed to `--target` when given. */
function chosenTargets(ctx: CommandContext): WebhookTarget[] {
  const all = (ctx.config.events?.targets ?? []).filter(redeliverable);
  const name = ctx.flags.target;
  if (name === undefined) return all;
  if (typeof name !== "string" || name === "") throw new UsageError(`--target needs a target name\nusage: ${REDELIVER_USAGE}`);
  const chosen = all.filter((target) => target.name === name);
  if (chosen.length === 0) {
    const names = all.map((target) => target.name).join(", ") || "none configured";
    throw new UsageError(`no webhook target named "${name}" in events.targets (${names})`);
  }
  return chosen;
}

/** Which deliveries to send again: every failed one, or these events' (whatever their state). */
export interface RedeliverWhat {
  eventIds?: readonly string[];
}

/**
 * Resets deliveries of the chosen webhook targets to pending and sends them once now; prints a
 * line per target (or JSON). Exits 1 when a delivery did not go through (it is retried, or failed
 * again), 0 when every one was delivered or there was none.
 */
export async function redeliverToTargets(ctx: CommandContext, what: RedeliverWhat = {}): Promise<number> {
  const targets = chosenTargets(ctx);
  const now = ctx.now();
  const reports: Array<{ target: string } & WebhookRedeliverReport> = [];
  for (const target of targets) reports.push({ target: target.name, ...(await target.redeliver({ eventIds: what.eventIds, now })) });
  if (ctx.json) ctx.stdout(json({ targets: reports }));
  else if (reports.length === 0) ctx.stdout("no webhook targets in events.targets: nothing to redeliver\n");
  else {
    for (const r of reports) {
      ctx.stdout(
        `${r.target}: ${r.reset} reset to pending; ${r.delivered} delivered, ${r.retrying} will be retried, ${r.failed} failed again\n`,
      );
    }
  }
  return reports.every((r) => r.retrying === 0 && r.failed === 0) ? EXIT.ok : EXIT.taskFailed;
}

/** `upkeep events redeliver --failed [--target <name>]`. */
export async function redeliverCommand(ctx: CommandContext): Promise<number> {
  if (ctx.flags.failed !== true) throw new UsageError(`say which deliveries: --failed\nusage: ${REDELIVER_USAGE}`);
  if (ctx.positionals.length > 1) throw new UsageError(`--failed takes no event id\nusage: ${REDELIVER_USAGE}`);
  return redeliverToTargets(ctx);
}
