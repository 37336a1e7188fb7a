import { seededRandom, shuffled } from "../../random.ts";
import { auc, precisionRecall } from "./metrics.ts";
import { type ClientRow, type Trainer, type TrainerResult, throwIfAborted } from "./trainer.ts";

/** The stored form of a logistic-regression threat model. */
export interface LogisticModel {
  type: "upkeep.logistic-regression";
  features: string[];
  mean: number[];
  std: number[];
  weights: number[];
  bias: number;
  /** Probability at or above which a client-hour is called a threat (precision and recall use it). */
  threshold: number;
}

/** Options of `threatClassifier`. */
export interface ThreatClassifierOptions {
  /**
   * The model's name in the registry.
   * @default "threat-classifier"
   */
  name?: string;
  /**
   * L2 regularisation strength.
   * @default 0.001
   */
  l2?: number;
  /**
   * Passes over the training rows.
   * @default 40
   */
  epochs?: number;
  /**
   * Initial step size; it decays as 1/(1 + epoch/10).
   * @default 0.1
   */
  learningRate?: number;
  /**
   * Rows per gradient step.
   * @default 64
   */
  batchSize?: number;
  /**
   * Fewest client-hours (training plus hold-out) to train on.
   * @default 100
   */
  minRows?: number;
  /**
   * Fewest labelled threats in the training part and in the hold-out each.
   * @default 5
   */
  minPositives?: number;
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));
/** Counts are heavy-tailed: a signed log keeps one noisy client from dominating the fit. */
const squash = (x: number) => (Number.isFinite(x) ? Math.sign(x) * Math.log1p(Math.abs(x)) : 0);

/** The threat probability of one feature record under a stored model; missing features count as 0. */
export function scoreLogistic(model: LogisticModel, features: Record<string, number>): number {
  let z = model.bias;
  model.features.forEach((name, i) => {
    const std = model.std[i] ?? 1;
    z += (model.weights[i] ?? 0) * ((squash(features[name] ?? 0) - (model.mean[i] ?? 0)) / std);
  });
  return sigmoid(z);
}

/** Fits an L2-regularised logistic regression with class-balanced, seeded mini-batch SGD. */
export function fitLogistic(
  rows: readonly ClientRow[],
  features: readonly string[],
  options: Required<Pick<ThreatClassifierOptions, "l2" | "epochs" | "learningRate" | "batchSize">> & { seed: number; signal?: AbortSignal },
): LogisticModel {
  const d = features.length;
  const x = rows.map((row) => features.map((name) => squash(row.features[name] ?? 0)));
  const y = rows.map((row) => row.label ?? 0);
  const mean = new Array<number>(d).fill(0);
  const std = new Array<number>(d).fill(0);
  for (const vector of x) for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) + (vector[j] as number) / x.length;
  for (const vector of x)
    for (let j = 0; j < d; j++) std[j] = (std[j] as number) + ((vector[j] as number) - (mean[j] as number)) ** 2 / x.length;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j] as number) || 1;
  const z = x.map((vector) => vector.map((value, j) => (value - (mean[j] as number)) / (std[j] as number)));
  const positives = y.filter((label) => label > 0).length;
  const weightOf = (label: number) =>
    label > 0 ? y.length / (2 * Math.max(1, positives)) : y.length / (2 * Math.max(1, y.length - positives));

  const random = seededRandom(options.seed);
  const weights = Array.from({ length: d }, () => (random() - 0.5) * 0.01);
  let bias = 0;
  const indices = rows.map((_, i) => i);
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    if (options.signal) throwIfAborted(options.signal);
    const rate = options.learningRate / (1 + epoch / 10);
    const order = shuffled(indices, random);
    for (let start = 0; start < order.length; start += options.batchSize) {
      const batch = order.slice(start, start + options.batchSize);
      const gradient = new Array<number>(d).fill(0);
      let gradientBias = 0;
      for (const i of batch) {
        const vector = z[i] as number[];
        let score = bias;
        for (let j = 0; j < d; j++) score += (weights[j] as number) * (vector[j] as number);
        const label = y[i] as number;
        const error = (sigmoid(score) - label) * weightOf(label);
        for (let j = 0; j < d; j++) gradient[j] = (gradient[j] as number) + error * (vector[j] as number);
        gradientBias += error;
      }
      for (let j = 0; j < d; j++) {
        weights[j] = (weights[j] as number) - rate * ((gradient[j] as number) / batch.length + options.l2 * (weights[j] as number));
      }
      bias -= rate * (gradientBias / batch.length);
    }
  }
  return { type: "upkeep.logistic-regression", features: [...features], mean, std, weights, bias, threshold: 0.5 };
}

/** Splits rows by time: the latest `holdout` share of the distinct hours is held out. */
export function splitByTime<T extends { hour: number }>(rows: readonly T[], holdout: number): { train: T[]; test: T[] } {
  const hours = [...new Set(rows.map((row) => row.hour))].sort((a, b) => a - b);
  const cut = hours[Math.min(hours.length - 1, Math.max(1, Math.floor(hours.length * (1 - holdout))))] ?? Number.POSITIVE_INFINITY;
  return { train: rows.filter((row) => row.hour < cut), test: rows.filter((row) => row.hour >= cut) };
}

/**
 * The built-in threat classifier: L2-regularised logistic regression on per-client-hour features
 * (request count, error share, distinct endpoints, IoC match, host extras), trained on the earlier
 * part of the window and judged on the latest part by AUC, precision and recall.
 */
export function threatClassifier(options: ThreatClassifierOptions = {}): Trainer {
  const settings = {
    l2: options.l2 ?? 0.001,
    epochs: options.epochs ?? 40,
    learningRate: options.learningRate ?? 0.1,
    batchSize: options.batchSize ?? 64,
  };
  const minRows = options.minRows ?? 100;
  const minPositives = options.minPositives ?? 5;
  return {
    name: options.name ?? "threat-classifier",
    metric: { name: "auc", higherIsBetter: true },
    train(dataset, context): TrainerResult {
      if (!dataset.hasLabels) return { skipped: "no label column is configured" };
      if (dataset.clients.length < minRows)
        return { skipped: `${dataset.clients.length} client-hours in the window, fewer than ${minRows}` };
      const { train, test } = splitByTime(dataset.clients, context.holdout);
      const positives = (rows: ClientRow[]) => rows.filter((row) => row.label === 1).length;
      const trainPositives = positives(train);
      const testPositives = positives(test);
      if (trainPositives < minPositives || testPositives < minPositives) {
        return {
          skipped: `too few labelled threats (${trainPositives} to train on, ${testPositives} held out; need ${minPositives} each)`,
        };
      }
      if (train.length - trainPositives === 0 || test.length - testPositives === 0)
        return { skipped: "no benign client-hours to compare with" };
      const model = fitLogistic(train, dataset.featureNames, { ...settings, seed: context.seed, signal: context.signal });
      const scores = test.map((row) => scoreLogistic(model, row.features));
      const labels = test.map((row) => row.label ?? 0);
      const { precision, recall } = precisionRecall(scores, labels, model.threshold);
      return {
        metrics: {
          auc: auc(scores, labels),
          precision,
          recall,
          trainRows: train.length,
          holdoutRows: test.length,
          holdoutThreats: testPositives,
        },
        artifact: { format: "json", value: model },
      };
    },
  };
}
