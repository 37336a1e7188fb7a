import { execFileSync } from "node:child_process";
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

  // Regression (issue 27, item 7): the child inherited process.env, the IP-hash key and DATABASE_URL with it.
  it("gives the program a minimal environment plus exactly what the host lists", async () => {
    process.env.TRAINING_IP_KEY = "ip-key-that-must-stay-home";
    process.env.DATABASE_URL = "postgres://user:pw@db/app";
    process.env.UPKEEP_TEST_SHARED = "shared-value";
    try {
      const trainer = python(`
import json, os, sys
sys.stdin.read()
open(os.path.join(os.environ["UPKEEP_ARTIFACT_DIR"], "env.json"), "w").write(json.dumps(dict(os.environ)))
print(json.dumps({"metrics": {"auc": 0.5}, "artifact": "env.json"}))
`)({
        // The interpreter itself, not a version manager's shim (which sets variables of its own).
        command: execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim(),
        env: { TRAINER_MODE: "fast" },
        inheritEnv: ["UPKEEP_TEST_SHARED"],
      });
      const result = await trainer.train(dataset, context());
      if (!("metrics" in result)) throw new Error("skipped");
      const env = JSON.parse(Buffer.from(result.artifact.value as Uint8Array).toString()) as Record<string, string>;
      expect(env.TRAINING_IP_KEY).toBeUndefined();
      expect(env.DATABASE_URL).toBeUndefined();
      expect(JSON.stringify(env)).not.toContain("ip-key-that-must-stay-home");
      expect(env).toMatchObject({ TRAINER_MODE: "fast", UPKEEP_TEST_SHARED: "shared-value" });
      expect(env.PATH).toBe(process.env.PATH);
      expect(env.UPKEEP_ARTIFACT_DIR).toBeTruthy();
      expect(env.TMPDIR).toBeTruthy();
      const passed = /^(PATH|LANG|LANGUAGE|LC_\w+|TMPDIR|UPKEEP_TEST_SHARED)$/;
      const leaked = Object.keys(process.env).filter((key) => !passed.test(key) && env[key] === process.env[key]);
      expect(leaked).toEqual([]);
    } finally {
      delete process.env.TRAINING_IP_KEY;
      delete process.env.DATABASE_URL;
      delete process.env.UPKEEP_TEST_SHARED;
    }
  });

  // Regression (issue 27, item 8): a "../" path and an absolute path outside the folder were read and stored.
  it("refuses an artifact outside $UPKEEP_ARTIFACT_DIR: a ../ path, an absolute path and a symbolic link", async () => {
    const outside = join(mkdtempSync(join(tmpdir(), "upkeep-outside-")), "stolen.txt");
    writeFileSync(outside, "not the model");
    for (const how of ["relative", "absolute", "link"]) {
      const trainer = python(`
import json, os, sys
sys.stdin.read()
root = os.environ["UPKEEP_ARTIFACT_DIR"]
outside = ${JSON.stringify(outside)}
how = ${JSON.stringify(how)}
if how == "link":
    os.symlink(outside, os.path.join(root, "model.bin"))
    path = "model.bin"
else:
    path = os.path.relpath(outside, root) if how == "relative" else outside
print(json.dumps({"metrics": {"auc": 0.7}, "artifact": path}))
`)();
      await expect(trainer.train(dataset, context()), how).rejects.toMatchObject({
        reason: "TRAINER_BAD_OUTPUT",
        message: expect.stringMatching(/not a file inside \$UPKEEP_ARTIFACT_DIR/),
      });
    }
  });

  it("hands the program the champion's artifact and passes its scores on the same hold-out back", async () => {
    const trainer = python(`
import json, os, sys
meta = json.loads(sys.stdin.readline())
sys.stdin.read()
champion = open(os.path.join(meta["artifactDir"], meta["champion"]), "rb").read()
open(os.path.join(meta["artifactDir"], "m.bin"), "wb").write(b"new")
print(json.dumps({"metrics": {"auc": 0.8}, "artifact": "m.bin", "championMetrics": {"auc": len(champion) / 10}, "holdout": {"from": 0, "to": 3600000, "rows": 1}}))
`)();
    const champion = { format: "bytes" as const, value: new Uint8Array([1, 2, 3, 4, 5, 6, 7]) };
    const result = await trainer.train(dataset, { ...context(), champion });
    expect(result).toMatchObject({ champion: { metrics: { auc: 0.7 } }, holdout: { from: 0, to: 3_600_000, rows: 1 } });
    const silent = python(`import json, os, sys
meta = json.loads(sys.stdin.readline())
open(os.path.join(meta["artifactDir"], "m.bin"), "wb").write(b"new")
print(json.dumps({"metrics": {"auc": 0.8}, "artifact": "m.bin"}))
`)();
    expect(await silent.train(dataset, { ...context(), champion })).toMatchObject({
      champion: { unscored: expect.stringMatching(/did not report championMetrics/) },
    });
  });

  it("rejects invalid options naming the field", () => {
    expect(() => commandTrainer({ name: "Bad Name", command: "", metric: { name: "auc", higherIsBetter: true } })).toThrow(ConfigError);
    expect(() => commandTrainer({ name: "Bad Name", command: "x", metric: { name: "auc", higherIsBetter: true } })).toThrow(/name/);
  });
});
