import * as z from "zod";
import { seededRandom, shuffled } from "../../random.ts";
import { parseOrThrow } from "../../validate.ts";
import { auc, chooseThreshold, precisionRecall, type ThresholdRule } from "./metrics.ts";
import { type ChampionScore, type ClientRow, type ModelArtifact, type Trainer, type TrainerResult, throwIfAborted } from "./trainer.ts";

const HOUR = 3_600_000;

/** The stored form of a logistic-regression threat model. */
export interface LogisticModel {
  /** Marks the artifact's kind; always `"upkeep.logistic-regression"`. */
  type: "upkeep.logistic-regression";
  /** The feature columns, in the order of `mean`, `std` and `weights`. */
  features: string[];
  /** Each feature's mean on the training split, subtracted before scoring. */
  mean: number[];
  /** Each feature's standard deviation on the training split, divided by before scoring. */
  std: number[];
  /** The fitted weight of each standardised feature. */
  weights: number[];
  /** The fitted intercept. */
  bias: number;
  /** Probability at or above which a client-hour is called a threat: chosen on the training split, used by `classify`. */
  threshold: number;
  /** Feature columns left out of the fit because they had no usable spread (a constant column). */
  dropped?: string[];
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
  /**
   * The decision threshold: a probability, or how to choose it on the training split: `"f1"` (the
   * best F1), `{ precision: p }` (the most recall with precision at least p) or `{ recall: r }`
   * (the most precision with recall at least r).
   * @default "f1"
   */
  threshold?: number | ThresholdRule;
}

const share = z.number().gt(0).max(1);
const optionsSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, "expected a lower-case model name")
      .default("threat-classifier"),
    l2: z.number().min(0).default(0.001),
    epochs: z.number().int().min(1).default(40),
    learningRate: z.number().positive().default(0.1),
    batchSize: z.number().int().min(1).default(64),
    minRows: z.number().int().min(1).default(100),
    minPositives: z.number().int().min(1).default(5),
    threshold: z
      .union([z.number().gt(0).lt(1), z.literal("f1"), z.object({ precision: share }).strict(), z.object({ recall: share }).strict()])
      .default("f1"),
  })
  .strict();

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

/**
 * A column has no usable spread when its standard deviation is below this share of its magnitude:
 * what is left there is rounding in the mean (a constant 7 keeps about 1e-13), and dividing by it
 * would turn a 1e-9 drift into a saturated score.
 */
const MIN_RELATIVE_SPREAD = 1e-8;

/** Per-column mean and standard deviation (two passes), and the columns with no usable spread. */
function columnStats(x: readonly number[][], d: number) {
  const mean = new Array<number>(d).fill(0);
  const std = new Array<number>(d).fill(0);
  const n = Math.max(1, x.length);
  for (const vector of x) for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) + (vector[j] as number);
  for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) / n;
  for (const vector of x) for (let j = 0; j < d; j++) std[j] = (std[j] as number) + ((vector[j] as number) - (mean[j] as number)) ** 2;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt((std[j] as number) / n);
  const usable = mean.map((m, j) => (std[j] as number) > MIN_RELATIVE_SPREAD * Math.max(1, Math.abs(m)));
  return { mean, std, usable };
}

/** Standardised feature rows, their labels, each label's class weight and the L2 strength. */
interface FitData {
  z: readonly number[][];
  y: readonly number[];
  weightOf: (label: number) => number;
  l2: number;
}

/** Class-weighted mean log loss plus the L2 penalty (the bias is not penalised): what the fit minimises. */
function objective({ z, y, weightOf, l2 }: FitData, weights: readonly number[], bias: number) {
  let loss = 0;
  for (let i = 0; i < z.length; i++) {
    const vector = z[i] as number[];
    let score = bias;
    for (let j = 0; j < weights.length; j++) score += (weights[j] as number) * (vector[j] as number);
    const label = y[i] as number;
    // log(1 + e^s) - y s, computed without overflow.
    loss += weightOf(label) * (Math.max(score, 0) + Math.log1p(Math.exp(-Math.abs(score))) - label * score);
  }
  return loss / Math.max(1, z.length) + (l2 / 2) * weights.reduce((sum, w) => sum + w * w, 0);
}

/** Solves `a x = b` by Gaussian elimination with partial pivoting; undefined when `a` is singular. */
function solve(a: number[][], b: number[]): number[] | undefined {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i] as number]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let row = col + 1; row < n; row++)
      if (Math.abs((m[row] as number[])[col] as number) > Math.abs((m[pivot] as number[])[col] as number)) pivot = row;
    [m[col], m[pivot]] = [m[pivot] as number[], m[col] as number[]];
    const head = m[col] as number[];
    if (!(Math.abs(head[col] as number) > 1e-300)) return undefined;
    for (let row = col + 1; row < n; row++) {
      const line = m[row] as number[];
      const factor = (line[col] as number) / (head[col] as number);
      for (let k = col; k <= n; k++) line[k] = (line[k] as number) - factor * (head[k] as number);
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let row = n - 1; row >= 0; row--) {
    const line = m[row] as number[];
    let sum = line[n] as number;
    for (let k = row + 1; k < n; k++) sum -= (line[k] as number) * (x[k] as number);
    x[row] = sum / (line[row] as number);
  }
  return x.every(Number.isFinite) ? x : undefined;
}

/**
 * Newton steps (with step halving) from the SGD solution to the minimum of the regularised,
 * class-weighted log loss, the one scikit-learn's `LogisticRegression` finds with C = 1/(l2·n):
 * SGD alone stops short of it (weights about a quarter too small, log loss 20 % higher on the
 * reference data). `weights` is updated in place; returns the bias. A step that does not lower
 * the objective, or a singular system (separable data without L2), keeps the last point.
 */
function newtonRefine(data: FitData, weights: number[], bias: number): number {
  const { z, y, weightOf, l2 } = data;
  const d = weights.length;
  const n = Math.max(1, z.length);
  let current = objective(data, weights, bias);
  for (let iteration = 0; iteration < 25; iteration++) {
    const gradient = new Array<number>(d + 1).fill(0);
    const hessian = Array.from({ length: d + 1 }, () => new Array<number>(d + 1).fill(0));
    for (let i = 0; i < z.length; i++) {
      const vector = [...(z[i] as number[]), 1];
      let score = bias;
      for (let j = 0; j < d; j++) score += (weights[j] as number) * (vector[j] as number);
      const p = sigmoid(score);
      const label = y[i] as number;
      const c = weightOf(label);
      for (let j = 0; j <= d; j++) {
        gradient[j] = (gradient[j] as number) + (c * (p - label) * (vector[j] as number)) / n;
        const row = hessian[j] as number[];
        for (let k = 0; k <= j; k++) row[k] = (row[k] as number) + (c * p * (1 - p) * (vector[j] as number) * (vector[k] as number)) / n;
      }
    }
    for (let j = 0; j <= d; j++) {
      const row = hessian[j] as number[];
      for (let k = 0; k < j; k++) (hessian[k] as number[])[j] = row[k] as number;
      if (j < d) {
        gradient[j] = (gradient[j] as number) + l2 * (weights[j] as number);
        row[j] = (row[j] as number) + l2;
      }
    }
    const delta = solve(hessian, gradient);
    if (!delta) break;
    let stepSize = 1;
    let improved = false;
    for (let halving = 0; halving < 20 && !improved; halving++, stepSize /= 2) {
      const tryWeights = weights.map((w, j) => w - stepSize * (delta[j] as number));
      const tryBias = bias - stepSize * (delta[d] as number);
      const value = objective(data, tryWeights, tryBias);
      if (!(value <= current)) continue;
      const converged = current - value <= 1e-12 * Math.max(1, current);
      weights.splice(0, d, ...tryWeights);
      bias = tryBias;
      current = value;
      if (converged) return bias;
      improved = true;
    }
    if (!improved) break;
  }
  return bias;
}

/**
 * Fits an L2-regularised logistic regression with class-balanced, seeded mini-batch SGD. Columns
 * with no usable spread are left out of the model and listed in its `dropped`.
 */
export function fitLogistic(
  rows: readonly ClientRow[],
  features: readonly string[],
  options: Required<Pick<ThreatClassifierOptions, "l2" | "epochs" | "learningRate" | "batchSize">> & { seed: number; signal?: AbortSignal },
): LogisticModel {
  const all = rows.map((row) => features.map((name) => squash(row.features[name] ?? 0)));
  const stats = columnStats(all, features.length);
  const keep = features.map((_, j) => j).filter((j) => stats.usable[j]);
  const mean = keep.map((j) => stats.mean[j] as number);
  const std = keep.map((j) => stats.std[j] as number);
  const d = keep.length;
  const z = all.map((vector) => keep.map((j, k) => ((vector[j] as number) - (mean[k] as number)) / (std[k] as number)));
  const y = rows.map((row) => row.label ?? 0);
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
  bias = newtonRefine({ z, y, weightOf, l2: options.l2 }, weights, bias);
  return {
    type: "upkeep.logistic-regression",
    features: keep.map((j) => features[j] as string),
    mean,
    std,
    weights,
    bias,
    threshold: 0.5,
    dropped: features.filter((_, j) => !stats.usable[j]),
  };
}

/** Splits rows by time: the latest `holdout` share of the distinct hours is held out. */
export function splitByTime<T extends { hour: number }>(rows: readonly T[], holdout: number): { train: T[]; test: T[] } {
  const hours = [...new Set(rows.map((row) => row.hour))].sort((a, b) => a - b);
  const cut = hours[Math.min(hours.length - 1, Math.max(1, Math.floor(hours.length * (1 - holdout))))] ?? Number.POSITIVE_INFINITY;
  return { train: rows.filter((row) => row.hour < cut), test: rows.filter((row) => row.hour >= cut) };
}

/** A classifier's hold-out figures: AUC, and precision and recall at its own threshold. */
function holdoutMetrics(model: LogisticModel, test: readonly ClientRow[]) {
  const scores = test.map((row) => scoreLogistic(model, row.features));
  const labels = test.map((row) => row.label ?? 0);
  const { precision, recall } = precisionRecall(scores, labels, model.threshold);
  return { auc: auc(scores, labels), precision, recall, threshold: model.threshold };
}

const isLogistic = (artifact: ModelArtifact): artifact is { format: "json"; value: LogisticModel } =>
  artifact.format === "json" &&
  typeof artifact.value === "object" &&
  artifact.value !== null &&
  (artifact.value as { type?: unknown }).type === "upkeep.logistic-regression";

/** The champion scored on this hold-out, when it is a classifier over features this window has. */
function scoreChampion(
  artifact: ModelArtifact | undefined,
  test: readonly ClientRow[],
  featureNames: readonly string[],
): ChampionScore | undefined {
  if (!artifact) return undefined;
  if (!isLogistic(artifact)) return { unscored: "the champion is not a built-in classifier model" };
  const missing = artifact.value.features.filter((name) => !featureNames.includes(name));
  if (missing.length > 0) return { unscored: `the champion uses features this window does not have: ${missing.join(", ")}` };
  return { metrics: holdoutMetrics(artifact.value, test) };
}

/**
 * The built-in threat classifier: L2-regularised logistic regression on per-client-hour features
 * (request count, error share, distinct endpoints, IoC match, host extras), trained on the earlier
 * part of the window, its decision threshold chosen there too, and judged on the latest part by
 * AUC, and precision and recall at that threshold. The champion is scored on the same hold-out.
 *
 * @throws {ConfigError} naming the invalid option.
 */
export function threatClassifier(options: ThreatClassifierOptions = {}): Trainer {
  const { name, minRows, minPositives, threshold, ...settings } = parseOrThrow(optionsSchema, options, "threatClassifier options");
  return {
    name,
    metric: { name: "auc", higherIsBetter: true, best: 1 },
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
      if (model.features.length === 0)
        return { skipped: `no feature has any spread in the training split (${dataset.featureNames.join(", ")})` };
      model.threshold =
        typeof threshold === "number"
          ? threshold
          : chooseThreshold(
              train.map((row) => scoreLogistic(model, row.features)),
              train.map((row) => row.label ?? 0),
              threshold,
            );
      const hours = test.reduce((range, row) => ({ from: Math.min(range.from, row.hour), to: Math.max(range.to, row.hour + HOUR) }), {
        from: Number.POSITIVE_INFINITY,
        to: Number.NEGATIVE_INFINITY,
      });
      return {
        metrics: {
          ...holdoutMetrics(model, test),
          trainRows: train.length,
          holdoutRows: test.length,
          holdoutThreats: testPositives,
        },
        artifact: { format: "json", value: model },
        holdout: { ...hours, rows: test.length },
        champion: scoreChampion(context.champion, test, dataset.featureNames),
        droppedFeatures: model.dropped ?? [],
      };
    },
  };
}
