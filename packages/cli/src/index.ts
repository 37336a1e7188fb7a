export { type Command, type CommandContext, type CommandOption, EXIT, UsageError } from "./command.ts";
