import { Cron } from "croner";

/** A validated 5-field cron schedule in an IANA timezone. The core's one source of tick times. */
export interface Schedule {
  readonly pattern: string;
  readonly timezone: string;
  /** The first tick strictly after `after`. */
  next(after: Date): Date | null;
  /** The latest tick at or before `at`: the tick a run started at `at` belongs to. */
  tickAt(at: Date): Date | null;
  /** The latest tick strictly before `before`. */
  previous(before: Date): Date | null;
}

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
export function scheduleProblem(pattern: string, timezone: string): string | undefined {
  if (!isValidTimezone(timezone)) return "unknown IANA timezone";
  const fields = pattern.trim().split(/\s+/);
  if (fields.length !== FIELDS) return `expected 5 cron fields, got ${fields.length}`;
  try {
    build(pattern, timezone);
  } catch (error) {
    return error instanceof Error ? error.message.replace(/^CronPattern: /, "") : "invalid cron pattern";
  }
  return undefined;
}

function build(pattern: string, timezone: string): Cron {
  return new Cron(pattern.trim(), { paused: true, timezone, mode: "5-part", domAndDow: false });
}

/** Builds a `Schedule`; throws when `scheduleProblem` reports a problem. */
export function createSchedule(pattern: string, timezone = "UTC"): Schedule {
  const problem = scheduleProblem(pattern, timezone);
  if (problem) throw new RangeError(`invalid schedule: ${problem}`);
  const cron = build(pattern, timezone);
  const normalised = pattern.trim().split(/\s+/).join(" ");
  return {
    pattern: normalised,
    timezone,
    next: (after) => cron.nextRun(after),
    previous: (before) => cron.previousRuns(1, new Date(before.getTime() - 1))[0] ?? null,
    tickAt: (at) => {
      // A tick belongs to its whole minute: a run at 03:00:42 serves the 03:00 tick.
      const end = new Date(Math.floor(at.getTime() / 1000) * 1000 + 999);
      return cron.previousRuns(1, end)[0] ?? null;
    },
  };
}
