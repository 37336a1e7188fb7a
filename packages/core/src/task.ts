import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { Knex } from "knex";
import * as z from "zod";
import type { UpkeepCrypto } from "./crypto/crypto.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { ConfigError, type ConfigIssue } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { scheduleProblem } from "./schedule.ts";
import { isStandardSchema, toIssues } from "./validate.ts";

/** How a run was started. */
export type RunTrigger = "schedule" | "manual" | "catch-up";

/** Progress a task reports while it works; the CLI shows it live. */
export interface Progress {
  /** How much is done. */
  done: number;
  /** How much there is in all, when known. */
  total?: number;
  /** What is counted, such as `rows`. */
  unit?: string;
  /** A short label, such as the policy or column being worked on. */
  label?: string;
}

/**
 * An event a task emits. Security events (`security: true`) also reach `upkeep.on("security")`.
 * `data` is delivered to handlers as is: never put a secret in it.
 */
export interface TaskEvent {
  /** A dotted name, such as `agent.suspended` or `billing.downgraded`. */
  type: string;
  /** Marks a security event. @default false */
  security?: boolean;
  /** How urgent the event is. @default "info" */
  severity?: "info" | "warning" | "critical";
  /** Event fields, stored as JSON; put no secret here. */
  data?: Record<string, unknown>;
}

/** Options of `ctx.emit`. */
export interface EmitOptions {
  /**
   * A transaction of `ctx.db` (the outermost one): the events are written in it, so they exist
   * exactly when the change they report commits, and are delivered after that commit.
   */
  trx: Knex.Transaction;
}

/** What a task's `run` receives besides its input. */
export interface TaskContext {
  /** The run's id. */
  readonly runId: string;
  /** The task's id. */
  readonly taskId: string;
  /** The tick this run serves; for a manual run, the moment it was asked for. */
  readonly scheduledFor: Date;
  /** What started the run: `schedule`, `catch-up` or `manual`. */
  readonly trigger: RunTrigger;
  /** 1 for the first attempt, 2 for the first retry, and so on. */
  readonly attempt: number;
  /** Fires on timeout (reason `timeout`) or shutdown (reason `shutdown`). Check it between batches. */
  readonly signal: AbortSignal;
  /** The run's logger, with `taskId` and `runId` bound. */
  readonly logger: Logger;
  /** When true, report what would change and change nothing. */
  readonly dryRun: boolean;
  /** The host's knex instance, when the configuration has one. */
  readonly db: Knex | undefined;
  /** The configuration's `tablePrefix`, for tasks that keep their own upkeep tables (such as `<prefix>keys`). */
  readonly tablePrefix: string;
  /** The configuration's envelope encryption (`upkeep.crypto`), when it has both `crypto` and `db`. */
  readonly crypto: UpkeepCrypto | undefined;
  /** The IANA timezone the task's schedule is read in: the task's own, else the configuration's (UTC by default). */
  readonly timezone: string;
  /** The current time from the configured clock (injectable for tests). */
  now(): Date;
  /** Reports progress; cheap, call it per batch. */
  progress(progress: Progress): void;
  /**
   * Emits domain or security events (one, or a list written in one statement). They are written to
   * the outbox (`<prefix>events`) right away, in a statement of their own, and delivered to the
   * `upkeep.on` handlers and the configured targets once written. In a dry run nothing is written or
   * sent.
   * @throws {UpkeepError} `EVENT_INVALID` naming the field of a malformed event.
   */
  emit(event: TaskEvent | readonly TaskEvent[]): void;
  /**
   * Emits events in the transaction `options.trx`: written with the change they report, delivered
   * after the commit, never when it rolls back. Await it before the transaction ends.
   */
  emit(event: TaskEvent | readonly TaskEvent[], options: EmitOptions): Promise<void>;
  /** Ends the run as `skipped` with this reason (too little data, nothing to do). */
  skip(reason: string): never;
}

/** Retry policy for errors a task marks retryable. */
export interface RetryPolicy {
  /**
   * Retries after the first attempt.
   * @default 0
   */
  retries?: number;
  /**
   * Delay before the first retry; later ones double it (exponential) or repeat it (fixed).
   * @default "1s"
   */
  delay?: Duration;
  /** How the wait grows between retries: doubling from `delay`, or always `delay`. @default "exponential" */
  backoff?: "exponential" | "fixed";
  /**
   * Upper bound of one delay.
   * @default "5m"
   */
  maxDelay?: Duration;
}

/** What runs when a run of the same task is still going. */
export type OverlapPolicy = "skip" | "allow";

/** The options of `defineTask`. */
export interface TaskOptions<Input, Result> {
  /** Unique, lower-case: letters, digits, `-`, `_`, `.`; at most 64 characters. */
  id: string;
  /** One line saying what the task does, shown by `upkeep list` and the dashboard. @default undefined */
  description?: string;
  /** Standard 5-field cron pattern. */
  schedule: string;
  /**
   * IANA timezone the schedule is read in; falls back to the configuration's `timezone`.
   * @default "UTC"
   */
  timezone?: string;
  /**
   * Validates the input once at registration (and again for a manual run's input override): any
   * Standard Schema validator (zod 3.24+ and 4, Valibot, ArkType, …); `run` receives its output.
   * Validation is synchronous: a schema whose validation returns a Promise (an async refinement)
   * is a `ConfigError` at `registerTasks`.
   * @default a schema that accepts only an empty object
   */
  input?: StandardSchemaV1<unknown, Input>;
  /** The input used when the configuration gives none. Built-in task factories put their options here. */
  defaultInput?: unknown;
  /**
   * How a run's input (`upkeep.run(id, { input })`, the CLI's `--input`) combines with the
   * registered input before the schema validates it; a task uses it to keep fields that a run may
   * tighten but not loosen.
   * @default a shallow merge, the run's fields replacing the registered ones
   */
  mergeInput?: (registered: Input, override: Record<string, unknown>) => unknown;
  /**
   * Longest one attempt may run; then `signal` aborts with reason `timeout` and the run is
   * `timed_out`.
   * @default "1h"
   */
  timeout?: Duration;
  /**
   * Retries for errors the task marks retryable (a `TaskError` with `retryable: true`).
   * @default no retries
   */
  retry?: RetryPolicy;
  /** What happens when a run is due while the previous one is still running: `skip` records it skipped, `allow` runs both. @default "skip" */
  overlap?: OverlapPolicy;
  /**
   * Run the most recent missed tick at start-up when no run of it exists.
   * @default false
   */
  catchUp?: boolean;
  /** Whether this task is scheduled. A disabled task can still be run by hand. @default true */
  enabled?: boolean;
  /**
   * The task works on the host's database (`ctx.db`): registering it in a configuration without
   * `db` is a `ConfigError` naming the task, not a failed run later.
   * @default false
   */
  needsDb?: boolean;
  /**
   * The task's work: gets the run's context and its validated input, returns the run's result
   * (stored as JSON; never a secret). Throw a `TaskError` to fail the run on purpose.
   */
  run: (ctx: TaskContext, input: Input) => Promise<Result> | Result;
  /**
   * Checks the input against the database once `upkeep.start()` has migrated, before anything is
   * scheduled (tables and columns exist, say). Each returned issue's path is relative to the input;
   * any issue makes `start()` throw a `ConfigError`. Warnings go to `logger`.
   */
  verify?: (context: TaskVerifyContext<Input>) => Promise<readonly ConfigIssue[]> | readonly ConfigIssue[];
}

/** What a task's `verify` receives. */
export interface TaskVerifyContext<Input> {
  /** The host's knex instance, when the configuration has one. */
  readonly db: Knex | undefined;
  /** The validated input the task is registered with. */
  readonly input: Input;
  /** The configuration's logger, bound to the task's id. */
  readonly logger: Logger;
  /** The configuration's envelope encryption (`upkeep.crypto`), when it has both `crypto` and `db`. */
  readonly crypto: UpkeepCrypto | undefined;
  /** The configuration's `tablePrefix`. */
  readonly tablePrefix: string;
}

/** A task ready to register: what `defineTask` and the built-in factories return. */
export interface TaskDefinition<Input = unknown, Result = unknown> {
  /** Brands the object as a task definition; always `"upkeep.task"`. */
  readonly kind: "upkeep.task";
  /** The task id, unique in a configuration. */
  readonly id: string;
  /** The description shown by `upkeep list`; an empty string when none was given. */
  readonly description: string;
  /** The cron expression the task runs on. */
  readonly schedule: string;
  /** The IANA time zone of the schedule; `undefined` means the configuration's timezone. */
  readonly timezone: string | undefined;
  /** The task's input schema (a Standard Schema validator). */
  readonly input: StandardSchemaV1<unknown, Input>;
  /** The input the task is registered with when the configuration gives none. */
  readonly defaultInput: unknown;
  /** See {@link TaskOptions.mergeInput}. */
  readonly mergeInput: TaskOptions<Input, Result>["mergeInput"];
  /** Longest a run may take, in milliseconds, before it is aborted and fails. */
  readonly timeoutMs: number;
  /** The retry policy with its defaults applied and its durations in milliseconds. */
  readonly retry: Required<Pick<RetryPolicy, "retries" | "backoff">> & {
    /** Wait before the first retry, in milliseconds. */
    delayMs: number;
    /** Longest wait between two attempts, in milliseconds. */
    maxDelayMs: number;
  };
  /** What happens when a run is due while the previous one is still running. */
  readonly overlap: OverlapPolicy;
  /** Whether one missed run is made up at start-up. */
  readonly catchUp: boolean;
  /** Whether the task is scheduled; a disabled task can still be run by hand. */
  readonly enabled: boolean;
  /** Whether the task needs the configuration's `db`; registering it without one is a `ConfigError`. */
  readonly needsDb: boolean;
  /** See {@link TaskOptions.run}. */
  readonly run: (ctx: TaskContext, input: Input) => Promise<Result> | Result;
  /** See {@link TaskOptions.verify}. */
  readonly verify: TaskOptions<Input, Result>["verify"];
}

/** A task of any input and result type, as a config's `tasks` list holds them. */
// biome-ignore lint/suspicious/noExplicitAny: a registry holds tasks of every input and result type.
export type AnyTaskDefinition = TaskDefinition<any, any>;

export const TASK_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const durationField = z.union([z.number(), z.string()]).refine((value) => parseDuration(value) !== undefined, {
  message: "expected milliseconds or a duration such as '30s', '15m', '1h', '90d'",
});

const optionsSchema = z.object({
  id: z.string().regex(TASK_ID, "expected lower-case letters, digits, '.', '_' or '-', at most 64 characters"),
  description: z.string().optional(),
  schedule: z.string().min(1),
  timezone: z.string().optional(),
  timeout: durationField.optional(),
  retry: z
    .object({
      retries: z.number().int().min(0).max(100).optional(),
      delay: durationField.optional(),
      backoff: z.enum(["exponential", "fixed"]).optional(),
      maxDelay: durationField.optional(),
    })
    .strict()
    .optional(),
  overlap: z.enum(["skip", "allow"]).optional(),
  catchUp: z.boolean().optional(),
  enabled: z.boolean().optional(),
  needsDb: z.boolean().optional(),
  run: z.custom<(...args: unknown[]) => unknown>((value) => typeof value === "function", "expected a function"),
  verify: z.custom<(...args: unknown[]) => unknown>((value) => typeof value === "function", "expected a function").optional(),
  input: z.custom((value) => isStandardSchema(value), "expected a Standard Schema validator (zod 3.24+ or 4, Valibot, ArkType)").optional(),
  mergeInput: z.custom<(...args: unknown[]) => unknown>((value) => typeof value === "function", "expected a function").optional(),
});

const ms = (value: number | string | undefined, fallback: number): number =>
  value === undefined ? fallback : (parseDuration(value) as number);

/**
 * Defines a task. Validates the definition itself at once (id, schedule, timezone, timeout, retry);
 * the input is validated when the task is registered.
 *
 * @throws {ConfigError} naming each invalid field.
 */
export function defineTask<Input = Record<string, never>, Result = unknown>(
  options: TaskOptions<Input, Result>,
): TaskDefinition<Input, Result> {
  const parsed = optionsSchema.safeParse(options);
  const named = typeof options?.id === "string" && TASK_ID.test(options.id);
  const where = named ? `task ${options.id}` : "task";
  // Paths as the config names them (`tasks.<id>.schedule`), once the id itself is valid.
  const prefix = named ? `tasks.${options.id}` : "";
  if (!parsed.success) throw new ConfigError(`invalid ${where}`, toIssues(parsed.error, prefix));
  const problem = scheduleProblem(options.schedule, options.timezone ?? "UTC");
  if (problem) {
    const field = options.timezone && problem.includes("timezone") ? "timezone" : "schedule";
    throw new ConfigError(`invalid ${where}`, [{ path: prefix ? `${prefix}.${field}` : field, message: problem }]);
  }
  const retry = options.retry ?? {};
  return {
    kind: "upkeep.task",
    id: options.id,
    description: options.description ?? "",
    schedule: options.schedule.trim().split(/\s+/).join(" "),
    timezone: options.timezone,
    input: options.input ?? (z.object({}).strict() as unknown as StandardSchemaV1<unknown, Input>),
    defaultInput: options.defaultInput,
    mergeInput: options.mergeInput,
    timeoutMs: ms(options.timeout, 3_600_000),
    retry: {
      retries: retry.retries ?? 0,
      backoff: retry.backoff ?? "exponential",
      delayMs: ms(retry.delay, 1000),
      maxDelayMs: ms(retry.maxDelay, 300_000),
    },
    overlap: options.overlap ?? "skip",
    catchUp: options.catchUp ?? false,
    enabled: options.enabled ?? true,
    needsDb: options.needsDb ?? false,
    run: options.run,
    verify: options.verify,
  };
}

/** Whether a value is a `TaskDefinition`. */
export function isTaskDefinition(value: unknown): value is AnyTaskDefinition {
  return typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "upkeep.task";
}
