import * as z from "zod";
import { type Duration, parseDuration } from "../../duration.ts";
import { DEFAULT_LATENCY_BUCKETS } from "./histogram.ts";
import type { PromotionMargin } from "./promotion.ts";
import type { Trainer } from "./trainer.ts";

/** Where the host's telemetry lives: one row per request. */
export interface TelemetrySource {
  /**
   * The telemetry table.
   * @default "telemetry"
   */
  table?: string;
  /** Column names; each defaults to its key in snake_case. */
  columns?: {
    /** Request time as an epoch number (see `timeUnit`). @default "timestamp" */
    timestamp?: string;
    /** The tenant; only counted in SQL, never read out. @default "tenant_id" */
    tenant?: string;
    /** The endpoint (route), the forecaster's series. @default "endpoint" */
    endpoint?: string;
    /** Latency in milliseconds. @default "latency_ms" */
    latency?: string;
    /** HTTP status code. @default "status" */
    status?: string;
    /** Client IP; keyed-hashed before it reaches a trainer. @default "client_ip" */
    clientIp?: string;
    /** Confirmed threat (boolean or 0/1); without it the classifier has nothing to learn from. @default undefined */
    label?: string;
  };
  /**
   * Unit of the timestamp column: epoch milliseconds or epoch seconds.
   * @default "ms"
   */
  timeUnit?: "ms" | "s";
}

/** The options of `trainingTask`. */
export interface TrainingOptions {
  /** The task id. @default "training" */
  id?: string;
  /** @default "0 1 * * *" */
  schedule?: string;
  /** The IANA time zone of the schedule. @default the configuration's timezone */
  timezone?: string;
  /** The host's telemetry table and its columns. @default {} */
  telemetry?: TelemetrySource;
  /**
   * How far back the window reaches from the run's `now()`: the classifier's data and the forecaster's backtest.
   * @default "24h"
   */
  window?: Duration;
  /**
   * How far before the window the forecaster's hourly history reaches (aggregated in SQL like the window).
   * @default "7d"
   */
  history?: Duration;
  /**
   * A bucket (series and hour) fed by fewer than this many distinct tenants is dropped.
   * @default 3
   */
  minTenants?: number;
  /**
   * Key of the HMAC that pseudonymises client IPs; never stored with a model. Set it (16+ characters)
   * for client keys that are stable across runs.
   * @default a random key per run
   */
  ipHashSecret?: string;
  /**
   * Answers "is this IP listed?" (an IoC matcher's lookup); adds the `ioc` feature.
   * @default undefined
   */
  isListed?: (ip: string) => boolean;
  /**
   * Host features per client-hour as SQL aggregate expressions over the telemetry table, such as
   * `{ bytesOut: "sum(bytes_out)" }`. They are trusted configuration, not user input.
   * @default {}
   */
  extraFeatures?: Record<string, string>;
  /**
   * Latency bucket upper bounds (ms, ascending) for percentiles where the database has no percentile function.
   * @default [5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000]
   */
  latencyBuckets?: number[];
  /**
   * The trainers; each stores its models under its own name.
   * @default [slaForecaster(), threatClassifier()]
   */
  trainers?: Trainer[];
  /**
   * Seed of every random choice: the same data and seed give the same models.
   * @default 42
   */
  seed?: number;
  /**
   * Share of the latest hours held out for evaluation.
   * @default 0.25
   */
  holdout?: number;
  /**
   * How much better a new model must be than the champion, both scored on the same hold-out: an
   * absolute gain in the trainer's metric (never more than the champion's distance to the metric's
   * best value), or `{ relative: r }`, a share r of that distance (the champion's remaining error).
   * @default 0.01
   */
  promotionMargin?: PromotionMargin;
  /**
   * Prefix of upkeep's tables, when the model registry lives apart from the run history.
   * @default the configuration's `tablePrefix`
   */
  tablePrefix?: string;
}

/** The features every client-hour has; host extras may not reuse these names. */
export const BASE_FEATURES: readonly string[] = ["requests", "errorShare", "endpoints", "ioc"];

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/, "expected a table or column name");
const duration = z
  .union([z.number(), z.string()])
  .refine((value) => (parseDuration(value) ?? 0) >= 3_600_000, { message: "expected a duration of at least one hour, such as '24h'" });
const trainerSchema = z.custom<Trainer>(
  (value) =>
    typeof value === "object" &&
    value !== null &&
    typeof (value as Trainer).name === "string" &&
    /^[a-z0-9][a-z0-9._-]{0,99}$/.test((value as Trainer).name) &&
    typeof (value as Trainer).train === "function" &&
    typeof (value as Trainer).metric?.name === "string",
  "expected a Trainer with a lower-case name, a metric and train()",
);

/** The training task's input schema: `trainingTask(options)` options, minus schedule overrides. */
export const trainingInputSchema = z
  .object({
    /** The host's telemetry table and its columns. @default {} */
    telemetry: z
      .object({
        /**
         * The telemetry table.
         * @default "telemetry"
         */
        table: identifier.default("telemetry"),
        /** Column names; each defaults to its key in snake_case. */
        columns: z
          .object({
            /** Request time as an epoch number (see `timeUnit`). @default "timestamp" */
            timestamp: identifier.default("timestamp"),
            /** The tenant; only counted in SQL, never read out. @default "tenant_id" */
            tenant: identifier.default("tenant_id"),
            /** The endpoint (route), the forecaster's series. @default "endpoint" */
            endpoint: identifier.default("endpoint"),
            /** Latency in milliseconds. @default "latency_ms" */
            latency: identifier.default("latency_ms"),
            /** HTTP status code. @default "status" */
            status: identifier.default("status"),
            /** Client IP; keyed-hashed before it reaches a trainer. @default "client_ip" */
            clientIp: identifier.default("client_ip"),
            /** Confirmed threat (boolean or 0/1); without it the classifier has nothing to learn from. @default undefined */
            label: identifier.optional(),
          })
          .strict()
          .prefault({}),
        /**
         * Unit of the timestamp column: epoch milliseconds or epoch seconds.
         * @default "ms"
         */
        timeUnit: z.enum(["ms", "s"]).default("ms"),
      })
      .strict()
      .prefault({}),
    /**
     * How far back the window reaches from the run's `now()`: the classifier's data and the forecaster's backtest.
     * @default "24h"
     */
    window: duration.default("24h"),
    /**
     * How far before the window the forecaster's hourly history reaches (aggregated in SQL like the window).
     * @default "7d"
     */
    history: duration.default("7d"),
    /**
     * A bucket (series and hour) fed by fewer than this many distinct tenants is dropped.
     * @default 3
     */
    minTenants: z.number().int().min(1).default(3),
    /**
     * Key of the HMAC that pseudonymises client IPs; never stored with a model. Set it (16+ characters)
     * for client keys that are stable across runs.
     * @default a random key per run
     */
    ipHashSecret: z.string().min(16, "expected at least 16 characters").optional(),
    /** Answers "is this IP listed?" (an IoC matcher's lookup); adds the `ioc` feature. */
    isListed: z.custom<(ip: string) => boolean>((value) => typeof value === "function", "expected a function").optional(),
    /**
     * Host features per client-hour as SQL aggregate expressions over the telemetry table, such as
     * `{ bytesOut: "sum(bytes_out)" }`. They are trusted configuration, not user input.
     * @default {}
     */
    extraFeatures: z
      .record(
        z
          .string()
          .regex(/^[A-Za-z][A-Za-z0-9_]{0,62}$/, "expected a feature name of letters, digits and '_'")
          .refine((name) => !BASE_FEATURES.includes(name), "this name is a built-in feature"),
        z.string().min(1),
      )
      .default({}),
    /**
     * Latency bucket upper bounds (ms, ascending) for percentiles where the database has no percentile function.
     * @default [5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000]
     */
    latencyBuckets: z
      .array(z.number().positive())
      .min(1)
      .refine((bounds) => bounds.every((bound, i) => i === 0 || bound > (bounds[i - 1] as number)), "expected ascending bounds")
      .default([...DEFAULT_LATENCY_BUCKETS]),
    /**
     * The trainers; each stores its models under its own name.
     * @default [slaForecaster(), threatClassifier()]
     */
    trainers: z.array(trainerSchema).min(1).optional(),
    /**
     * Seed of every random choice: the same data and seed give the same models.
     * @default 42
     */
    seed: z.number().int().default(42),
    /**
     * Share of the latest hours held out for evaluation.
     * @default 0.25
     */
    holdout: z.number().gt(0).max(0.5).default(0.25),
    /**
     * How much better a new model must be than the champion, both scored on the same hold-out: an
     * absolute gain in the trainer's metric (never more than the champion's distance to the metric's
     * best value), or `{ relative: r }`, a share r of that distance (the champion's remaining error).
     * @default 0.01
     */
    promotionMargin: z
      .union([
        z.number().min(0),
        z
          .object({
            /** A share (0–1] of the distance between the champion's score and the metric's best value. */
            relative: z.number().gt(0).max(1),
          })
          .strict(),
      ])
      .default(0.01),
    /**
     * Prefix of upkeep's tables, when the model registry lives apart from the run history.
     * @default the configuration's `tablePrefix`
     */
    tablePrefix: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,30}$/i, "expected letters, digits and '_', starting with a letter")
      .optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (typeof input.promotionMargin === "number") return;
    for (const [index, trainer] of (input.trainers ?? []).entries()) {
      if (typeof trainer.metric.best !== "number") {
        ctx.addIssue({
          code: "custom",
          path: ["trainers", index, "metric", "best"],
          message: "a relative promotionMargin needs the metric's best value",
        });
      }
    }
  });

export type TrainingInput = z.output<typeof trainingInputSchema>;
