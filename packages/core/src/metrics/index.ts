export { BUILT_IN_FIGURES, type FigureReader, type TaskFigure } from "./figures.ts";
export { type UpkeepMetrics, type UpkeepMetricsOptions, upkeepMetrics } from "./metrics.ts";
