import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, TaskError } from "../../errors.ts";
import { createJsonLogger } from "../../logger.ts";
import { commandTrainer } from "./command-trainer.ts";
import type { TrainingDataset } from "./trainer.ts";

const dataset: TrainingDataset = {
  window: { from: 0, to: 3_600_000 },
  historyFrom: 0,
  series: [{ hour: 0, series: "platform", requests: 3, errorRate: 0, p50: 1, p95: 2, p99: 3 }],
  clients: [{ hour: 0, client: "ab".repeat(16), features: { requests: 3, errorShare: 0, endpoints: 1 }, label: 0 }],
  featureNames: ["requests", "errorShare", "endpoints"],
  hasLabels: true,
};

function python(source: string) {
  const dir = mkdtempSync(join(tmpdir(), "upkeep-ct-"));
  writeFileSync(join(dir, "train.py"), source);
  return (extra: Partial<Parameters<typeof commandTrainer>[0]> = {}) =>
    commandTrainer({
      name: "ext",
      command: "python3",
      args: [join(dir, "train.py")],
      metric: { name: "auc", higherIsBetter: true },
      ...extra,
    });
}

const lines: string[] = [];
const context = (signal = new AbortController().signal) => ({
  signal,
  seed: 3,
  holdout: 0.25,
  logger: createJsonLogger({ write: (line) => lines.push(line) }),
});

describe("commandTrainer", () => {
  it("streams the meta line and the rows as JSON lines and reads metrics and artifact back", async () => {
    const trainer = python(`
import json, os, sys
kinds = [json.loads(line)["type"] for line in sys.stdin]
open(os.path.join(os.environ["UPKEEP_ARTIFACT_DIR"], "m.json"), "w").write(json.dumps(kinds))
print("some progress text")
print(json.dumps({"metrics": {"auc": 0.6}, "artifact": "m.json"}))
`)({ dataset: "both" });
    const result = await trainer.train(dataset, context());
    if (!("metrics" in result)) throw new Error("skipped");
    expect(result.metrics).toEqual({ auc: 0.6 });
    expect(JSON.parse(Buffer.from(result.artifact.value as Uint8Array).toString())).toEqual(["meta", "series", "client"]);
  });

  it("passes a skip reason through", async () => {
    const trainer = python(`import json, sys\nsys.stdin.read()\nprint(json.dumps({"skipped": "not enough rows"}))\n`)();
    expect(await trainer.train(dataset, context())).toEqual({ skipped: "not enough rows" });
  });

  it("fails with TRAINER_BAD_OUTPUT on a last line that is not JSON, without echoing it", async () => {
    const trainer = python(`import sys\nsys.stdin.read()\nprint("secret-ish output 10.1.2.3")\n`)();
    const error = await Promise.resolve(trainer.train(dataset, context())).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskError);
    expect((error as TaskError).reason).toBe("TRAINER_BAD_OUTPUT");
    expect((error as Error).message).not.toContain("10.1.2.3");
  });

  it("fails with TRAINER_BAD_OUTPUT on a result of the wrong shape or a missing artifact", async () => {
    const wrongShape = python(`import sys\nsys.stdin.read()\nprint('{"metrics": {"auc": "high"}, "artifact": "x"}')\n`)();
    await expect(wrongShape.train(dataset, context())).rejects.toMatchObject({ reason: "TRAINER_BAD_OUTPUT" });
    const missing = python(`import sys\nsys.stdin.read()\nprint('{"metrics": {"auc": 0.7}, "artifact": "nowhere.bin"}')\n`)();
    await expect(missing.train(dataset, context())).rejects.toThrow(/artifact file cannot be read/);
  });

  it("fails with the exit code when the program exits non-zero", async () => {
    const trainer = python(`import sys\nsys.stderr.write("boom")\nsys.exit(3)\n`)();
    await expect(trainer.train(dataset, context())).rejects.toMatchObject({
      reason: "TRAINER_FAILED",
      message: expect.stringMatching(/exited with 3/),
    });
  });

  it("stops the program when the signal aborts", async () => {
    const trainer = python(`import time\ntime.sleep(30)\n`)({ killGrace: 50 });
    const controller = new AbortController();
    setTimeout(() => controller.abort("timeout"), 200);
    await expect(trainer.train(dataset, context(controller.signal))).rejects.toThrow(/stopped \(timeout\)/);
  });

  it("rejects invalid options naming the field", () => {
    expect(() => commandTrainer({ name: "Bad Name", command: "", metric: { name: "auc", higherIsBetter: true } })).toThrow(ConfigError);
    expect(() => commandTrainer({ name: "Bad Name", command: "x", metric: { name: "auc", higherIsBetter: true } })).toThrow(/name/);
  });
});
