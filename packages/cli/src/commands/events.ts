import { type Command, UsageError } from "../command.ts";
import { REDELIVER_OPTIONS, REDELIVER_USAGE, redeliverCommand } from "./events-redeliver.ts";

/** `upkeep events redeliver --failed`: sends failed webhook deliveries again. */
export const eventsCommand: Command = {
  name: "events",
  summary: "Event delivery: redeliver failed webhook deliveries",
  usage: REDELIVER_USAGE,
  options: { ...REDELIVER_OPTIONS },
  async run(ctx) {
    const [sub] = ctx.positionals;
    if (sub === "redeliver") return redeliverCommand(ctx);
    throw new UsageError(`unknown or missing subcommand${sub ? ` "${sub}"` : ""}\nusage: ${REDELIVER_USAGE}`);
  },
};
