import type { Command, CommandOption } from "./command.ts";

/** Flags every command accepts. */
export const GLOBAL_OPTIONS = {
  config: {
    type: "string",
    short: "c",
    description: "Config file to load (default: upkeep.config.ts, .mts, .js or .mjs, searched upward from the current directory)",
  },
  json: { type: "boolean", description: "Print one JSON document for machines" },
  "log-level": {
    type: "string",
    description: "Level of upkeep's log lines on stderr when the config sets no logger: debug, info, warn, error, silent (default warn)",
  },
  help: { type: "boolean", short: "h", description: "Show help" },
} as const satisfies Record<string, CommandOption>;

function optionLines(options: Record<string, CommandOption>): string[] {
  const entries = Object.entries(options).map(([name, option]) => {
    const flag = `${option.short ? `-${option.short}, ` : "    "}--${name}${option.type === "string" ? " <value>" : ""}`;
    return [flag, option.description] as const;
  });
  const width = Math.max(...entries.map(([flag]) => flag.length));
  return entries.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`);
}

/** `upkeep --help`. */
export function mainHelp(commands: readonly Command[], version: string): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    `upkeep ${version}: run and inspect the maintenance tasks of an upkeep.config.ts`,
    "",
    "Usage: upkeep <command> [options]",
    "",
    "Commands:",
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    "",
    "Options:",
    ...optionLines({ ...GLOBAL_OPTIONS, version: { type: "boolean", short: "v", description: "Print the version" } }),
    "",
    "Exit codes: 0 success, 1 the task run did not succeed, 2 usage or configuration error.",
    "Run `upkeep <command> --help` for a command's options.",
    "",
  ].join("\n");
}

/** `upkeep <command> --help`. */
export function commandHelp(command: Command): string {
  const lines = [command.summary, "", `Usage: ${command.usage}`, ""];
  if (command.options && Object.keys(command.options).length > 0) lines.push("Options:", ...optionLines(command.options), "");
  lines.push("Global options:", ...optionLines(GLOBAL_OPTIONS), "");
  return lines.join("\n");
}
