import type { RunRecord, RunStatus } from "@upkeep/core";
import { describe, expect, it } from "vitest";
import { failuresFirst } from "./status.ts";

const run = (id: string, status: RunStatus) => ({ id, status }) as RunRecord;

describe("failuresFirst", () => {
  it("puts failed, timed out, interrupted and abandoned runs first, keeping newest-first within each group", () => {
    const ordered = failuresFirst([
      run("1", "succeeded"),
      run("2", "timed_out"),
      run("3", "skipped"),
      run("4", "failed"),
      run("5", "abandoned"),
      run("6", "interrupted"),
    ]);
    expect(ordered.map((r) => r.id)).toEqual(["2", "4", "5", "6", "1", "3"]);
  });
});
