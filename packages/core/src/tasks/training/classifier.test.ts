import { describe, expect, it } from "vitest";
import { silentLogger } from "../../logger.ts";
import { seededRandom, shuffled } from "../../random.ts";
import { type LogisticModel, scoreLogistic, threatClassifier } from "./classifier.ts";
import { auc } from "./metrics.ts";
import type { ClientRow, TrainingDataset } from "./trainer.ts";

const HOUR = 3_600_000;
const FEATURES = ["requests", "errorShare", "endpoints", "ioc"];

/** Client-hours where threats send more requests, fail more and touch more endpoints (with overlap). */
function plantedRows(count: number, seed: number): ClientRow[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => {
    const threat = random() < 0.1;
    const requests = threat ? 40 + random() * 400 : 1 + random() * 80;
    return {
      hour: Date.UTC(2026, 0, 1) + Math.floor((i / count) * 24) * HOUR,
      client: `c${i}`,
      features: {
        requests,
        errorShare: threat ? 0.2 + random() * 0.7 : random() * 0.35,
        endpoints: threat ? 5 + Math.floor(random() * 40) : 1 + Math.floor(random() * 8),
        ioc: threat ? (random() < 0.4 ? 1 : 0) : random() < 0.02 ? 1 : 0,
      },
      label: threat ? 1 : 0,
    };
  });
}

const dataset = (clients: ClientRow[]): TrainingDataset => ({
  window: { from: 0, to: 1 },
  historyFrom: 0,
  series: [],
  clients,
  featureNames: FEATURES,
  hasLabels: true,
});
const context = { signal: new AbortController().signal, seed: 7, holdout: 0.25, logger: silentLogger };

describe("threat classifier", () => {
  it("reaches a hold-out AUC of at least 0.9 on a planted signal", async () => {
    const result = await threatClassifier().train(dataset(plantedRows(3000, 1)), context);
    if (!("metrics" in result)) throw new Error(`skipped: ${result.skipped}`);
    expect(result.metrics.auc).toBeGreaterThanOrEqual(0.9);
    expect(result.metrics.recall).toBeGreaterThan(0.6);
    expect(result.metrics.precision).toBeGreaterThan(0.3);
  });

  it("stays near 0.5 AUC when the labels are shuffled", async () => {
    const rows = plantedRows(3000, 2);
    const labels = shuffled(
      rows.map((row) => row.label),
      seededRandom(99),
    );
    const result = await threatClassifier().train(dataset(rows.map((row, i) => ({ ...row, label: labels[i] }))), context);
    if (!("metrics" in result)) throw new Error(`skipped: ${result.skipped}`);
    expect(Math.abs((result.metrics.auc ?? 0) - 0.5)).toBeLessThan(0.08);
  });

  it("gives the same model for the same data and seed, and another for another seed", async () => {
    const rows = plantedRows(800, 3);
    const a = await threatClassifier().train(dataset(rows), context);
    const b = await threatClassifier().train(dataset(rows), context);
    const c = await threatClassifier().train(dataset(rows), { ...context, seed: 8 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(a)).not.toBe(JSON.stringify(c));
  });

  it("holds out the latest hours, not a random sample", async () => {
    const rows = plantedRows(1000, 4);
    const result = await threatClassifier().train(dataset(rows), context);
    if (!("metrics" in result)) throw new Error(`skipped: ${result.skipped}`);
    const cut = Date.UTC(2026, 0, 1) + 18 * HOUR;
    expect(result.metrics.holdoutRows).toBe(rows.filter((row) => row.hour >= cut).length);
    const model = (result.artifact as { value: LogisticModel }).value;
    expect(scoreLogistic(model, { requests: 400, errorShare: 0.8, endpoints: 40, ioc: 1 })).toBeGreaterThan(0.9);
    expect(scoreLogistic(model, { requests: 3, errorShare: 0, endpoints: 1, ioc: 0 })).toBeLessThan(0.1);
  });

  it("skips with a reason when there are no labels or too few threats", async () => {
    expect(await threatClassifier().train({ ...dataset(plantedRows(500, 5)), hasLabels: false }, context)).toEqual({
      skipped: "no label column is configured",
    });
    const benign = plantedRows(500, 5).map((row) => ({ ...row, label: 0 as const }));
    expect(await threatClassifier().train(dataset(benign), context)).toEqual({
      skipped: expect.stringMatching(/too few labelled threats/),
    });
  });
});

describe("auc", () => {
  it("is 1 for a perfect ranking, 0.5 for ties and NaN without both classes", () => {
    expect(auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
    expect(auc([0.1, 0.2], [0, 0])).toBeNaN();
  });
});
