import { describe, expect, it } from "vitest";
import { ProgressView, progressLine } from "./progress-view.ts";

const UP = (lines: number) => `\x1b[${lines}A`;

describe("ProgressView", () => {
  it("draws one line per label and redraws the block in place on each update", () => {
    const writes: string[] = [];
    const view = new ProgressView({ write: (text) => writes.push(text), label: "task", intervalMs: 0 });
    view.update({ done: 1, total: 4, unit: "rows", label: "sessions" });
    view.update({ done: 1, total: 2, label: "tokens" });
    view.update({ done: 4, total: 4, unit: "rows", label: "sessions" });
    view.finish();

    expect(writes[0]).not.toContain(UP(1));
    // The second label adds a line under the first: move up over the one drawn line, draw two.
    expect(writes[1]?.startsWith(UP(1))).toBe(true);
    expect(writes[1]?.split("\n").filter(Boolean)).toHaveLength(2);
    // An update to an existing label redraws both lines, still two, with the new numbers.
    const last = writes.at(-1) ?? "";
    expect(last.startsWith(UP(2))).toBe(true);
    expect(last).toContain("sessions [████████████████████] 100% 4/4 rows");
    expect(last).toContain("tokens [██████████░░░░░░░░░░]  50% 1/2");
  });

  it("throttles redraws of a known label and draws the last state on finish", () => {
    const writes: string[] = [];
    const view = new ProgressView({ write: (text) => writes.push(text), label: "task", intervalMs: 60_000 });
    view.update({ done: 1, total: 10 });
    view.update({ done: 5, total: 10 });
    view.update({ done: 9, total: 10 });
    expect(writes).toHaveLength(1);
    view.finish();
    expect(writes).toHaveLength(2);
    expect(writes[1]).toContain("task [██████████████████░░]  90% 9/10");
  });

  it("shows a bare count when the total is unknown, under the task's own label", () => {
    expect(progressLine("cleanup", { done: 1200, unit: "rows" })).toBe("cleanup 1200 rows");
  });
});
