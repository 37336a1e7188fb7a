import { meanAbsoluteError } from "./metrics.ts";
import { type ChampionScore, type ModelArtifact, type SeriesPoint, type Trainer, type TrainerResult, throwIfAborted } from "./trainer.ts";

const HOUR = 3_600_000;
const PERIOD = 24;

/** Smoothing state of one metric of one series; `season` is indexed by the UTC hour of day. */
export interface SmoothingState {
  alpha: number;
  beta: number;
  gamma: number;
  level: number;
  trend: number;
  season: number[];
}

/** The stored form of an SLA forecaster. */
export interface ForecastModel {
  type: "upkeep.holt-winters";
  /** The last hour the states have seen, epoch milliseconds. */
  lastHour: number;
  series: Record<string, { p95: SmoothingState; errorRate: SmoothingState }>;
}

/** One forecast hour. */
export interface ForecastPoint {
  /** Start of the hour, epoch milliseconds. */
  hour: number;
  p95: number;
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

const ALPHAS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7];
const BETAS = [0, 0.01, 0.05];
const GAMMAS = [0.05, 0.1, 0.2, 0.3, 0.5];

const slot = (hour: number) => ((Math.floor(hour / HOUR) % PERIOD) + PERIOD) % PERIOD;

/** Initial state from the first day: its mean as level, each hour's offset from it as season. */
function initialState(hours: readonly number[], values: readonly number[], alpha: number, beta: number, gamma: number): SmoothingState {
  const first = values.slice(0, PERIOD).filter(Number.isFinite);
  const level = first.reduce((sum, value) => sum + value, 0) / Math.max(1, first.length);
  const season = new Array<number>(PERIOD).fill(0);
  for (let i = 0; i < Math.min(PERIOD, values.length); i++) {
    const value = values[i] as number;
    if (Number.isFinite(value)) season[slot(hours[i] as number)] = value - level;
  }
  return { alpha, beta, gamma, level, trend: 0, season };
}

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

/** Fits α, β, γ by grid search on one-step-ahead squared error, then runs the state over all values. */
export function fitSmoothing(hours: readonly number[], values: readonly number[]): SmoothingState {
  let best: { sse: number; state: SmoothingState } | undefined;
  for (const alpha of ALPHAS) {
    for (const beta of BETAS) {
      for (const gamma of GAMMAS) {
        const state = initialState(hours, values, alpha, beta, gamma);
        let sse = 0;
        for (let i = 0; i < values.length; i++) {
          const predicted = step(state, hours[i] as number, values[i] as number);
          if (i >= PERIOD && Number.isFinite(values[i])) sse += ((values[i] as number) - predicted) ** 2;
        }
        if (!best || sse < best.sse) best = { sse, state };
      }
    }
  }
  return (best as { state: SmoothingState }).state;
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
  const state = initialState(hours, values, parameters.alpha, parameters.beta, parameters.gamma);
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
