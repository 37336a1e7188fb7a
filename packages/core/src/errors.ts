/** Every error code upkeep throws, so callers can branch on `error.code`. */
export type UpkeepErrorCode =
  | "CONFIG_INVALID"
  | "TASK_NOT_FOUND"
  | "TASK_PAUSED"
  | "TASK_FAILED"
  | "TASK_TIMEOUT"
  | "ADAPTER_FAILED"
  | "STORE_FAILED"
  | "NOT_MIGRATED"
  | "NOT_STARTED"
  | "ALREADY_STARTED"
  | "ABORTED"
  | "DECRYPT_FAILED"
  | "KEY_NOT_FOUND"
  | "KEK_FAILED"
  | "MODEL_NOT_FOUND"
  | "EVENT_INVALID"
  | "EVENT_NOT_FOUND";

/** Options every upkeep error accepts. */
export interface UpkeepErrorOptions {
  /** The error that led to this one; it becomes the error's `cause`, absent when there was none. */
  cause?: unknown;
}

const PREFIX = "[upkeep]";

function prefixed(message: string): string {
  return message.startsWith(PREFIX) ? message : `${PREFIX} ${message}`;
}

/**
 * The one error class upkeep throws. `code` says what went wrong; `cause` holds the original error
 * when upkeep wrapped one. Messages start with `[upkeep]` and never contain a secret or an input
 * value.
 */
export class UpkeepError extends Error {
  /** `UpkeepError`, or the subclass's name. */
  override readonly name: string = "UpkeepError";
  /** What went wrong, for programs to branch on. */
  readonly code: UpkeepErrorCode;

  /** `message` gets the `[upkeep]` prefix; `options.cause` becomes the error's `cause`. */
  constructor(code: UpkeepErrorCode, message: string, options: UpkeepErrorOptions = {}) {
    super(prefixed(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** One problem found while validating a configuration: where it is, and what is wrong. */
export interface ConfigIssue {
  /** Dotted path of the offending field, such as `tasks.cleanup.input.policies.0.table`. */
  path: string;
  /** What is wrong there; never the value. */
  message: string;
}

/**
 * Thrown by `registerTasks`, `defineTask` and the CLI when a configuration is invalid. The message
 * names every failing field path; `issues` lists them for programs. Values are never included.
 */
export class ConfigError extends UpkeepError {
  /** `ConfigError`. */
  override readonly name = "ConfigError";
  /** Every failing field, with its path and what is wrong. */
  readonly issues: readonly ConfigIssue[];

  /** The message is followed by one line per issue, `path: message`. */
  constructor(message: string, issues: readonly ConfigIssue[] = [], options: UpkeepErrorOptions = {}) {
    const detail = issues.map((issue) => `\n  - ${issue.path || "(root)"}: ${issue.message}`).join("");
    super("CONFIG_INVALID", `${message}${detail}`, options);
    this.issues = issues;
  }
}

/**
 * Thrown when a scheduling adapter's own call fails (schedule, unschedule, start, stop). The
 * adapter's original error is the `cause`.
 */
export class AdapterError extends UpkeepError {
  /** `AdapterError`. */
  override readonly name = "AdapterError";
  /** The failing adapter's name. */
  readonly adapter: string;

  /** `adapter` is the adapter's name, put in front of the message. */
  constructor(adapter: string, message: string, options: UpkeepErrorOptions = {}) {
    super("ADAPTER_FAILED", `[${adapter}] ${message}`, options);
    this.adapter = adapter;
  }
}

/** Options of `new TaskError(message, options)`. */
export interface TaskErrorOptions extends UpkeepErrorOptions {
  /**
   * Whether the runner may retry the run after this error (with the task's `retry` policy).
   * @default false
   */
  retryable?: boolean;
  /** A short machine-readable reason stored with the run, such as `STRIPE_LISTING_INCOMPLETE`. */
  reason?: string;
  /** What the run did before it failed (counts, ids), stored as the failed run's result. Never a secret. */
  result?: unknown;
}

/**
 * Thrown by a task to fail its run on purpose. Mark transient failures `retryable: true` so the
 * runner retries them with backoff; everything else fails the run at once.
 */
export class TaskError extends UpkeepError {
  /** `TaskError`. */
  override readonly name = "TaskError";
  /** Whether the runner may retry the run (see {@link TaskErrorOptions.retryable}). */
  readonly retryable: boolean;
  /** The short machine-readable reason stored with the run, when given. */
  readonly reason: string | undefined;
  /** What the run did before it failed, stored as the failed run's result. */
  readonly result: unknown;

  /** A run failed with `message`; see {@link TaskErrorOptions} for retries, the reason and the result. */
  constructor(message: string, options: TaskErrorOptions = {}) {
    super("TASK_FAILED", message, options);
    this.retryable = options.retryable ?? false;
    this.reason = options.reason;
    this.result = options.result;
  }
}

/**
 * The message of anything thrown, without assuming it is an Error. A value that is not an Error is
 * described by its kind (`reject(undefined)`, a thrown plain object: its `message` when it has one,
 * else its keys, never their values, which may be secret).
 */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  if (error === undefined || error === null) return `non-error value thrown: ${error} (a rejection or throw without an error)`;
  if (typeof error === "object") {
    const message = (error as { message?: unknown }).message;
    if (typeof message === "string" && message !== "") return message;
    const keys = Object.keys(error);
    const shown = keys.slice(0, 10).join(", ") + (keys.length > 10 ? `, … (${keys.length} keys)` : "");
    const kind = Array.isArray(error)
      ? `an array of ${error.length}`
      : `an object${keys.length > 0 ? ` with keys ${shown}` : " with no keys"}`;
    return `non-error value thrown: ${kind}`;
  }
  if (typeof error === "function") return `non-error value thrown: a function${error.name ? ` named ${error.name}` : ""}`;
  if (typeof error === "symbol") return `non-error value thrown: ${error.toString()}`;
  return `non-error value thrown: ${typeof error} ${String(error)}`;
}
