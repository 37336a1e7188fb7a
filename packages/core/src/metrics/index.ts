/**
 * Prometheus metrics of every task's health and runs, through the host's prom-client.
 * @module @upkeep/core/metrics
 */
export { BUILT_IN_FIGURES, type FigureReader, type TaskFigure } from "./figures.ts";
export { type UpkeepMetrics, type UpkeepMetricsOptions, upkeepMetrics } from "./metrics.ts";
