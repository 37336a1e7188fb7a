/**
 * The `upkeep` command, callable from code.
 * @module @upkeep/cli
 */
export { type Command, type CommandContext, type CommandOption, EXIT, UsageError } from "./command.ts";
export { commands } from "./commands/index.ts";
export { CONFIG_FILES, findConfig, type LoadConfigOptions, type LoadedConfig, loadConfig } from "./load-config.ts";
export { type CliIo, main, version } from "./main.ts";
