import type { StandardSchemaV1 } from "@standard-schema/spec";
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

/** Whether `value` implements Standard Schema v1 (zod 3.24+ and 4, Valibot, ArkType, …). */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return false;
  const props = (value as { "~standard"?: { version?: unknown; validate?: unknown } })["~standard"];
  return typeof props === "object" && props !== null && props.version === 1 && typeof props.validate === "function";
}

/** The outcome of `validateInput`: the schema's output, or the issues with their config paths. */
export type InputValidation<T> = { ok: true; value: T } | { ok: false; issues: ConfigIssue[] };

const ASYNC_MESSAGE =
  "the schema validated asynchronously (it returned a Promise); task inputs are validated synchronously at registerTasks: use a schema without async refinements or transforms";

function valueAt(root: unknown, keys: readonly PropertyKey[]): unknown {
  let current = root;
  for (const key of keys) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/**
 * Some validators quote the offending value in their messages (Valibot's `received "…"`, ArkType's
 * `(was "…")`); an input may hold a secret, so the value at the issue's path is cut out. zod's own
 * messages never quote it, and a task's refinements name what they mean to (a protected table's
 * name), so zod issues are kept as written.
 */
function withoutValue(message: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0) return message;
  let out = message.split(JSON.stringify(value)).join("<value>");
  if (value.length >= 4) out = out.split(value).join("<value>");
  return out;
}

/**
 * Validates `value` with any Standard Schema, synchronously. Issue paths are prefixed with `prefix`
 * (`tasks.<id>.input`) and joined with dots, like zod's; messages never carry the value. A schema
 * that answers with a Promise is an issue at `prefix` (see `ASYNC_MESSAGE`).
 */
export function validateInput<T>(schema: StandardSchemaV1<unknown, T>, value: unknown, prefix: string): InputValidation<T> {
  const result = schema["~standard"].validate(value);
  if (typeof (result as { then?: unknown }).then === "function") {
    // Nobody awaits it: keep a rejection from becoming an unhandled one.
    Promise.resolve(result).catch(() => undefined);
    return { ok: false, issues: [{ path: prefix, message: ASYNC_MESSAGE }] };
  }
  const sync = result as StandardSchemaV1.Result<T>;
  if (!sync.issues) return { ok: true, value: sync.value };
  const scrub = schema["~standard"].vendor !== "zod";
  return {
    ok: false,
    issues: sync.issues.map((issue) => {
      const keys = (issue.path ?? []).map((segment) => (typeof segment === "object" && segment !== null ? segment.key : segment));
      return {
        path: [prefix, ...keys.map(String)].filter(Boolean).join("."),
        message: scrub ? withoutValue(issue.message, valueAt(value, keys)) : issue.message,
      };
    }),
  };
}

/** Validates `value` with a Standard Schema, or throws a `ConfigError` naming each failing field. */
export function validateInputOrThrow<T>(schema: StandardSchemaV1<unknown, T>, value: unknown, what: string, prefix: string): T {
  const validated = validateInput(schema, value, prefix);
  if (validated.ok) return validated.value;
  throw new ConfigError(`invalid ${what}`, validated.issues);
}
