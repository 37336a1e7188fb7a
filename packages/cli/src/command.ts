import type { RunStatus, Upkeep, UpkeepConfig } from "@upkeep/core";

/** Exit codes of the `upkeep` command. */
export const EXIT = {
  /** The command did what was asked. */
  ok: 0,
  /** A task run failed (failed, timed_out, interrupted). */
  taskFailed: 1,
  /** Bad usage or an invalid configuration: the message says what to fix. */
  usage: 2,
} as const;

/**
 * Whether a run's outcome makes a command exit with `EXIT.taskFailed`. A `skipped` run (an overlap,
 * nothing to do) is not a failure: the summary says why it did not run.
 */
export function runFailed(status: RunStatus): boolean {
  return status === "failed" || status === "timed_out" || status === "interrupted" || status === "abandoned";
}

/**
 * What a command receives: the loaded configuration, its handle, the parsed arguments and output
 * streams. A command with `needsConfig: false` gets no configuration: reading `config`, `upkeep` or
 * `configPath` throws.
 */
export interface CommandContext {
  /** The configuration loaded from upkeep.config.ts (or --config). */
  config: UpkeepConfig;
  /** Absolute path of the loaded config file. */
  configPath: string;
  /** `registerTasks(manualAdapter(), config)`: runs go through the same runner as scheduled ones. */
  upkeep: Upkeep;
  /** The directory the command was started in. */
  cwd: string;
  /** The current time from the config's `clock` (the system clock when it sets none). */
  now(): Date;
  /** Positional arguments after the command name (`upkeep keys rotate` gives `["rotate"]`). */
  positionals: string[];
  /** Parsed flags of the command's `options`. */
  flags: Record<string, string | boolean | undefined>;
  /** `--json`: print one JSON document for machines instead of text. */
  json: boolean;
  /** Whether stdout is a terminal (live progress is only drawn there). */
  tty: boolean;
  /** Writes to standard output, as is (end lines with `\n`). */
  stdout: (text: string) => void;
  /** Writes to standard error, as is. */
  stderr: (text: string) => void;
}

/** A flag a command accepts, in node:util `parseArgs` form. */
export interface CommandOption {
  /** Whether the option takes a value (`string`) or is a switch (`boolean`). */
  type: "string" | "boolean";
  /** A one-letter alias, such as `n` for `-n`; absent when the option has none. */
  short?: string;
  /** One line for the command's `--help`. */
  description: string;
}

/** One `upkeep <name>` command. Commands live in src/commands/, one file each, listed in src/commands/index.ts. */
export interface Command {
  /** The command's name, the word after `upkeep`. */
  name: string;
  /** One line for `upkeep --help`. */
  summary: string;
  /** Usage line, such as `upkeep run <id> [--dry-run] [--input <json>]`. */
  usage: string;
  /** The command's options by long name (`dry-run` for `--dry-run`); absent when it takes none. */
  options?: Record<string, CommandOption>;
  /** Whether the command needs the configuration loaded (most do). @default true */
  needsConfig?: boolean;
  /** Returns the exit code. Throw a ConfigError or a UsageError for exit code 2. */
  run(ctx: CommandContext): Promise<number>;
}

/** Bad command-line usage: exit code 2 with this message. */
export class UsageError extends Error {
  /** Always `"UsageError"`. */
  override readonly name = "UsageError";
}
