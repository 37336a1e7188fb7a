import { describe, expect, it } from "vitest";
import { formOfValue, formOfValues, lexicalProblem, type SqliteTimeForm, sqliteCutoff, sqliteStoredTime } from "./sqlite-time.ts";

const DJANGO: SqliteTimeForm = { kind: "text", separator: " ", zone: "", digits: "varies" };
const JS: SqliteTimeForm = { kind: "text", separator: "T", zone: "Z", digits: 3 };

/** `row < cutoff` as SQLite compares two texts (byte order). */
const before = (row: string, cutoff: string) => row < cutoff;

describe("SQLite time forms", () => {
  it("reads each framework's form from a value", () => {
    expect(formOfValue("2026-03-01 12:00:00.123000")).toEqual({ kind: "text", separator: " ", zone: "", digits: 6 });
    expect(formOfValue("2026-03-01 12:00:00")).toEqual({ kind: "text", separator: " ", zone: "", digits: 0 });
    expect(formOfValue("2026-03-01T12:00:00.123Z")).toEqual(JS);
    expect(formOfValue("2026-03-01T12:00:00+02:00")).toEqual({ kind: "text", separator: "T", zone: "+02:00", digits: 0 });
    expect(formOfValue(1_772_366_400_000)).toEqual({ kind: "epoch_ms" });
    expect(formOfValue(1_772_366_400)).toEqual({ kind: "epoch_s" });
    expect(formOfValue(2461100.5)).toHaveProperty("unreadable");
    expect(formOfValue("1772366400000")).toHaveProperty("unreadable");
    expect(formOfValue("2026-03-01 12:00")).toHaveProperty("unreadable");
  });

  it("takes a varying fraction as one form, and refuses values in several", () => {
    expect(formOfValues([null, "2026-03-01 12:00:00", "2026-03-01 12:00:00.5"])).toEqual(DJANGO);
    expect(formOfValues([])).toBe("empty");
    expect(formOfValues(["2026-03-01 12:00:00", "2026-03-01T12:00:00"])).toHaveProperty("problem");
    expect(formOfValues([1_772_366_400_000, 1_772_366_400])).toEqual({
      problem: "holds times in several forms (epoch milliseconds, epoch seconds): store one form",
    });
  });

  it("binds a cutoff that compares exactly as text whatever the row's fraction length", () => {
    const whole = sqliteCutoff(new Date("2026-03-01T12:00:00.000Z"), DJANGO);
    expect(whole).toBe("2026-03-01 12:00:00");
    expect(before("2026-03-01 12:00:00", whole as string)).toBe(false);
    expect(before("2026-03-01 12:00:00.000000", whole as string)).toBe(false);
    expect(before("2026-03-01 11:59:59.999999", whole as string)).toBe(true);
    const part = sqliteCutoff(new Date("2026-03-01T12:00:00.120Z"), DJANGO);
    expect(part).toBe("2026-03-01 12:00:00.12");
    expect(before("2026-03-01 12:00:00.120000", part as string)).toBe(false);
    expect(before("2026-03-01 12:00:00.119999", part as string)).toBe(true);
    expect(before("2026-03-01 12:00:00", part as string)).toBe(true);
    const python = sqliteCutoff(new Date("2026-03-01T12:00:00.500Z"), { ...DJANGO, separator: "T", zone: "+00:00" });
    expect(python).toBe("2026-03-01T12:00:00.5+00:00");
    expect(before("2026-03-01T12:00:00+00:00", python as string)).toBe(true);
    expect(before("2026-03-01T12:00:00.500000+00:00", python as string)).toBe(false);
  });

  it("rounds a cutoff up to a fixed fraction and to the second for seconds", () => {
    const at = new Date("2026-03-01T12:00:00.250Z");
    expect(sqliteCutoff(at, JS)).toBe("2026-03-01T12:00:00.250Z");
    expect(sqliteCutoff(at, { ...JS, digits: 0 })).toBe("2026-03-01T12:00:01Z");
    expect(sqliteCutoff(at, { ...JS, digits: 6 })).toBe("2026-03-01T12:00:00.250000Z");
    expect(sqliteCutoff(at, { kind: "epoch_s" })).toBe(Math.ceil(at.getTime() / 1000));
    expect(sqliteCutoff(at, { kind: "epoch_ms" })).toBe(at.getTime());
  });

  it("refuses the forms that do not sort in time order as text", () => {
    expect(lexicalProblem(DJANGO)).toBeUndefined();
    expect(lexicalProblem(JS)).toBeUndefined();
    expect(lexicalProblem({ ...JS, digits: "varies" })).toContain("varying length");
    expect(lexicalProblem({ ...JS, zone: "+02:00" })).toContain("UTC offset");
  });

  it("writes a moment in the column's own form", () => {
    const at = new Date("2026-03-01T12:00:00.123Z");
    expect(sqliteStoredTime(at, DJANGO)).toBe("2026-03-01 12:00:00.123000");
    expect(sqliteStoredTime(at, { ...DJANGO, digits: 0 })).toBe("2026-03-01 12:00:00");
    expect(sqliteStoredTime(at, JS)).toBe(at.toISOString());
    expect(sqliteStoredTime(at, { ...JS, zone: "+02:00", digits: 0 })).toBe("2026-03-01T12:00:00+00:00");
    expect(sqliteStoredTime(at, { kind: "epoch_s" })).toBe(Math.floor(at.getTime() / 1000));
  });
});
