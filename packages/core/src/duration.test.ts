import { describe, expect, it } from "vitest";
import { parseDuration } from "./duration.ts";

describe("parseDuration", () => {
  it("reads numbers as milliseconds and unit strings", () => {
    expect(parseDuration(250)).toBe(250);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("15m")).toBe(900_000);
    expect(parseDuration("1.5h")).toBe(5_400_000);
    expect(parseDuration("90d")).toBe(90 * 86_400_000);
    expect(parseDuration("2w")).toBe(14 * 86_400_000);
  });

  it("rejects what is not a duration", () => {
    expect(parseDuration("90 days")).toBeUndefined();
    expect(parseDuration("-5m")).toBeUndefined();
    expect(parseDuration(-1)).toBeUndefined();
    expect(parseDuration(Number.NaN)).toBeUndefined();
    expect(parseDuration("")).toBeUndefined();
  });
});
