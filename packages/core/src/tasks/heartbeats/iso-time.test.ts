import { describe, expect, it } from "vitest";
import { isoTime } from "./iso-time.ts";

describe("isoTime", () => {
  it("writes exactly what toISOString writes, across days, years and the range's edges", () => {
    const moments = [
      0,
      1,
      999,
      86_399_999,
      86_400_000,
      Date.parse("2026-03-01T12:00:00.000Z"),
      Date.parse("2024-02-29T23:59:59.999Z"),
      Date.parse("2000-01-01T00:00:00.000Z"),
      253_402_300_799_999, // 9999-12-31T23:59:59.999Z
      253_402_300_800_000, // year 10000: six-digit year
      -1, // 1969
      -62_198_755_200_000, // year -0001
    ];
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      moments.push(Math.floor((seed / 2_147_483_648) * 4_102_444_800_000)); // 1970 to 2100
      moments.push(1_772_366_400_000 - i * 7_777); // a run of nearby instants, as one pass formats
    }
    for (const ms of moments) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it("drops a fraction of a millisecond as Date does (PostgreSQL microseconds)", () => {
    expect(isoTime(1_772_366_400_123.456)).toBe("2026-03-01T12:00:00.123Z");
    expect(isoTime(1_772_366_400_123.999)).toBe(new Date(1_772_366_400_123.999).toISOString());
  });

  it("throws a RangeError for an invalid instant, as toISOString does", () => {
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
  });
});
