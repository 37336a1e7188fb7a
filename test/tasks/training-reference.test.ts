// The training task's figures against statsmodels, scikit-learn and numpy on the same data (issue
// 27). test/reference/training_reference.py wrote the data sets and the reference figures; CI
// needs no Python: the figures are committed with the script that produced them.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../packages/core/src/logger.ts";
import { scoreLogistic, threatClassifier } from "../../packages/core/src/tasks/training/classifier.ts";
import { backtest } from "../../packages/core/src/tasks/training/forecaster.ts";
import { DEFAULT_LATENCY_BUCKETS, quantileFromBuckets } from "../../packages/core/src/tasks/training/histogram.ts";
import type { ClientRow, TrainingDataset } from "../../packages/core/src/tasks/training/trainer.ts";

const HOUR = 3_600_000;
const START = Date.UTC(2026, 0, 1);
const dir = new URL("../reference/", import.meta.url);

interface Reference {
  holtWinters: { history: number; window: number; shapes: Record<string, { mae: number; naiveMae: number }> };
  classifier: {
    trainRows: number;
    holdoutRows: number;
    holdoutThreats: number;
    auc: number;
    logLoss: number;
    threshold: number;
    precision: number;
    recall: number;
    constantColumn: { scale: number; auc: number; saturatedShare: number };
  };
  p95: number[];
}

const reference = JSON.parse(readFileSync(new URL("training-reference.json", dir), "utf8")) as Reference;

/** A committed CSV (after its `#` header comment) as a header and rows of numbers. */
function csv(name: string): { header: string[]; rows: number[][] } {
  const lines = readFileSync(new URL(name, dir), "utf8")
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"));
  const header = (lines.shift() as string).split(",");
  return { header, rows: lines.map((line) => line.split(",").map(Number)) };
}

const context = { signal: new AbortController().signal, seed: 42, holdout: 0.25, logger: silentLogger };

function clientDataset(extra?: (row: ClientRow, test: boolean) => Record<string, number>): TrainingDataset {
  const { rows } = csv("client-hours.csv");
  const clients: ClientRow[] = rows.map(([hour, requests, errorShare, endpoints, label], i) => {
    const row: ClientRow = {
      hour: START + (hour as number) * HOUR,
      client: `client-${i}`,
      features: { requests: requests as number, errorShare: errorShare as number, endpoints: endpoints as number },
      label: label === 1 ? 1 : 0,
    };
    if (extra) Object.assign(row.features, extra(row, (hour as number) >= 18));
    return row;
  });
  return {
    window: { from: START, to: START + 24 * HOUR },
    historyFrom: START,
    series: [],
    clients,
    featureNames: Object.keys(clients[0]?.features ?? {}),
    hasLabels: true,
  };
}

describe("Holt-Winters against statsmodels ExponentialSmoothing(add, add, 24)", () => {
  const { header, rows } = csv("forecast-shapes.csv");
  const hours = rows.map((row) => START + (row[0] as number) * HOUR);
  const cut = START + reference.holtWinters.history * HOUR;
  for (const [column, name] of header.entries()) {
    if (column === 0) continue;
    it(`has a window MAE within 1.5x of statsmodels' on ${name}`, () => {
      const values = rows.map((row) => row[column] as number);
      const result = backtest(hours, values, cut);
      const theirs = reference.holtWinters.shapes[name] as { mae: number; naiveMae: number };
      expect(result?.naiveMae).toBeCloseTo(theirs.naiveMae, 6);
      expect(result?.mae).toBeLessThan(1.5 * theirs.mae);
    });
  }
});

describe("threat classifier against scikit-learn", () => {
  it("splits as the reference does and matches LogisticRegression's AUC and log loss on the hold-out", async () => {
    const result = await threatClassifier().train(clientDataset(), context);
    if (!("metrics" in result)) throw new Error(`skipped: ${result.skipped}`);
    const theirs = reference.classifier;
    expect(result.metrics).toMatchObject({
      trainRows: theirs.trainRows,
      holdoutRows: theirs.holdoutRows,
      holdoutThreats: theirs.holdoutThreats,
    });
    expect(result.metrics.auc).toBeCloseTo(theirs.auc, 6);
    const model = (result.artifact as { value: Parameters<typeof scoreLogistic>[0] }).value;
    const test = clientDataset().clients.filter((row) => row.hour >= START + 18 * HOUR);
    const logLoss =
      test.reduce((sum, row) => {
        const p = Math.min(1 - 1e-15, Math.max(1e-15, scoreLogistic(model, row.features)));
        return sum - (row.label === 1 ? Math.log(p) : Math.log(1 - p));
      }, 0) / test.length;
    expect(logLoss).toBeCloseTo(theirs.logLoss, 5);
  });

  it("tunes the threshold on the training split to scikit-learn's best-F1 threshold, with its precision and recall", async () => {
    const result = await threatClassifier().train(clientDataset(), context);
    if (!("metrics" in result)) throw new Error(`skipped: ${result.skipped}`);
    const theirs = reference.classifier;
    expect(result.metrics.threshold).toBeCloseTo(theirs.threshold, 5);
    expect(result.metrics.precision).toBe(theirs.precision);
    expect(result.metrics.recall).toBe(theirs.recall);
  });

  it("treats a constant column as StandardScaler does: same AUC as without it, no saturated score", async () => {
    const plain = await threatClassifier().train(clientDataset(), context);
    const dataset = clientDataset((_, test) => ({ version: test ? 7 + 1e-9 : 7 }));
    const result = await threatClassifier().train(dataset, context);
    if (!("metrics" in result) || !("metrics" in plain)) throw new Error("skipped");
    const theirs = reference.classifier.constantColumn;
    expect(theirs.auc).toBe(reference.classifier.auc);
    expect(result.metrics.auc).toBe(plain.metrics.auc);
    expect(result.droppedFeatures).toEqual(["version"]);
    const model = (result.artifact as { value: Parameters<typeof scoreLogistic>[0] }).value;
    const scores = dataset.clients.filter((row) => row.hour >= START + 18 * HOUR).map((row) => scoreLogistic(model, row.features));
    const saturated = scores.filter((score) => score < 1e-6 || score > 1 - 1e-6).length / scores.length;
    expect(saturated).toBe(theirs.saturatedShare);
  });
});

describe("bucketed p95 (MariaDB/MySQL and SQLite) against numpy's percentile", () => {
  it("stays within the error the docs state, and PostgreSQL's exact percentile is numpy's", () => {
    const { rows } = csv("latencies.csv");
    const byBucket = new Map<number, number[]>();
    for (const [bucket, latency] of rows) byBucket.set(bucket as number, [...(byBucket.get(bucket as number) ?? []), latency as number]);
    const errors = [...byBucket.entries()].map(([bucket, latencies]) => {
      const cumulative = DEFAULT_LATENCY_BUCKETS.map((bound) => latencies.filter((value) => value <= bound).length);
      const ours = quantileFromBuckets(DEFAULT_LATENCY_BUCKETS, cumulative, latencies.length, Math.max(...latencies), 0.95);
      const sorted = [...latencies].sort((a, b) => a - b);
      const rank = 0.95 * (sorted.length - 1);
      const exact =
        (sorted[Math.floor(rank)] as number) + (rank % 1) * ((sorted[Math.ceil(rank)] as number) - (sorted[Math.floor(rank)] as number));
      expect(exact).toBeCloseTo(reference.p95[bucket] as number, 6);
      return Math.abs(ours - exact) / exact;
    });
    errors.sort((a, b) => a - b);
    expect(errors[Math.floor(errors.length / 2)]).toBeLessThan(0.06);
    expect(errors[errors.length - 1]).toBeLessThan(0.2);
  });
});
