import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ConfigError,
  commandTrainer,
  createJsonLogger,
  listModels,
  loadModel,
  manualAdapter,
  registerTasks,
  type Trainer,
  type TrainingDataset,
  type TrainingResult,
  trainingTask,
} from "@upkeep/core";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFixture } from "../fixtures/child.ts";
import {
  benignIp,
  createTelemetryTable,
  insertTelemetry,
  RARE_ENDPOINT,
  syntheticTelemetry,
  TENANTS,
  threatIp,
} from "../fixtures/telemetry.ts";

/** The run's clock: 01:00 UTC, the default schedule's tick. */
const NOW = new Date("2026-03-10T01:00:00Z");
const COLUMNS = { timestamp: "ts", label: "is_threat" };
const ALL_IPS = [
  ...TENANTS.flatMap((_, t) => Array.from({ length: 6 }, (__, c) => benignIp(t, c))),
  ...Array.from({ length: 40 }, (_, i) => threatIp(i)),
];

let hosts = 0;
let prefixes = 0;
const freshPrefix = () => `tr${++prefixes}_`;

/** A trainer with fixed metrics, to drive promotion. */
function fixedTrainer(name: string, auc: number): Trainer {
  return {
    name,
    metric: { name: "auc", higherIsBetter: true },
    train: () => ({ metrics: { auc }, artifact: { format: "json", value: { auc } } }),
  };
}

/** A trainer that records every dataset it is given, and returns `result`. */
function spyTrainer(result: ReturnType<Trainer["train"]> = { skipped: "spy only looks" }) {
  const seen: TrainingDataset[] = [];
  const trainer: Trainer = {
    name: "spy",
    metric: { name: "auc", higherIsBetter: true },
    train: (dataset) => {
      seen.push(dataset);
      return result;
    },
  };
  return { trainer, seen };
}

function script(source: string): string {
  const dir = mkdtempSync(join(tmpdir(), "upkeep-trainer-test-"));
  const path = join(dir, "train.py");
  writeFileSync(path, source);
  return path;
}

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`training task on ${dialect}`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      await createTelemetryTable(database.knex);
      await createTelemetryTable(database.knex, "telemetry_empty");
      await insertTelemetry(database.knex, syntheticTelemetry({ end: NOW.getTime(), hours: 96, seed: 11 }));
    });
    afterAll(async () => {
      await database?.destroy();
    });

    function host(options: Parameters<typeof trainingTask>[0], extra: { prefix: string; lines?: string[]; timeout?: number }) {
      const adapter = manualAdapter();
      // Manual runs are claimed by their moment; each host runs a minute later within the same hour.
      const at = new Date(NOW.getTime() + (++hosts % 50) * 60_000);
      const upkeep = registerTasks(adapter, {
        tasks: [{ task: trainingTask(options), timeout: extra.timeout }],
        db: database.knex,
        tablePrefix: extra.prefix,
        clock: () => at,
        abortGrace: 500,
        logger: createJsonLogger({ level: "debug", write: (line) => extra.lines?.push(line) }),
      });
      return upkeep;
    }

    it("trains a classifier with hold-out AUC >= 0.9 and a forecaster that beats seasonal-naive, and serves both", async () => {
      const prefix = freshPrefix();
      const upkeep = host({ telemetry: { columns: COLUMNS }, history: "3d" }, { prefix });
      const run = await upkeep.run("training");
      expect(run.status).toBe("succeeded");
      const result = run.result as TrainingResult;
      const classifier = result.models.find((model) => model.name === "threat-classifier");
      const forecaster = result.models.find((model) => model.name === "sla-forecaster");
      expect(classifier?.metrics.auc).toBeGreaterThanOrEqual(0.9);
      expect(classifier?.promoted).toBe(true);
      expect(forecaster?.metrics.relativeError).toBeLessThan(1);
      expect(forecaster?.promoted).toBe(true);
      expect(result.rows.clientHours).toBeGreaterThan(500);

      const threat = await loadModel(database.knex, "threat-classifier", { tablePrefix: prefix, refreshEvery: 0 });
      expect(threat.info.version).toBe(1);
      expect(threat.info.runId).toBe(run.id);
      expect(threat.score({ requests: 50, errorShare: 0.6, endpoints: 30 })).toBeGreaterThan(0.5);
      expect(threat.score({ requests: 4, errorShare: 0, endpoints: 1 })).toBeLessThan(0.5);
      const sla = await loadModel(database.knex, "sla-forecaster", { tablePrefix: prefix, refreshEvery: 0 });
      const next = sla.forecast("platform", 24);
      expect(next).toHaveLength(24);
      expect(next[0]?.hour).toBe(NOW.getTime());
      expect(next.every((point) => point.p95 > 0)).toBe(true);
      expect(sla.forecast("/api/orders", 3)).toHaveLength(3);
      await upkeep.stop();
    });

    it("keeps tenant ids and raw IPs out of artifacts, feature rows, log lines and the run result", async () => {
      const prefix = freshPrefix();
      const lines: string[] = [];
      const { trainer: spy, seen: datasets } = spyTrainer();
      const seen = () => datasets[0];
      const upkeep = host(
        {
          telemetry: { columns: COLUMNS },
          history: "3d",
          ipHashSecret: "a-secret-of-32-characters-length!",
          isListed: (ip) => ip.startsWith("203.0.113."),
          trainers: [spy],
        },
        { prefix, lines },
      );
      const spyRun = await upkeep.run("training");
      expect(spyRun.status).toBe("skipped");
      await upkeep.stop();
      const full = host(
        { telemetry: { columns: COLUMNS }, history: "3d", ipHashSecret: "a-secret-of-32-characters-length!" },
        { prefix, lines },
      );
      const run = await full.run("training");
      expect(run.status).toBe("succeeded");
      await full.stop();

      expect(seen()?.clients.length).toBeGreaterThan(0);
      expect(seen()?.clients.some((row) => row.features.ioc === 1)).toBe(true);
      const artifacts = (await database.knex(`${prefix}models`).select("artifact", "metrics", "reason")) as Array<Record<string, string>>;
      expect(artifacts.length).toBe(2);
      const everything = [
        JSON.stringify(seen()),
        JSON.stringify(artifacts),
        lines.join("\n"),
        JSON.stringify(spyRun),
        JSON.stringify(run),
      ].join("\n");
      for (const tenant of TENANTS) expect(everything).not.toContain(tenant);
      for (const ip of ALL_IPS) expect(everything).not.toContain(ip);
      expect(everything).not.toContain("a-secret-of-32-characters-length!");
      expect(lines.length).toBeGreaterThan(3);
    });

    it("drops buckets fed by fewer than k tenants", async () => {
      const prefix = freshPrefix();
      const { trainer: spy, seen } = spyTrainer({ metrics: { auc: 0.5 }, artifact: { format: "json", value: {} } });
      const strict = host({ telemetry: { columns: COLUMNS }, trainers: [spy] }, { prefix });
      const kept = (await strict.run("training")).result as TrainingResult;
      await strict.stop();
      const loose = host({ telemetry: { columns: COLUMNS }, trainers: [spy], minTenants: 2 }, { prefix });
      const all = (await loose.run("training")).result as TrainingResult;
      await loose.stop();
      const rare = (dataset: TrainingDataset | undefined) => dataset?.series.filter((point) => point.series === RARE_ENDPOINT).length ?? 0;
      expect(rare(seen[0])).toBe(0);
      expect(kept.rows.droppedBuckets).toBeGreaterThan(0);
      expect(rare(seen[1])).toBeGreaterThan(0);
      expect(all.rows.droppedBuckets).toBeLessThan(kept.rows.droppedBuckets);
      expect(seen[0]?.series.some((point) => point.series === "platform")).toBe(true);
    });

    // Regression (issue 27, item 6): the platform series counted every row, so platform minus the kept
    // endpoints gave each dropped bucket's requests and errors back (96 of 96 series-hours).
    it("publishes no figure from which a dropped bucket can be computed by subtraction", async () => {
      const prefix = freshPrefix();
      const { trainer: spy, seen } = spyTrainer();
      const upkeep = host({ telemetry: { columns: COLUMNS }, trainers: [spy], history: "3d" }, { prefix });
      const run = await upkeep.run("training");
      await upkeep.stop();
      expect(run.status).toBe("skipped");
      const dataset = seen[0] as TrainingDataset;
      const stored = await database.knex("telemetry").count({ n: "*" }).where("endpoint", RARE_ENDPOINT).first();
      expect(Number(stored?.n)).toBeGreaterThan(0);
      expect(dataset.series.some((point) => point.series === RARE_ENDPOINT)).toBe(false);
      const byHour = new Map<number, { platform?: { requests: number; errors: number }; requests: number; errors: number }>();
      for (const point of dataset.series) {
        const entry = byHour.get(point.hour) ?? { requests: 0, errors: 0 };
        byHour.set(point.hour, entry);
        const errors = Math.round(point.errorRate * point.requests);
        if (point.series === "platform") entry.platform = { requests: point.requests, errors };
        else {
          entry.requests += point.requests;
          entry.errors += errors;
        }
      }
      const gaps: string[] = [];
      for (const [hour, entry] of byHour) {
        if (entry.platform?.requests !== entry.requests || entry.platform.errors !== entry.errors) {
          gaps.push(
            `${new Date(hour).toISOString()}: platform ${JSON.stringify(entry.platform)} vs endpoints ${entry.requests}/${entry.errors}`,
          );
        }
      }
      const clientRequests = new Map<number, number>();
      for (const row of dataset.clients) clientRequests.set(row.hour, (clientRequests.get(row.hour) ?? 0) + (row.features.requests ?? 0));
      for (const [hour, requests] of clientRequests) {
        if (byHour.get(hour)?.platform?.requests !== requests) gaps.push(`${new Date(hour).toISOString()}: clients ${requests}`);
      }
      expect(clientRequests.size).toBeGreaterThan(20);
      expect(gaps).toEqual([]);
    });

    // Regression (issue 27, item 9): a 01:01 Asia/Kolkata run got a window ending at 19:00 UTC, 31 minutes before the run.
    it("ends the window at the start of the run's hour in the task's timezone, with hours on that grid", async () => {
      const prefix = freshPrefix();
      const { trainer: spy, seen } = spyTrainer();
      const upkeep = host({ telemetry: { columns: COLUMNS }, trainers: [spy], timezone: "Asia/Kolkata", history: "2d" }, { prefix });
      const run = await upkeep.run("training");
      await upkeep.stop();
      const dataset = seen[0] as TrainingDataset;
      // The host runs minutes after 01:00 UTC, 06:30 or later in Kolkata (UTC+05:30): its hour starts at :30 UTC.
      const at = run.scheduledFor.getTime();
      expect(dataset.window.to).toBe(Math.floor((at - 1_800_000) / 3_600_000) * 3_600_000 + 1_800_000);
      expect(at - dataset.window.to).toBeLessThan(3_600_000);
      expect(run.status).toBe("skipped");
      const halfPast = (hour: number) => hour % 3_600_000 === 1_800_000;
      expect(dataset.clients.length).toBeGreaterThan(100);
      expect(dataset.clients.every((row) => halfPast(row.hour) && row.hour < dataset.window.to && row.hour >= dataset.window.from)).toBe(
        true,
      );
      expect(dataset.series.every((point) => halfPast(point.hour) && point.hour < dataset.window.to)).toBe(true);
      expect(Math.max(...dataset.clients.map((row) => row.hour))).toBe(dataset.window.to - 3_600_000);
    });

    it("adds the host's SQL features to every client-hour", async () => {
      const prefix = freshPrefix();
      const { trainer: spy, seen: datasets } = spyTrainer();
      const seen = () => datasets[0];
      const upkeep = host(
        {
          telemetry: { columns: COLUMNS },
          trainers: [spy],
          extraFeatures: { slowRequests: "sum(case when latency_ms > 100 then 1 else 0 end)" },
        },
        { prefix },
      );
      await upkeep.run("training");
      await upkeep.stop();
      expect(seen()?.featureNames).toEqual(["requests", "errorShare", "endpoints", "slowRequests"]);
      const rows = seen()?.clients ?? [];
      expect(
        rows.every((row) => row.features.slowRequests !== undefined && row.features.slowRequests <= (row.features.requests ?? 0)),
      ).toBe(true);
      expect(rows.some((row) => (row.features.slowRequests ?? 0) > 0)).toBe(true);
    });

    it("fails with the database's reason, not the statement, when a mapped column is missing", async () => {
      const prefix = freshPrefix();
      const upkeep = host({ telemetry: { columns: { ...COLUMNS, tenant: "no_such_column" } } }, { prefix });
      const run = await upkeep.run("training");
      await upkeep.stop();
      expect(run.status).toBe("failed");
      expect(run.reason).toBe("AGGREGATION_FAILED");
      expect(run.errorMessage).toMatch(/no_such_column/);
      expect(run.errorMessage).not.toContain("count(distinct");
    });

    it("skips with the reason when the window has too little data, and the champion stays", async () => {
      const prefix = freshPrefix();
      const upkeep = host({ telemetry: { columns: COLUMNS }, trainers: [fixedTrainer("fixed", 0.8)] }, { prefix });
      expect((await upkeep.run("training")).status).toBe("succeeded");
      await upkeep.stop();
      const empty = host({ telemetry: { table: "telemetry_empty", columns: COLUMNS } }, { prefix });
      const run = await empty.run("training");
      expect(run.status).toBe("skipped");
      expect(run.reason).toMatch(/too little data/);
      await empty.stop();
      const classifierOnly = host({ telemetry: { columns: { timestamp: "ts" } }, history: "1d" }, { prefix });
      const noLabels = await classifierOnly.run("training");
      expect(noLabels.status).toBe("skipped");
      expect(noLabels.reason).toMatch(/sla-forecaster: .*two days of history.*threat-classifier: no label column/);
      await classifierOnly.stop();
      const champion = await loadModel(database.knex, "fixed", { tablePrefix: prefix, refreshEvery: 0 });
      expect(champion.info.version).toBe(1);
      expect(await listModels(database.knex, "fixed", { tablePrefix: prefix })).toHaveLength(1);
    });

    it("keeps a better champion, stores the worse model as a candidate with the reason, and promotes a better one", async () => {
      const prefix = freshPrefix();
      const runWith = async (auc: number) => {
        const upkeep = host({ telemetry: { columns: COLUMNS }, trainers: [fixedTrainer("fixed", auc)], promotionMargin: 0.02 }, { prefix });
        const run = await upkeep.run("training");
        await upkeep.stop();
        return (run.result as TrainingResult).models[0];
      };
      expect(await runWith(0.9)).toMatchObject({ version: 1, promoted: true });
      const loaded = await loadModel(database.knex, "fixed", { tablePrefix: prefix, refreshEvery: 0 });
      const worse = await runWith(0.85);
      expect(worse).toMatchObject({
        version: 2,
        promoted: false,
        reason: expect.stringMatching(
          /^not better by enough: auc 0.85 against the champion's 0.9 \(v1\) as stored from its own window, not re-scored here: the trainer does not score champions; gain -0.05, needed 0.02/,
        ),
      });
      const barely = await runWith(0.91);
      expect(barely).toMatchObject({ version: 3, promoted: false });
      expect(await loaded.reload()).toBe(false);
      expect(loaded.info.version).toBe(1);
      const better = await runWith(0.95);
      expect(better).toMatchObject({ version: 4, promoted: true, reason: expect.stringMatching(/^better/) });
      expect(await loaded.reload()).toBe(true);
      expect(loaded.info.version).toBe(4);
      expect(loaded.artifact).toEqual({ format: "json", value: { auc: 0.95 } });
      const versions = await listModels(database.knex, "fixed", { tablePrefix: prefix });
      expect(versions.map((model) => [model.version, model.champion])).toEqual([
        [4, true],
        [3, false],
        [2, false],
        [1, false],
      ]);
    });

    it("stores nothing in a dry run and says so", async () => {
      const prefix = freshPrefix();
      const upkeep = host({ telemetry: { columns: COLUMNS }, trainers: [fixedTrainer("fixed", 0.9)] }, { prefix });
      const run = await upkeep.run("training", { dryRun: true });
      expect(run.result).toMatchObject({ dryRun: true, models: [{ name: "fixed", promoted: true }] });
      expect((run.result as TrainingResult).models[0]?.version).toBeUndefined();
      expect(await listModels(database.knex, "fixed", { tablePrefix: prefix })).toHaveLength(0);
      await upkeep.stop();
    });

    it("leaves the old champion loadable when the process dies while writing a new artifact", async () => {
      const prefix = freshPrefix();
      const upkeep = host({ telemetry: { columns: COLUMNS }, trainers: [fixedTrainer("crashy", 0.7)] }, { prefix });
      await upkeep.run("training");
      await upkeep.stop();
      const child = startFixture("training-crash", [dialect, database.target, prefix]);
      let wrote = false;
      child.stdout.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("writing")) wrote = true;
      });
      const exit = await new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
      expect(wrote).toBe(true);
      expect(exit).toBe("SIGKILL");
      await expect.poll(async () => (await database.knex(`${prefix}models`).where({ name: "crashy" })).length, { timeout: 15_000 }).toBe(1);
      const champion = await loadModel(database.knex, "crashy", { tablePrefix: prefix, refreshEvery: 0 });
      expect(champion.info.version).toBe(1);
      expect(champion.artifact).toEqual({ format: "json", value: { auc: 0.7 } });
    });

    it("stores an external program's artifact and metrics through commandTrainer", async () => {
      const prefix = freshPrefix();
      const path = script(`
import json, os, sys
rows = 0
for line in sys.stdin:
    message = json.loads(line)
    if message["type"] == "client":
        rows += 1
out = os.path.join(os.environ["UPKEEP_ARTIFACT_DIR"], "model.bin")
open(out, "wb").write(b"\\x00model\\xff")
print(json.dumps({"metrics": {"auc": 0.75, "rows": rows}, "artifact": "model.bin"}))
`);
      const trainer = commandTrainer({ name: "external", command: "python3", args: [path], metric: { name: "auc", higherIsBetter: true } });
      const upkeep = host({ telemetry: { columns: COLUMNS }, trainers: [trainer] }, { prefix });
      const run = await upkeep.run("training");
      await upkeep.stop();
      const summary = (run.result as TrainingResult).models[0];
      expect(summary?.metrics.rows).toBe((run.result as TrainingResult).rows.clientHours);
      const model = await loadModel(database.knex, "external", { tablePrefix: prefix, refreshEvery: 0 });
      expect(model.artifact).toEqual({ format: "bytes", value: new Uint8Array([0, ...Buffer.from("model"), 255]) });
      expect(() => model.score({ requests: 1 })).toThrow(/not a built-in classifier/);
    });

    it("times the command trainer out with the task's timeout and kills the program", async () => {
      const prefix = freshPrefix();
      const dir = mkdtempSync(join(tmpdir(), "upkeep-pid-"));
      const path = script(`
import os, sys, time
open(os.path.join(${JSON.stringify(dir)}, "pid"), "w").write(str(os.getpid()))
for line in sys.stdin:
    pass
time.sleep(600)
`);
      const trainer = commandTrainer({
        name: "slow",
        command: "python3",
        args: [path],
        metric: { name: "auc", higherIsBetter: true },
        killGrace: 100,
      });
      // Long enough for the program to start and write its pid on a loaded machine (3 s was not).
      const upkeep = host(
        { telemetry: { columns: COLUMNS }, trainers: [trainer], window: "1h", history: "1h" },
        { prefix, timeout: 12_000 },
      );
      const run = await upkeep.run("training");
      expect(run.status).toBe("timed_out");
      const { readFileSync } = await import("node:fs");
      const pid = Number(readFileSync(join(dir, "pid"), "utf8"));
      await expect
        .poll(() => {
          try {
            process.kill(pid, 0);
            return "alive";
          } catch {
            return "gone";
          }
        })
        .toBe("gone");
      expect(await listModels(database.knex, "slow", { tablePrefix: prefix })).toHaveLength(0);
      await upkeep.stop();
    });
  });
}

describe("training task configuration", () => {
  it("names the failing field and never its value", () => {
    const adapter = manualAdapter();
    const attempt = () =>
      registerTasks(adapter, {
        tasks: [
          trainingTask({
            telemetry: { columns: { tenant: "tenant; drop table x" } },
            ipHashSecret: "short-secret-xyz".slice(0, 9),
            minTenants: 0,
          }),
        ],
      });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toContain("tasks.training.input.telemetry.columns.tenant");
      expect(message).toContain("tasks.training.input.ipHashSecret");
      expect(message).toContain("tasks.training.input.minTenants");
      expect(message).not.toContain("drop table");
      expect(message).not.toContain("short-sec");
    }
  });
});
