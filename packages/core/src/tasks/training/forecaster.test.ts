import { describe, expect, it } from "vitest";
import { silentLogger } from "../../logger.ts";
import { seededRandom } from "../../random.ts";
import { backtest, type ForecastModel, forecastModel, slaForecaster } from "./forecaster.ts";
import type { SeriesPoint, TrainingDataset } from "./trainer.ts";

const HOUR = 3_600_000;
const START = Date.UTC(2026, 0, 1);

/** A daily-seasonal series with noise: 80 ms at night, 200 ms at the afternoon peak. */
function noisySeasonal(days: number, seed: number, noise = 15): { hours: number[]; values: number[] } {
  const random = seededRandom(seed);
  const hours = Array.from({ length: days * 24 }, (_, i) => START + i * HOUR);
  const values = hours.map((hour) => {
    const hourOfDay = new Date(hour).getUTCHours();
    const gaussian = Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
    return 140 + 60 * Math.sin(((hourOfDay - 9) / 24) * 2 * Math.PI) + noise * gaussian;
  });
  return { hours, values };
}

/** The platform series of a noisy seasonal p95 over `days` days; the other figures held at `flat`. */
function platformSeries(
  days: number,
  seed: number,
  flat: { requests: number; errorRate: number; p50: number; p99: number },
): SeriesPoint[] {
  const { hours, values } = noisySeasonal(days, seed);
  return hours.map((hour, i) => ({ hour, series: "platform", ...flat, p95: values[i] as number }));
}

function dataset(points: SeriesPoint[], days: number): TrainingDataset {
  return {
    window: { from: START + (days - 1) * 24 * HOUR, to: START + days * 24 * HOUR },
    historyFrom: START,
    series: points,
    clients: [],
    featureNames: [],
    hasLabels: false,
  };
}

const context = { signal: new AbortController().signal, seed: 1, holdout: 0.25, logger: silentLogger };

describe("SLA forecaster", () => {
  it("beats seasonal-naive on a noisy seasonal series", () => {
    for (const seed of [1, 2, 3]) {
      const { hours, values } = noisySeasonal(7, seed);
      const result = backtest(hours, values, START + 6 * 24 * HOUR);
      expect(result).toBeDefined();
      expect(result?.mae).toBeLessThan((result?.naiveMae ?? 0) * 0.9);
    }
  });

  it("cannot backtest without two days of history before the window", () => {
    const { hours, values } = noisySeasonal(2, 1);
    expect(backtest(hours, values, START + 24 * HOUR)).toBeUndefined();
  });

  it("trains a platform model whose relative error is below 1 and forecasts the seasonal shape", async () => {
    const points = platformSeries(7, 4, { requests: 100, errorRate: 0.01, p50: 50, p99: 300 });
    const result = await slaForecaster().train(dataset(points, 7), context);
    if (!("metrics" in result)) throw new Error(`skipped: ${result.skipped}`);
    expect(result.metrics.relativeError).toBeLessThan(1);
    const model = (result.artifact as { value: ForecastModel }).value;
    const next = forecastModel(model, "platform", 24);
    expect(next).toHaveLength(24);
    const peak = next.find((point) => new Date(point.hour).getUTCHours() === 15);
    const trough = next.find((point) => new Date(point.hour).getUTCHours() === 3);
    expect((peak?.p95 ?? 0) - (trough?.p95 ?? 0)).toBeGreaterThan(80);
    expect(next.every((point) => point.errorRate >= 0 && point.errorRate <= 1)).toBe(true);
  });

  it("gives the same model for the same data", async () => {
    const points = platformSeries(5, 9, { requests: 10, errorRate: 0, p50: 1, p99: 1 });
    const a = await slaForecaster().train(dataset(points, 5), context);
    const b = await slaForecaster().train(dataset(points, 5), context);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });

  it("skips with a reason when the platform series is too short", async () => {
    const points = platformSeries(1, 1, { requests: 10, errorRate: 0, p50: 1, p99: 1 });
    const result = await slaForecaster().train(dataset(points, 1), context);
    expect(result).toEqual({ skipped: expect.stringMatching(/two days of history/) });
  });
});
