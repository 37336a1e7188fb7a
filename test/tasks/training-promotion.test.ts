// Promotion on today's evidence (issue 27, item 1): the champion is scored on the same hold-out as
// the candidate, end to end through registerTasks on every dialect.
import {
  createJsonLogger,
  listModels,
  manualAdapter,
  registerTasks,
  type TrainingResult,
  threatClassifier,
  trainingTask,
} from "@upkeep/core";
import { createTestDatabase, probeDialects, type TestDatabase } from "@upkeep/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTelemetryTable, insertTelemetry, regimeTelemetry } from "../fixtures/telemetry.ts";

const HOUR = 3_600_000;
/** The end of the first day's window; the second day's ends 24 hours later. */
const DAY_ONE = Date.UTC(2026, 4, 4, 1);
const DAY_TWO = DAY_ONE + 24 * HOUR;
const COLUMNS = { timestamp: "ts", label: "is_threat" };

for (const { dialect, available } of await probeDialects()) {
  describe.skipIf(!available)(`training promotion on ${dialect}`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      // An easy first day (threats are refused), then a day where threats look otherwise.
      await createTelemetryTable(database.knex, "shifted");
      await insertTelemetry(
        database.knex,
        regimeTelemetry({ end: DAY_TWO, hours: 48, regime: (h) => (h < 24 ? "errors" : "endpoints") }),
        "shifted",
      );
      // A first day whose hold-out hours are noisy (a modest stored AUC), then a day whose training
      // hours carry a second signal that its hold-out does not: the candidate reports a high AUC on
      // its own hold-out, where the champion does as well.
      await createTelemetryTable(database.knex, "noisy");
      await insertTelemetry(
        database.knex,
        regimeTelemetry({
          end: DAY_TWO,
          hours: 48,
          regime: (h) => (h >= 24 && h < 42 ? "both" : "errors"),
          noise: (h) => (h >= 18 && h < 24 ? 0.2 : 0),
        }),
        "noisy",
      );
    });
    afterAll(async () => {
      await database?.destroy();
    });

    let prefixes = 0;
    async function runAt(end: number, table: string, prefix: string) {
      const at = new Date(end + 60_000);
      const upkeep = registerTasks(manualAdapter(), {
        tasks: [trainingTask({ telemetry: { table, columns: COLUMNS }, trainers: [threatClassifier()] })],
        db: database.knex,
        tablePrefix: prefix,
        clock: () => at,
        logger: createJsonLogger({ write: () => {} }),
      });
      const run = await upkeep.run("training");
      await upkeep.stop();
      expect(run.status).toBe("succeeded");
      const model = (run.result as TrainingResult).models[0];
      if (!model) throw new Error("no model trained");
      return model;
    }

    it("promotes a better candidate over a champion whose perfect score came from an easier day", async () => {
      const prefix = `pr${++prefixes}_`;
      const first = await runAt(DAY_ONE, "shifted", prefix);
      expect(first).toMatchObject({ version: 1, promoted: true });
      expect(first.metrics.auc).toBeGreaterThan(0.99);
      const second = await runAt(DAY_TWO, "shifted", prefix);
      expect(second.metrics.auc).toBeGreaterThan(0.9);
      expect(second.decision.champion).toMatchObject({ version: 1, rescored: true });
      expect(second.decision.champion?.value).toBeLessThan(0.5);
      expect(second).toMatchObject({ version: 2, promoted: true, reason: expect.stringMatching(/^better: .*on the same hold-out/) });
      expect(second.decision.holdout).toMatchObject({ from: DAY_TWO - 6 * HOUR, to: DAY_TWO, rows: 6 * 38 });
      const stored = await listModels(database.knex, "threat-classifier", { tablePrefix: prefix });
      expect(stored[0]).toMatchObject({ version: 2, champion: true });
      expect(stored[0]?.decision).toEqual(second.decision);
    });

    it("keeps a champion that scores as well on today's hold-out, whatever the two models' own hold-outs said", async () => {
      const prefix = `pr${++prefixes}_`;
      const first = await runAt(DAY_ONE, "noisy", prefix);
      expect(first.metrics.auc).toBeLessThan(0.9);
      const second = await runAt(DAY_TWO, "noisy", prefix);
      expect(second.metrics.auc).toBeGreaterThan((first.metrics.auc ?? 1) + 0.05);
      expect(second.decision.champion?.rescored).toBe(true);
      expect(second.decision.champion?.value).toBeGreaterThan((second.metrics.auc ?? 1) - 0.01);
      expect(second).toMatchObject({ version: 2, promoted: false, reason: expect.stringMatching(/^not better by enough/) });
      const stored = await listModels(database.knex, "threat-classifier", { tablePrefix: prefix });
      expect(stored.map((model) => [model.version, model.champion])).toEqual([
        [2, false],
        [1, true],
      ]);
    });
  });
}
