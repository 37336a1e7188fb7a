import { type EventRecord, parseDuration } from "@upkeep/core";
import { type Command, type CommandContext, EXIT, UsageError } from "../command.ts";
import { formatRelative, json, oneLine, table } from "../format.ts";
import { REDELIVER_OPTIONS, REDELIVER_USAGE, redeliverCommand, redeliverToTargets } from "./events-redeliver.ts";

const LIST_USAGE = "upkeep events [--task <id>] [--since <date|duration>] [--security] [--limit <n>] [--json]";
const USAGE = `${LIST_USAGE}\n       upkeep events redeliver <id>\n       ${REDELIVER_USAGE}`;

/** `--since`: an ISO date (`2026-12-01`, `2026-12-01T08:00Z`) or a duration back from now (`7d`, `12h`). */
export function parseSince(value: string | boolean | undefined, now: Date): Date | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw new UsageError(`--since needs a date or a duration\nusage: ${LIST_USAGE}`);
  if (/^\d+(ms|s|m|h|d|w)$/.test(value)) return new Date(now.getTime() - (parseDuration(value as `${number}d`) as number));
  const at = /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(at.getTime())) {
    throw new UsageError(`--since: expected an ISO date (2026-12-01) or a duration (7d, 12h), got "${oneLine(value, 40)}"`);
  }
  return at;
}

function parseLimit(value: string | boolean | undefined): number {
  if (value === undefined) return 100;
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new UsageError("--limit: expected a whole number from 1 to 10000");
  return n;
}

async function listEvents(ctx: CommandContext): Promise<number> {
  const task = ctx.flags.task;
  if (task !== undefined && (typeof task !== "string" || task === "")) throw new UsageError(`--task needs a task id\nusage: ${LIST_USAGE}`);
  const now = ctx.now();
  const events = await ctx.upkeep.events.list({
    task,
    since: parseSince(ctx.flags.since, now),
    security: ctx.flags.security === true,
    limit: parseLimit(ctx.flags.limit),
  });
  if (ctx.json) {
    ctx.stdout(json({ events }));
    return EXIT.ok;
  }
  if (events.length === 0) {
    ctx.stdout("No events.\n");
    return EXIT.ok;
  }
  const row = (e: EventRecord) => [
    e.id,
    formatRelative(e.createdAt, now),
    e.task,
    e.type,
    `${e.severity}${e.security ? " (security)" : ""}`,
    e.state,
    oneLine(JSON.stringify(e.data), 60),
  ];
  ctx.stdout(table(["ID", "CREATED", "TASK", "TYPE", "SEVERITY", "STATE", "DATA"], events.map(row)));
  return EXIT.ok;
}

/** `upkeep events redeliver <id>`: the handlers and every target again, and the webhooks' deliveries of it. */
async function redeliverOne(ctx: CommandContext, id: string): Promise<number> {
  const event = await ctx.upkeep.events.redeliver(id);
  if (!ctx.json) ctx.stdout(`${event.id} (${event.type}) sent again to the handlers and targets\n`);
  if ((ctx.config.events?.targets ?? []).length === 0) {
    if (ctx.json) ctx.stdout(json({ event: event.id, targets: [] }));
    return EXIT.ok;
  }
  return redeliverToTargets(ctx, { eventIds: [id] });
}

/** `upkeep events`: lists the outbox's events; `redeliver` sends one (or the failed webhook deliveries) again. */
export const eventsCommand: Command = {
  name: "events",
  summary: "List the events tasks emitted; redeliver one, or the failed webhook deliveries",
  usage: USAGE,
  options: {
    task: { type: "string", description: "only this task's events" },
    since: { type: "string", description: "events created since an ISO date or a duration back (7d)" },
    security: { type: "boolean", description: "only security events" },
    limit: { type: "string", description: "at most this many, newest first (default 100)" },
    ...REDELIVER_OPTIONS,
  },
  async run(ctx) {
    const [sub, id, ...rest] = ctx.positionals;
    if (sub === undefined) return listEvents(ctx);
    if (sub !== "redeliver") throw new UsageError(`unknown subcommand "${oneLine(sub, 40)}"\nusage: ${USAGE}`);
    if (rest.length > 0) throw new UsageError(`redeliver takes one event id\nusage: ${USAGE}`);
    if (id !== undefined) {
      if (ctx.flags.failed === true) throw new UsageError(`give an event id or --failed, not both\nusage: ${USAGE}`);
      return redeliverOne(ctx, id);
    }
    return redeliverCommand(ctx);
  },
};
