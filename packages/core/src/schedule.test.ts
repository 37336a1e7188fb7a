import { describe, expect, it } from "vitest";
import { createSchedule, scheduleProblem } from "./schedule.ts";

describe("schedule", () => {
  it("computes the next tick in the task's timezone across a DST change", () => {
    const berlin = createSchedule("0 3 * * *", "Europe/Berlin");
    // 2026-03-29: clocks go from 02:00 to 03:00 CEST, so 03:00 local is 01:00 UTC.
    expect(berlin.next(new Date("2026-03-28T12:00:00Z"))?.toISOString()).toBe("2026-03-29T01:00:00.000Z");
    expect(berlin.next(new Date("2026-03-29T01:00:00Z"))?.toISOString()).toBe("2026-03-30T01:00:00.000Z");
  });

  it("maps any moment of a minute to that minute's tick", () => {
    const everyMinute = createSchedule("* * * * *");
    expect(everyMinute.tickAt(new Date("2026-01-01T00:05:00.000Z"))?.toISOString()).toBe("2026-01-01T00:05:00.000Z");
    expect(everyMinute.tickAt(new Date("2026-01-01T00:05:59.999Z"))?.toISOString()).toBe("2026-01-01T00:05:00.000Z");
    const daily = createSchedule("0 3 * * *");
    expect(daily.tickAt(new Date("2026-01-02T02:59:59Z"))?.toISOString()).toBe("2026-01-01T03:00:00.000Z");
  });

  it("gives the latest tick strictly before a moment", () => {
    const everyMinute = createSchedule("*/5 * * * *");
    expect(everyMinute.previous(new Date("2026-01-01T00:10:00Z"))?.toISOString()).toBe("2026-01-01T00:05:00.000Z");
  });

  it("combines day of month and day of week with OR, as cron does", () => {
    const s = createSchedule("0 0 13 * 5");
    // 2026-02-06 is a Friday; the 13th of February is a Friday too; 2026-02-20 is a Friday.
    expect(s.next(new Date("2026-02-01T00:00:00Z"))?.toISOString()).toBe("2026-02-06T00:00:00.000Z");
    expect(s.next(new Date("2026-03-07T00:00:00Z"))?.toISOString()).toBe("2026-03-13T00:00:00.000Z");
  });

  it("names what is wrong with a pattern or a timezone", () => {
    expect(scheduleProblem("* * * *", "UTC")).toBe("expected 5 cron fields, got 4");
    expect(scheduleProblem("* * * * * *", "UTC")).toBe("expected 5 cron fields, got 6");
    expect(scheduleProblem("61 * * * *", "UTC")).toMatch(/minute/);
    expect(scheduleProblem("* * * * *", "Mars/Olympus")).toBe("unknown IANA timezone");
    expect(scheduleProblem("*/15 9-17 * * 1-5", "America/New_York")).toBeUndefined();
  });
});
