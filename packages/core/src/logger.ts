/** Structured fields of a log line. Never put a secret in one. */
export type LogFields = Record<string, unknown>;

type LogMethod = (fields: LogFields, message: string) => void;

/**
 * Any logger with pino's shape: `logger.info({ taskId }, "message")`. pino, a pino child, or the
 * built-in JSON-lines logger all fit. `child` is used when present to bind a run's ids.
 */
export interface Logger {
  /** Writes a debug line. */
  debug: LogMethod;
  /** Writes an info line. */
  info: LogMethod;
  /** Writes a warning. */
  warn: LogMethod;
  /** Writes an error. */
  error: LogMethod;
  /** A logger that adds `bindings` to every line; used when present to bind a run's ids. */
  child?: (bindings: LogFields) => Logger;
}

/** A log level; `silent` writes nothing. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const RANK: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50, silent: 99 };

/** Options of `createJsonLogger`. */
export interface JsonLoggerOptions {
  /**
   * The lowest level written.
   * @default "info"
   */
  level?: LogLevel;
  /**
   * Where lines go.
   * @default process.stderr
   */
  write?: (line: string) => void;
  /** Fields bound to every line. */
  bindings?: LogFields;
}

function serialise(value: unknown): unknown {
  if (value instanceof Error) {
    const out: LogFields = { name: value.name, message: value.message };
    if ("code" in value) out.code = value.code;
    if (value.stack) out.stack = value.stack;
    return out;
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

const drop: LogMethod = () => {};
/** The silent logger: its children are itself, as they would write nothing either. */
const silent: Logger = { debug: drop, info: drop, warn: drop, error: drop, child: () => silent };

/** A logger writing one JSON object a line, pino-compatible in shape (`level`, `time`, `msg`). */
export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const threshold = RANK[options.level ?? "info"];
  if (threshold === RANK.silent) return silent;
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const bindings = options.bindings ?? {};
  const at =
    (level: Exclude<LogLevel, "silent">): LogMethod =>
    (fields, message) => {
      if (RANK[level] < threshold) return;
      const record: LogFields = { level, time: new Date().toISOString(), ...bindings };
      for (const [key, value] of Object.entries(fields)) record[key] = serialise(value);
      record.msg = message;
      write(`${JSON.stringify(record)}\n`);
    };
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (extra) => createJsonLogger({ ...options, bindings: { ...bindings, ...extra } }),
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = createJsonLogger({ level: "silent" });

/** `logger.child(bindings)` when the logger has it, else a wrapper that adds the bindings. */
export function childLogger(logger: Logger, bindings: LogFields): Logger {
  if (logger.child) return logger.child(bindings);
  const wrap =
    (method: LogMethod): LogMethod =>
    (fields, message) =>
      method.call(logger, { ...bindings, ...fields }, message);
  return {
    debug: wrap(logger.debug),
    info: wrap(logger.info),
    warn: wrap(logger.warn),
    error: wrap(logger.error),
    child: (extra) => childLogger(logger, { ...bindings, ...extra }),
  };
}
