import type { Logger } from "../../logger.ts";

/** One hour of one series (an endpoint, or `platform` for every endpoint together), already aggregated in SQL. */
export interface SeriesPoint {
  /** Start of the hour, epoch milliseconds. */
  hour: number;
  /** The endpoint, or `platform`. */
  series: string;
  /** Requests in the hour. */
  requests: number;
  /** Share of requests answered with a status of 500 or more. */
  errorRate: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  /** The 95th percentile latency, in milliseconds. */
  p95: number;
  /** The 99th percentile latency, in milliseconds. */
  p99: number;
}

/** One client's hour, aggregated in SQL; the client is a keyed hash of its IP, never the IP. */
export interface ClientRow {
  /** Start of the hour, epoch milliseconds. */
  hour: number;
  /** HMAC-SHA-256 of the client IP with a secret that is never stored (hex, 32 characters). */
  client: string;
  /** Feature values by name, in the order of `TrainingDataset.featureNames`. */
  features: Record<string, number>;
  /** 1 when the label column marked a confirmed threat in this hour, 0 otherwise; absent with no label column. */
  label?: 0 | 1;
}

/** What a trainer gets: anonymised, aggregated data. No tenant id and no raw IP is in it. */
export interface TrainingDataset {
  /** The training window, epoch milliseconds: `from` inclusive, `to` exclusive. */
  window: {
    /** The window's start, epoch milliseconds, inclusive. */
    from: number;
    /** The window's end, epoch milliseconds, exclusive. */
    to: number;
  };
  /** Start of the forecaster's history (before the window), epoch milliseconds. */
  historyFrom: number;
  /** Hourly points over the history and the window, sorted by series then hour. */
  series: SeriesPoint[];
  /** Client-hours of the window, sorted by hour. */
  clients: ClientRow[];
  /** The names of the features in every `ClientRow`. */
  featureNames: string[];
  /** Whether the telemetry has a label column. */
  hasLabels: boolean;
}

/** What a trainer is given besides the data. */
export interface TrainerContext {
  /** Fires when the run times out or the process shuts down: stop and throw. */
  signal: AbortSignal;
  /** The seed: the same data and seed must give the same model. */
  seed: number;
  /** Share of the latest data held out for evaluation. */
  holdout: number;
  /** The run's logger, with `taskId` and `runId` bound. */
  logger: Logger;
  /**
   * The current champion's artifact, when there is one. A trainer that can should score it on the
   * same hold-out as the new model and return the scores as `champion`, so promotion compares two
   * models on one exam.
   */
  champion?: ModelArtifact;
}

/** The rows a model was judged on: the hold-out's time range (epoch ms, `to` exclusive) and size. */
export interface HoldoutInfo {
  /** The hold-out's start, epoch milliseconds, inclusive. */
  from: number;
  /** The hold-out's end, epoch milliseconds, exclusive. */
  to: number;
  /** Rows (client-hours, or series-hours for a forecaster) in the hold-out. */
  rows: number;
}

/** The champion's scores on the new model's hold-out, or why it could not be scored there. */
export type ChampionScore =
  | {
      /** The champion's metrics on the new model's hold-out, by name. */
      metrics: Record<string, number>;
    }
  | {
      /** Why the champion could not be scored on the hold-out. */
      unscored: string;
    };

/** A trained model's payload as stored in the registry. */
export type ModelArtifact =
  | {
      /** The payload is a JSON value. */
      format: "json";
      /** The model, as a JSON-serialisable value. */
      value: unknown;
    }
  | {
      /** The payload is raw bytes (such as an ONNX file). */
      format: "bytes";
      /** The model's bytes. */
      value: Uint8Array;
    };

/** A trained model with its hold-out metrics. */
export interface TrainedModel {
  /** Its hold-out metrics, by name (such as `auc`). */
  metrics: Record<string, number>;
  /** Its payload, as the registry stores it. */
  artifact: ModelArtifact;
  /** What the metrics were measured on. */
  holdout?: HoldoutInfo;
  /** The champion (`TrainerContext.champion`) scored on the same hold-out. */
  champion?: ChampionScore;
  /** Feature columns left out of the fit (no usable spread), by name. */
  droppedFeatures?: string[];
}

/** A trainer's outcome: a model with its hold-out metrics, or the reason it trained nothing. */
export type TrainerResult =
  | TrainedModel
  | {
      /** Why the trainer trained nothing (too few rows, no labels, …). */
      skipped: string;
    };

/** The metric a trainer is judged by when deciding promotion. */
export interface PromotionMetric {
  /** A key of the trainer's `metrics`, such as `auc`. */
  name: string;
  /** Whether a larger value is better (AUC) or a smaller one (an error). */
  higherIsBetter: boolean;
  /**
   * The best value the metric can take (1 for AUC, 0 for an error), when it has one. An absolute
   * margin never asks for more than the champion's distance to it, and a relative margin is a share
   * of that distance.
   * @default undefined
   */
  best?: number;
}

/**
 * Trains one model from the dataset. Built in: `slaForecaster()` and `threatClassifier()`; an external
 * program through `commandTrainer()`; or a host's own object.
 */
export interface Trainer {
  /** The model's name in the registry, such as `threat-classifier`. */
  readonly name: string;
  /** The hold-out metric a candidate must beat the champion on to be promoted. */
  readonly metric: PromotionMetric;
  /** Trains a candidate on the dataset's training part and scores it on its hold-out. */
  train(dataset: TrainingDataset, context: TrainerContext): Promise<TrainerResult> | TrainerResult;
}

/** Throws the signal's reason as an error when it has fired. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new Error(`[upkeep] training aborted (${String(signal.reason)})`);
}
