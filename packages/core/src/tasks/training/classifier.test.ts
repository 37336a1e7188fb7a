import { describe, expect, it } from "vitest";
import { ConfigError } from "../../errors.ts";
import { silentLogger } from "../../logger.ts";
import { seededRandom, shuffled } from "../../random.ts";
import { type LogisticModel, scoreLogistic, threatClassifier } from "./classifier.ts";
import { auc, chooseThreshold, precisionRecall } from "./metrics.ts";
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

describe("threat classifier robustness and thresholds", () => {
  const trained = async (rows: ClientRow[], features = FEATURES, options: Parameters<typeof threatClassifier>[0] = {}) => {
    const result = await threatClassifier(options).train({ ...dataset(rows), featureNames: features }, context);
    if (!("metrics" in result)) throw new Error(`skipped: ${result.skipped}`);
    return { ...result, model: (result.artifact as { value: LogisticModel }).value };
  };

  // Regression (issue 27, item 2): a constant 7 kept a spread of ~2e-13 from rounding, so a 1e-9
  // drift in the hold-out saturated every score and precision and recall fell to 0.
  it("drops a constant column, names it, and scores as if it were not there", async () => {
    const rows = plantedRows(3000, 11);
    const cut = Date.UTC(2026, 0, 1) + 18 * HOUR;
    const withConstant = rows.map((row) => ({
      ...row,
      features: { ...row.features, version: row.hour >= cut ? 7 + 1e-9 : 7 },
    }));
    const plain = await trained(rows);
    const constant = await trained(withConstant, [...FEATURES, "version"]);
    expect(constant.droppedFeatures).toEqual(["version"]);
    expect(constant.model.dropped).toEqual(["version"]);
    expect(constant.model.features).toEqual(FEATURES);
    expect(constant.metrics.auc).toBe(plain.metrics.auc);
    expect(constant.metrics.precision).toBe(plain.metrics.precision);
    expect(constant.metrics.recall).toBeGreaterThan(0.5);
    const scores = withConstant.filter((row) => row.hour >= cut).map((row) => scoreLogistic(constant.model, row.features));
    expect(scores.filter((score) => score < 1e-6 || score > 1 - 1e-6).length / scores.length).toBeLessThan(0.5);
    expect(scoreLogistic(constant.model, { requests: 5, errorShare: 0.1, endpoints: 2, ioc: 0 })).toBe(
      scoreLogistic(constant.model, { requests: 5, errorShare: 0.1, endpoints: 2, ioc: 0, version: 7.001 }),
    );
  });

  // Regression (issue 27, item 3): precision and recall were reported at 0.5 whatever the balance,
  // and threatClassifier({ threshold: 0.9 }) was accepted and ignored.
  it("chooses the best-F1 threshold on the training split, stores it and reports the hold-out figures at it", async () => {
    // About 2% threats: four in five of the planted ones are left out.
    const rows = plantedRows(15000, 12).filter((row, i) => row.label === 0 || i % 5 === 0);
    const result = await trained(rows);
    expect(result.model.threshold).not.toBe(0.5);
    expect(result.metrics.threshold).toBe(result.model.threshold);
    const cut = Date.UTC(2026, 0, 1) + 18 * HOUR;
    const test = rows.filter((row) => row.hour >= cut);
    const scores = test.map((row) => scoreLogistic(result.model, row.features));
    const labels = test.map((row) => row.label ?? 0);
    const f1 = ({ precision, recall }: { precision: number; recall: number }) => (2 * precision * recall) / (precision + recall || 1);
    expect(precisionRecall(scores, labels, result.model.threshold)).toEqual({
      precision: result.metrics.precision,
      recall: result.metrics.recall,
    });
    expect(f1(precisionRecall(scores, labels, result.model.threshold))).toBeGreaterThan(f1(precisionRecall(scores, labels, 0.5)));
  });

  it("uses a fixed threshold or a precision or recall target, and refuses an option that would do nothing", async () => {
    const rows = plantedRows(3000, 13);
    expect((await trained(rows, FEATURES, { threshold: 0.9 })).model.threshold).toBe(0.9);
    const train = rows.filter((row) => row.hour < Date.UTC(2026, 0, 1) + 18 * HOUR);
    const onTrain = (model: LogisticModel) =>
      precisionRecall(
        train.map((row) => scoreLogistic(model, row.features)),
        train.map((row) => row.label ?? 0),
        model.threshold,
      );
    const precise = await trained(rows, FEATURES, { threshold: { precision: 0.95 } });
    expect(onTrain(precise.model).precision).toBeGreaterThanOrEqual(0.95);
    const sensitive = await trained(rows, FEATURES, { threshold: { recall: 0.99 } });
    expect(onTrain(sensitive.model).recall).toBeGreaterThanOrEqual(0.99);
    expect(sensitive.model.threshold).not.toBe(precise.model.threshold);
    expect(() => threatClassifier({ threshold: 2 })).toThrow(ConfigError);
    expect(() => threatClassifier({ threshold: 2 })).toThrow(/threshold/);
    expect(() => threatClassifier({ treshold: 0.9 } as never)).toThrow(ConfigError);
  });
});

describe("chooseThreshold", () => {
  const scores = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9];
  const labels = [0, 0, 1, 0, 0, 1, 1, 1];
  it("maximises F1, or meets a precision or recall target", () => {
    expect(chooseThreshold(scores, labels, "f1")).toBe(0.7);
    expect(chooseThreshold(scores, labels, { precision: 0.6 })).toBe(0.3);
    expect(chooseThreshold(scores, labels, { precision: 0.75 })).toBe(0.7);
    expect(chooseThreshold(scores, labels, { precision: 1 })).toBe(0.7);
    expect(chooseThreshold(scores, labels, { recall: 1 })).toBe(0.3);
    expect(chooseThreshold(scores, [0, 0, 0, 0, 0, 0, 0, 0], "f1")).toBe(0.5);
  });
});

describe("auc", () => {
  it("is 1 for a perfect ranking, 0.5 for ties and NaN without both classes", () => {
    expect(auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
    expect(auc([0.1, 0.2], [0, 0])).toBeNaN();
  });
});
