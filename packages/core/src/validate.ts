import type * as z from "zod";
import { ConfigError, type ConfigIssue } from "./errors.ts";

/** Turns zod issues into path + message pairs. zod 4 issues carry no input values by default. */
export function toIssues(error: z.ZodError, prefix: string): ConfigIssue[] {
  return error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join("."),
    message: issue.message,
  }));
}

/** Parses `value` with `schema`, or throws a `ConfigError` naming each failing field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string, prefix = ""): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new ConfigError(`invalid ${what}`, toIssues(parsed.error, prefix));
}
