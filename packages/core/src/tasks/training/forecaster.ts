import { meanAbsoluteError } from "./metrics.ts";
import { type ChampionScore, type ModelArtifact, type SeriesPoint, type Trainer, type TrainerResult, throwIfAborted } from "./trainer.ts";

const HOUR = 3_600_000;
const PERIOD = 24;

/** Smoothing state of one metric of one series; `season` is indexed by the UTC hour of day. */
export interface SmoothingState {
  /** The level's smoothing factor (0–1). */
  alpha: number;
  /** The trend's smoothing factor (0–1). */
  beta: number;
  /** The season's smoothing factor (0–1). */
  gamma: number;
  /** The smoothed level after the last hour seen. */
  level: number;
  /** The smoothed trend per hour after the last hour seen. */
  trend: number;
  /** The seasonal offset of each UTC hour of day (24 values). */
  season: number[];
}

/** The stored form of an SLA forecaster. */
export interface ForecastModel {
  /** Marks the artifact's kind; always `"upkeep.holt-winters"`. */
  type: "upkeep.holt-winters";
  /** The last hour the states have seen, epoch milliseconds. */
  lastHour: number;
  /** The states of each series (an endpoint, or a platform-wide series), by its key. */
  series: Record<
    string,
    {
      /** The state of the hourly p95 latency. */
      p95: SmoothingState;
      /** The state of the hourly error rate. */
      errorRate: SmoothingState;
    }
  >;
}

/** One forecast hour. */
export interface ForecastPoint {
  /** Start of the hour, epoch milliseconds. */
  hour: number;
  /** The forecast p95 latency, in milliseconds. */
  p95: number;
  /** The forecast share of failed requests (0–1). */
  errorRate: number;
}

/** Options of `slaForecaster`. */
export interface SlaForecasterOptions {
  /**
   * The model's name in the registry.
   * @default "sla-forecaster"
   */
  name?: string;
  /**
   * Most series (endpoints, by request count) modelled besides `platform`.
   * @default 50
   */
  maxSeries?: number;
}

// The coarse grid the search starts from; Nelder-Mead refines its best point.
const ALPHAS = [0.1, 0.6];
const BETAS = [0, 0.2];
const GAMMAS = [0.05, 0.3];
/** Most evaluations of the one-step error Nelder-Mead may spend after the grid. */
const SEARCH_EVALUATIONS = 60;

const slot = (hour: number) => ((Math.floor(hour / HOUR) % PERIOD) + PERIOD) % PERIOD;

/** Mean of the finite values, NaN when there is none. */
function finiteMean(values: readonly number[]): number {
  let sum = 0;
  let count = 0;
  for (const value of values) {
    if (!Number.isFinite(value)) continue;
    sum += value;
    count++;
  }
  return count === 0 ? Number.NaN : sum / count;
}

/** α, β, γ, each in [0, 1]. */
type Point = [number, number, number];

/** Slope and intercept of the least-squares line through the points. */
function line(points: readonly { at: number; mean: number }[]): { slope: number; intercept: number } {
  const meanAt = points.reduce((sum, point) => sum + point.at, 0) / points.length;
  const meanValue = points.reduce((sum, point) => sum + point.mean, 0) / points.length;
  let covariance = 0;
  let variance = 0;
  for (const point of points) {
    covariance += (point.at - meanAt) * (point.mean - meanValue);
    variance += (point.at - meanAt) ** 2;
  }
  const slope = variance > 0 ? covariance / variance : 0;
  return { slope, intercept: meanValue - slope * meanAt };
}

type DayMean = { at: number; mean: number };

/**
 * A day's slope from its neighbours' means: of the slopes to the day before and to the day after,
 * the smaller one when they agree in sign, else 0 (minmod), so a step between two days reads as no
 * slope and a steady trend as itself. `fallback` without a neighbour.
 */
function localSlope(before: DayMean | undefined, day: DayMean, after: DayMean | undefined, fallback: number): number {
  const slopes = [before, after]
    .filter((point): point is DayMean => point !== undefined && Number.isFinite(point.mean))
    .map((point) => (point.mean - day.mean) / (point.at - day.at));
  if (slopes.length === 0) return fallback;
  if (slopes.length === 1) return slopes[0] as number;
  const [a, b] = slopes as [number, number];
  return a * b <= 0 ? 0 : Math.sign(a) * Math.min(Math.abs(a), Math.abs(b));
}

/**
 * Days the initial state is decomposed from: the first half of the history, at most four. The
 * one-step error that chooses α, β, γ is summed over the hours after them only: a season
 * estimated from the same hours it is judged on would always look best left unchanged (γ = 0).
 */
const initialDays = (length: number) => Math.max(1, Math.min(4, Math.floor(length / PERIOD / 2)));

/**
 * Initial state from a decomposition of the first days (`initialDays`): each hour's seasonal term
 * is its average offset from its own day's mean and local slope (`localSlope`), centred on 0, so a
 * level shift between days does not leak into the season. Level and trend are the line through
 * those days' means, the level taken the hour before the first value, as `step` expects.
 */
function initialState(hours: readonly number[], values: readonly number[]): InitialState {
  const days = initialDays(values.length);
  const means = Array.from({ length: days }, (_, day) => ({
    at: day * PERIOD + (PERIOD - 1) / 2,
    mean: finiteMean(values.slice(day * PERIOD, (day + 1) * PERIOD)),
  }));
  const known = means.filter((point) => Number.isFinite(point.mean));
  const start = known.length >= 2 ? line(known) : { slope: 0, intercept: known[0]?.mean ?? 0 };
  const sums = new Array<number>(PERIOD).fill(0);
  const counts = new Array<number>(PERIOD).fill(0);
  for (let day = 0; day < days; day++) {
    const centre = means[day] as { at: number; mean: number };
    if (!Number.isFinite(centre.mean)) continue;
    const slope = localSlope(means[day - 1], centre, means[day + 1], start.slope);
    for (let i = day * PERIOD; i < Math.min((day + 1) * PERIOD, values.length); i++) {
      const value = values[i] as number;
      if (!Number.isFinite(value)) continue;
      const s = slot(hours[i] as number);
      sums[s] = (sums[s] as number) + value - (centre.mean + slope * (i - centre.at));
      counts[s] = (counts[s] as number) + 1;
    }
  }
  const offsets = sums.map((sum, s) => ((counts[s] as number) > 0 ? sum / (counts[s] as number) : Number.NaN));
  const centre = finiteMean(offsets);
  const season = offsets.map((offset) => (Number.isFinite(offset) ? offset - centre : 0));
  return { level: start.intercept - start.slope, trend: start.slope, season };
}

/** The state before the first value, apart from the parameters. */
type InitialState = Pick<SmoothingState, "level" | "trend" | "season">;

/** A fresh state from an initial one and parameters (the season copied: `step` updates it). */
const startWith = (initial: InitialState, [alpha, beta, gamma]: Point): SmoothingState => ({
  alpha,
  beta,
  gamma,
  level: initial.level,
  trend: initial.trend,
  season: [...initial.season],
});

/** Feeds one observation (NaN for a missing hour) and returns the forecast it was compared with. */
function step(state: SmoothingState, hour: number, value: number): number {
  const s = slot(hour);
  const seasonal = state.season[s] as number;
  const predicted = state.level + state.trend + seasonal;
  if (!Number.isFinite(value)) {
    state.level += state.trend;
    return predicted;
  }
  const level = state.alpha * (value - seasonal) + (1 - state.alpha) * (state.level + state.trend);
  state.trend = state.beta * (level - state.level) + (1 - state.beta) * state.trend;
  state.level = level;
  state.season[s] = state.gamma * (value - level) + (1 - state.gamma) * seasonal;
  return predicted;
}

/** Forecast `h` hours after the state's last hour. */
function ahead(state: SmoothingState, lastHour: number, h: number): number {
  return state.level + h * state.trend + (state.season[slot(lastHour + h * HOUR)] as number);
}

const clamp01 = (value: number) => Math.min(1, Math.max(0, value));

interface Vertex {
  point: Point;
  value: number;
}

/**
 * Nelder-Mead on `f` over the unit cube (points are clamped into it), from `start`, within
 * `budget` evaluations; returns the best vertex.
 */
function nelderMead(f: (point: Point) => number, start: Vertex, budget: number): Vertex {
  let evaluations = 0;
  const vertex = (point: Point): Vertex => {
    evaluations++;
    return { point, value: f(point) };
  };
  const simplex: Vertex[] = [start];
  for (let k = 0; k < 3; k++) {
    const point: Point = [...start.point];
    point[k] = (point[k] as number) + 0.1 <= 1 ? (point[k] as number) + 0.1 : (point[k] as number) - 0.1;
    simplex.push(vertex(point));
  }
  const combine = (a: Point, b: Point, t: number): Point => [
    clamp01(a[0] + t * (b[0] - a[0])),
    clamp01(a[1] + t * (b[1] - a[1])),
    clamp01(a[2] + t * (b[2] - a[2])),
  ];
  while (evaluations < budget) {
    simplex.sort((a, b) => a.value - b.value);
    const [best, next, second, worst] = simplex as [Vertex, Vertex, Vertex, Vertex];
    if (worst.value - best.value <= 1e-10 * (Math.abs(best.value) + 1e-12)) break;
    const centroid: Point = [
      (best.point[0] + next.point[0] + second.point[0]) / 3,
      (best.point[1] + next.point[1] + second.point[1]) / 3,
      (best.point[2] + next.point[2] + second.point[2]) / 3,
    ];
    const reflected = vertex(combine(centroid, worst.point, -1));
    if (reflected.value < best.value) {
      const expanded = vertex(combine(centroid, worst.point, -2));
      simplex[3] = expanded.value < reflected.value ? expanded : reflected;
    } else if (reflected.value < second.value) {
      simplex[3] = reflected;
    } else {
      const contracted = vertex(combine(centroid, worst.point, reflected.value < worst.value ? -0.5 : 0.5));
      if (contracted.value < Math.min(worst.value, reflected.value)) simplex[3] = contracted;
      else for (let k = 1; k < 4; k++) simplex[k] = vertex(combine(best.point, (simplex[k] as Vertex).point, 0.5));
    }
  }
  simplex.sort((a, b) => a.value - b.value);
  return simplex[0] as Vertex;
}

/** One-step-ahead squared error of fixed parameters over the values (after the first day), and the final state. */
function oneStepError(hours: readonly number[], values: readonly number[], initial: InitialState, point: Point) {
  const state = startWith(initial, point);
  const from = initialDays(values.length) * PERIOD;
  let sse = 0;
  for (let i = 0; i < values.length; i++) {
    const predicted = step(state, hours[i] as number, values[i] as number);
    if (i >= from && Number.isFinite(values[i])) sse += ((values[i] as number) - predicted) ** 2;
  }
  return { sse, state };
}

/**
 * Fits α, β, γ on one-step-ahead squared error, as statsmodels does: the best point of a coarse
 * grid, refined by Nelder-Mead, from an initial state decomposed from the history. Returns
 * the state after running the best parameters over all values.
 */
export function fitSmoothing(hours: readonly number[], values: readonly number[]): SmoothingState {
  const initial = initialState(hours, values);
  let best: Vertex | undefined;
  for (const alpha of ALPHAS) {
    for (const beta of BETAS) {
      for (const gamma of GAMMAS) {
        const point: Point = [alpha, beta, gamma];
        const value = oneStepError(hours, values, initial, point).sse;
        if (!best || value < best.value) best = { point, value };
      }
    }
  }
  const refined = nelderMead((point) => oneStepError(hours, values, initial, point).sse, best as Vertex, SEARCH_EVALUATIONS);
  return oneStepError(hours, values, initial, refined.point).state;
}

/** Multi-step forecasts of `count` hours after `lastHour`. */
export function forecastState(state: SmoothingState, lastHour: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => ahead(state, lastHour, i + 1));
}

/** The seasonal-naive forecast: the value of the same hour on the last day seen. */
export function seasonalNaive(hours: readonly number[], values: readonly number[], targets: readonly number[]): number[] {
  const byHour = new Map(hours.map((hour, i) => [hour, values[i] as number]));
  const last = hours[hours.length - 1] ?? 0;
  return targets.map((target) => byHour.get(target - Math.ceil((target - last) / (PERIOD * HOUR)) * PERIOD * HOUR) ?? Number.NaN);
}

interface Backtest {
  mae: number;
  naiveMae: number;
  state: SmoothingState;
}

/** The smoothing parameters of a state: what a forecaster model is, apart from the data it has seen. */
export type SmoothingParameters = Pick<SmoothingState, "alpha" | "beta" | "gamma">;

/** Runs fixed parameters over the values from the first day's initial state. */
function runWith(hours: readonly number[], values: readonly number[], parameters: SmoothingParameters): SmoothingState {
  const state = startWith(initialState(hours, values), [parameters.alpha, parameters.beta, parameters.gamma]);
  for (let i = 0; i < hours.length; i++) step(state, hours[i] as number, values[i] as number);
  return state;
}

/**
 * Fits on the hours before `cut` (or, with `fixed`, runs those parameters there), forecasts the
 * hours from `cut` on and compares with seasonal-naive; the returned state is then run over every
 * hour, ready to forecast past the end.
 */
export function backtest(
  hours: readonly number[],
  values: readonly number[],
  cut: number,
  fixed?: SmoothingParameters,
): Backtest | undefined {
  const split = hours.findIndex((hour) => hour >= cut);
  if (split < 2 * PERIOD || split === -1) return undefined;
  const fitHours = hours.slice(0, split);
  const fitValues = values.slice(0, split);
  const testHours = hours.slice(split);
  const testValues = values.slice(split);
  if (testValues.filter(Number.isFinite).length < PERIOD / 2 || fitValues.filter(Number.isFinite).length < PERIOD * 1.5) return undefined;
  const fitted = fixed ? runWith(fitHours, fitValues, fixed) : fitSmoothing(fitHours, fitValues);
  const predicted = forecastState(fitted, fitHours[fitHours.length - 1] as number, testHours.length);
  const naive = seasonalNaive(fitHours, fitValues, testHours);
  const state = runWith(hours, values, fitted);
  return { mae: meanAbsoluteError(testValues, predicted), naiveMae: meanAbsoluteError(testValues, naive), state };
}

/** The forecast of a stored model for one series, `hours` hours past its last hour. */
export function forecastModel(model: ForecastModel, series: string, hours: number): ForecastPoint[] {
  const states = model.series[series];
  if (!states) return [];
  const p95 = forecastState(states.p95, model.lastHour, hours);
  const errorRate = forecastState(states.errorRate, model.lastHour, hours);
  return p95.map((value, i) => ({
    hour: model.lastHour + (i + 1) * HOUR,
    p95: Math.max(0, value),
    errorRate: Math.min(1, Math.max(0, errorRate[i] as number)),
  }));
}

/** Dense hourly arrays of one series from `from` to `to`, NaN where an hour is missing. */
function dense(points: readonly SeriesPoint[], from: number, to: number) {
  const byHour = new Map(points.map((point) => [point.hour, point]));
  const hours: number[] = [];
  // The grid ends at `to`, the start of an hour in the task's timezone (not always a UTC hour).
  for (let hour = to - HOUR; hour >= from; hour -= HOUR) hours.unshift(hour);
  return {
    hours,
    p95: hours.map((hour) => byHour.get(hour)?.p95 ?? Number.NaN),
    errorRate: hours.map((hour) => byHour.get(hour)?.errorRate ?? Number.NaN),
  };
}

/** The champion's model when it is a built-in forecaster, else why it cannot be scored here. */
function championModel(artifact: ModelArtifact | undefined): ForecastModel | { unscored: string } | undefined {
  if (!artifact) return undefined;
  const value = artifact.format === "json" ? (artifact.value as { type?: unknown; series?: unknown } | null) : null;
  if (value?.type !== "upkeep.holt-winters" || typeof value.series !== "object" || value.series === null) {
    return { unscored: "the champion is not a built-in forecaster model" };
  }
  return value as ForecastModel;
}

// An error ratio to seasonal-naive; the small floor keeps an all-zero error-rate series at 1 instead of 0/0.
const ratio = (mae: number, naiveMae: number) => (mae + 1e-9) / (naiveMae + 1e-9);

/**
 * The built-in SLA forecaster: additive Holt-Winters smoothing with daily seasonality on hourly p95
 * latency and error rate, per series and for the platform. Parameters are fitted on the history
 * before the window; the window is the backtest, compared with a seasonal-naive forecast
 * (`relativeError` = its error / seasonal-naive error, lower is better, below 1 beats it).
 */
export function slaForecaster(options: SlaForecasterOptions = {}): Trainer {
  const maxSeries = options.maxSeries ?? 50;
  return {
    name: options.name ?? "sla-forecaster",
    metric: { name: "relativeError", higherIsBetter: false, best: 0 },
    train(dataset, context): TrainerResult {
      const bySeries = new Map<string, SeriesPoint[]>();
      for (const point of dataset.series) {
        const list = bySeries.get(point.series) ?? [];
        list.push(point);
        bySeries.set(point.series, list);
      }
      const volume = (name: string) => (bySeries.get(name) ?? []).reduce((sum, point) => sum + point.requests, 0);
      const names = [...bySeries.keys()]
        .filter((name) => name !== "platform")
        .sort((a, b) => volume(b) - volume(a) || a.localeCompare(b))
        .slice(0, maxSeries);
      const model: ForecastModel = { type: "upkeep.holt-winters", lastHour: dataset.window.to - HOUR, series: {} };
      const ratios: number[] = [];
      const metrics: Record<string, number> = {};
      const champion = championModel(context.champion);
      const championRatios: number[] = [];
      let holdoutRows = 0;
      for (const name of ["platform", ...names]) {
        throwIfAborted(context.signal);
        const { hours, p95, errorRate } = dense(bySeries.get(name) ?? [], dataset.historyFrom, dataset.window.to);
        const latency = backtest(hours, p95, dataset.window.from);
        const errors = backtest(hours, errorRate, dataset.window.from);
        if (!latency || !errors) {
          if (name === "platform") {
            const have = (bySeries.get("platform") ?? []).length;
            return {
              skipped: `${have} platform hours with enough tenants; the forecaster needs two days of history before the window plus the window`,
            };
          }
          continue;
        }
        model.series[name] = { p95: latency.state, errorRate: errors.state };
        ratios.push(ratio(latency.mae, latency.naiveMae), ratio(errors.mae, errors.naiveMae));
        holdoutRows += hours.filter((hour, i) => hour >= dataset.window.from && Number.isFinite(p95[i])).length;
        if (champion && "series" in champion) {
          // A series the champion did not model is forecast with its platform parameters.
          const theirs = champion.series[name] ?? champion.series.platform;
          const theirLatency = theirs && backtest(hours, p95, dataset.window.from, theirs.p95);
          const theirErrors = theirs && backtest(hours, errorRate, dataset.window.from, theirs.errorRate);
          if (theirLatency && theirErrors) {
            championRatios.push(ratio(theirLatency.mae, theirLatency.naiveMae), ratio(theirErrors.mae, theirErrors.naiveMae));
          }
        }
        if (name === "platform") {
          Object.assign(metrics, {
            p95Mae: latency.mae,
            p95NaiveMae: latency.naiveMae,
            errorRateMae: errors.mae,
            errorRateNaiveMae: errors.naiveMae,
          });
        }
      }
      const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
      metrics.relativeError = mean(ratios);
      metrics.series = Object.keys(model.series).length;
      let championScore: ChampionScore | undefined;
      if (champion && "unscored" in champion) championScore = champion;
      else if (champion) {
        championScore =
          championRatios.length === ratios.length
            ? { metrics: { relativeError: mean(championRatios) } }
            : { unscored: "the champion has no parameters for some series" };
      }
      return {
        metrics,
        artifact: { format: "json", value: model },
        holdout: { from: dataset.window.from, to: dataset.window.to, rows: holdoutRows },
        ...(championScore ? { champion: championScore } : {}),
      };
    },
  };
}
