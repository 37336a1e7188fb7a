import { describe, expect, it } from "vitest";
import { formatDuration, formatRelative, formatTime, oneLine, table } from "./format.ts";

describe("format", () => {
  it("aligns table columns to the widest cell with no trailing spaces", () => {
    const text = table(
      ["ID", "NEXT"],
      [
        ["a-long-id", "x"],
        ["b", ""],
      ],
    );
    expect(text).toBe("ID         NEXT\na-long-id  x\nb\n");
  });

  it("formats a time in the given timezone", () => {
    const at = new Date("2026-07-01T01:30:00Z");
    expect(formatTime(at, "UTC")).toBe("2026-07-01 01:30");
    expect(formatTime(at, "Europe/Berlin")).toBe("2026-07-01 03:30");
    expect(formatTime(at, "America/New_York")).toBe("2026-06-30 21:30");
  });

  it("formats relative times and durations in their two largest units", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    expect(formatRelative(new Date("2026-01-01T04:12:00Z"), now)).toBe("in 4h 12m");
    expect(formatRelative(new Date("2025-12-31T23:55:00Z"), now)).toBe("5m ago");
    expect(formatRelative(now, now)).toBe("now");
    expect(formatDuration(12)).toBe("12 ms");
    expect(formatDuration(3400)).toBe("3.4 s");
    expect(formatDuration(125_000)).toBe("2m 5s");
    expect(formatDuration(null)).toBe("-");
  });

  it("keeps the first line of a long message, cut with an ellipsis", () => {
    expect(oneLine(`${"x".repeat(100)}\nstack`, 10)).toBe(`${"x".repeat(9)}…`);
  });
});
