import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { type ConfigIssue, createJsonLogger, errorMessage, type LogLevel, manualAdapter, registerTasks, type Upkeep } from "@upkeep/core";
import { type Command, type CommandContext, EXIT, UsageError } from "./command.ts";
import { commands } from "./commands/index.ts";
import { json } from "./format.ts";
import { commandHelp, GLOBAL_OPTIONS, mainHelp } from "./help.ts";
import { loadConfig } from "./load-config.ts";
import { resolveSqlitePath } from "./sqlite-path.ts";

/** Where `main` reads and writes; every field defaults to the process's own. */
export interface CliIo {
  /** Where normal output is written. @default process.stdout.write */
  stdout?: (text: string) => void;
  /** Where errors and warnings are written. @default process.stderr.write */
  stderr?: (text: string) => void;
  /** The directory the config file is searched from. @default process.cwd() */
  cwd?: string;
  /**
   * Whether stdout is a terminal: live progress is drawn only there.
   * @default process.stdout.isTTY
   */
  tty?: boolean;
  /** Aborting it stops the command as Ctrl-C does: runs in flight end `interrupted`. */
  signal?: AbortSignal;
}

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];
const VALUE_FLAGS = new Set(["--config", "-c", "--log-level"]);

/** The version of @upkeep/cli. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "unknown";
}

/** Finds the command name: the first argument that is neither a flag nor a global flag's value. */
function splitCommand(argv: readonly string[]): { name: string | undefined; rest: string[] } {
  for (let index = 0; index < argv.length; index++) {
    const token = argv[index] as string;
    if (token === "--") break;
    if (VALUE_FLAGS.has(token)) {
      index++;
      continue;
    }
    if (token.startsWith("-")) continue;
    return { name: token, rest: [...argv.slice(0, index), ...argv.slice(index + 1)] };
  }
  return { name: undefined, rest: [...argv] };
}

function isConfigError(error: unknown): error is Error & { issues?: readonly ConfigIssue[] } {
  if (!(error instanceof Error)) return false;
  return error.name === "ConfigError" || (error as { code?: unknown }).code === "CONFIG_INVALID";
}

function codeOf(error: unknown): unknown {
  return typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
}

interface Streams {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Prints what went wrong and what to do; returns the exit code. */
function fail(error: unknown, streams: Streams, options: { json: boolean; command: string | undefined }): number {
  let kind: "usage" | "config" | "runtime";
  let text: string;
  if (error instanceof UsageError || codeOf(error) === "TASK_NOT_FOUND") {
    kind = "usage";
    const help = options.command ? `upkeep ${options.command} --help` : "upkeep --help";
    text = `upkeep: ${errorMessage(error).replace(/^\[upkeep\] /, "")}\nRun \`${help}\` for usage.`;
  } else if (isConfigError(error)) {
    kind = "config";
    text = errorMessage(error);
    const cause = (error as { cause?: unknown }).cause;
    if (cause !== undefined) text += `\n${errorMessage(cause)}`;
  } else {
    kind = "runtime";
    text = errorMessage(error);
    const cause = error instanceof Error ? error.cause : undefined;
    if (cause !== undefined) text += `\n  caused by: ${errorMessage(cause)}`;
  }
  streams.stderr(`${text}\n`);
  if (options.json) {
    const issues = isConfigError(error) ? error.issues : undefined;
    const cause = error instanceof Error && error.cause !== undefined ? errorMessage(error.cause) : undefined;
    streams.stdout(
      json({ error: { kind, message: errorMessage(error), ...(issues?.length ? { issues } : {}), ...(cause ? { cause } : {}) } }),
    );
  }
  return kind === "runtime" ? EXIT.taskFailed : EXIT.usage;
}

function parseLogLevel(raw: string | boolean | undefined): LogLevel {
  if (raw === undefined || typeof raw === "boolean") return "warn";
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  return raw as LogLevel;
}

function noConfig(): never {
  throw new Error("[upkeep] this command was declared with needsConfig: false and has no configuration");
}

async function dispatch(argv: readonly string[], io: CliIo, streams: Streams): Promise<number> {
  const { name, rest } = splitCommand(argv);
  if (name === undefined) {
    if (rest.includes("--version") || rest.includes("-v")) {
      streams.stdout(`${version()}\n`);
      return EXIT.ok;
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      streams.stdout(mainHelp(commands, version()));
      return EXIT.ok;
    }
    streams.stderr(mainHelp(commands, version()));
    throw new UsageError("missing command");
  }
  const command: Command | undefined = commands.find((candidate) => candidate.name === name);
  if (!command) throw new UsageError(`unknown command "${name}"; commands: ${commands.map((known) => known.name).join(", ")}`);

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
  } catch (error) {
    const option = /'(-[^' ]+)/.exec(errorMessage(error))?.[1];
    if (codeOf(error) === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option) throw new UsageError(`unknown option ${option} for upkeep ${name}`);
    throw new UsageError(errorMessage(error));
  }
  const flags = parsed.values as Record<string, string | boolean | undefined>;
  if (flags.help === true) {
    streams.stdout(commandHelp(command));
    return EXIT.ok;
  }
  const base = {
    positionals: parsed.positionals,
    flags,
    json: flags.json === true,
    tty: io.tty ?? process.stdout.isTTY === true,
    cwd: io.cwd ?? process.cwd(),
    ...streams,
  };
  if (command.needsConfig === false) {
    const ctx = { ...base, now: () => new Date() } as CommandContext;
    for (const key of ["config", "configPath", "upkeep"] as const) Object.defineProperty(ctx, key, { get: noConfig });
    return command.run(ctx);
  }

  const level = parseLogLevel(flags["log-level"]);
  const loaded = await loadConfig({ cwd: base.cwd, path: typeof flags.config === "string" ? flags.config : undefined });
  const config = loaded.config.logger ? loaded.config : { ...loaded.config, logger: createJsonLogger({ level, write: streams.stderr }) };
  const sqlite = resolveSqlitePath(config.db, dirname(loaded.path));
  if (sqlite) config.logger?.debug({ ...sqlite }, "[upkeep] relative SQLite filename resolved against the config file's directory");
  let upkeep: Upkeep;
  try {
    upkeep = registerTasks(manualAdapter(), config);
  } catch (error) {
    await config.db?.destroy();
    throw error;
  }
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= upkeep.stop();
    return stopped;
  };
  const onAbort = () => void stop().catch(() => {});
  io.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await command.run({
      ...base,
      config,
      configPath: loaded.path,
      upkeep,
      now: config.clock ?? (() => new Date()),
    });
  } finally {
    io.signal?.removeEventListener("abort", onAbort);
    // Close what keeps the process alive: the runner's timers, then the host's knex pool.
    try {
      await stop();
      await config.db?.destroy();
    } catch (error) {
      streams.stderr(`upkeep: closing the database failed: ${errorMessage(error)}\n`);
    }
  }
}

/**
 * Runs the `upkeep` command line in-process and resolves with the exit code: 0 success, 1 the task
 * run did not succeed (or the command failed at run time), 2 usage or configuration error.
 */
export async function main(argv: readonly string[], io: CliIo = {}): Promise<number> {
  const json = argv.includes("--json");
  const restore = json && !io.stdout ? stdoutToStderr() : undefined;
  const streams: Streams = {
    stdout: io.stdout ?? restore?.stdout ?? ((text) => void process.stdout.write(text)),
    stderr: io.stderr ?? ((text) => void process.stderr.write(text)),
  };
  try {
    return await dispatch(argv, io, streams);
  } catch (error) {
    return fail(error, streams, { json, command: splitCommand(argv).name });
  } finally {
    restore?.();
  }
}

/**
 * With `--json` on the process's own stdout, stdout must hold the one JSON document: whatever else
 * writes to it while the command runs (a library's console.log, such as knex's "Acquire connection
 * error" warnings, or a task's own output) goes to stderr. Returns the restore function, carrying
 * the original writer the command's output uses.
 */
function stdoutToStderr(): (() => void) & { stdout: (text: string) => void } {
  const write = process.stdout.write;
  const original = write.bind(process.stdout);
  process.stdout.write = ((...args: Parameters<typeof process.stderr.write>) =>
    process.stderr.write(...args)) as typeof process.stdout.write;
  return Object.assign(
    () => {
      process.stdout.write = write;
    },
    { stdout: (text: string) => void original(text) },
  );
}
