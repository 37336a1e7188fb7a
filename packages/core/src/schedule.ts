import { Cron } from "croner";

/** A validated 5-field cron schedule in an IANA timezone. The core's one source of tick times. */
export interface Schedule {
  /** The 5-field cron pattern. */
  readonly pattern: string;
  /** The IANA timezone the pattern is read in. */
  readonly timezone: string;
  /** The first tick strictly after `after`. */
  next(after: Date): Date | null;
  /** The latest tick at or before `at`: the tick a run started at `at` belongs to. */
  tickAt(at: Date): Date | null;
  /** The latest tick strictly before `before`. */
  previous(before: Date): Date | null;
  /** The span one tick covers: a minute, or a second for a seconds pattern (testing only). */
  readonly granularityMs: number;
}

/** Options of `createSchedule` and `scheduleProblem`. */
export interface ScheduleOptions {
  /**
   * Accept a 6-field pattern whose first field is seconds. For conformance suites that must watch
   * real ticks within seconds; not reachable from the public configuration (see `SECOND_TICKS`).
   * @default false
   */
  seconds?: boolean;
}

/**
 * @internal Testing only. A config carrying `[SECOND_TICKS]: true` accepts 6-field (seconds)
 * patterns, so the adapter conformance suite can watch real ticks fire within seconds. It is a
 * symbol key, so it is not part of `UpkeepConfig` and no configuration file can set it by accident.
 */
export const SECOND_TICKS: unique symbol = Symbol.for("@upkeep/core.second-ticks");

const FIELDS = 5;

/** Whether `timezone` is an IANA zone this runtime knows. */
export function isValidTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Why a pattern/timezone pair is unusable, or `undefined` when it is fine. Standard 5-field cron
 * only: minute, hour, day of month, month, day of week. Day of month and day of week combine with
 * OR when both are restricted, as in Vixie cron.
 */
export function scheduleProblem(pattern: string, timezone: string, options: ScheduleOptions = {}): string | undefined {
  if (!isValidTimezone(timezone)) return "unknown IANA timezone";
  const fields = pattern.trim().split(/\s+/);
  const seconds = options.seconds === true && fields.length === FIELDS + 1;
  if (fields.length !== FIELDS && !seconds) return `expected 5 cron fields, got ${fields.length}`;
  try {
    build(pattern, timezone, seconds);
  } catch (error) {
    return error instanceof Error ? error.message.replace(/^CronPattern: /, "") : "invalid cron pattern";
  }
  return undefined;
}

function build(pattern: string, timezone: string, seconds = false): Cron {
  return new Cron(pattern.trim(), { paused: true, timezone, mode: seconds ? "6-part" : "5-part", domAndDow: false });
}

/** Builds a `Schedule`; throws when `scheduleProblem` reports a problem. */
export function createSchedule(pattern: string, timezone = "UTC", options: ScheduleOptions = {}): Schedule {
  const problem = scheduleProblem(pattern, timezone, options);
  if (problem) throw new RangeError(`invalid schedule: ${problem}`);
  const fields = pattern.trim().split(/\s+/);
  const seconds = fields.length === FIELDS + 1;
  const cron = build(pattern, timezone, seconds);
  return {
    pattern: fields.join(" "),
    timezone,
    granularityMs: seconds ? 1000 : 60_000,
    next: (after) => cron.nextRun(after),
    previous: (before) => cron.previousRuns(1, new Date(before.getTime() - 1))[0] ?? null,
    tickAt: (at) => {
      // A tick belongs to its whole minute: a run at 03:00:42 serves the 03:00 tick.
      const end = new Date(Math.floor(at.getTime() / 1000) * 1000 + 999);
      return cron.previousRuns(1, end)[0] ?? null;
    },
  };
}
