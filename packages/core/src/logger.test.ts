import { describe, expect, it } from "vitest";
import { childLogger, createJsonLogger, type Logger } from "./logger.ts";

describe("json logger", () => {
  it("writes one JSON object a line with level, message, bound fields and serialised errors", () => {
    const lines: string[] = [];
    const logger = createJsonLogger({ level: "info", write: (line) => lines.push(line) });
    const child = logger.child?.({ taskId: "cleanup" }) as Logger;
    child.debug({}, "hidden");
    child.warn({ runId: "r1", err: new Error("boom") }, "[upkeep] something");
    expect(lines).toHaveLength(1);
    expect(lines[0]?.endsWith("\n")).toBe(true);
    const record = JSON.parse(lines[0] as string);
    expect(record).toMatchObject({ level: "warn", taskId: "cleanup", runId: "r1", msg: "[upkeep] something" });
    expect(record.err).toMatchObject({ name: "Error", message: "boom" });
  });

  it("binds fields on a logger without child()", () => {
    const seen: Array<Record<string, unknown>> = [];
    const plain: Logger = {
      debug: () => {},
      info: (fields) => seen.push(fields),
      warn: () => {},
      error: () => {},
    };
    childLogger(childLogger(plain, { taskId: "t" }), { runId: "r" }).info({ n: 1 }, "hi");
    expect(seen).toEqual([{ taskId: "t", runId: "r", n: 1 }]);
  });
});
