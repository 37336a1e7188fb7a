import { randomBytes } from "node:crypto";
import type { Knex } from "knex";
import { parseDuration } from "../../duration.ts";
import { errorMessage, TaskError } from "../../errors.ts";
import { defineTask, type TaskDefinition } from "../../task.ts";
import { type AggregationStats, aggregateTelemetry } from "./aggregate.ts";
import { threatClassifier } from "./classifier.ts";
import { slaForecaster } from "./forecaster.ts";
import { type TrainingInput, type TrainingOptions, trainingInputSchema } from "./options.ts";
import { type PromotionDecision, promotionDecision } from "./promotion.ts";
import { findChampion, readArtifact, saveModel } from "./registry.ts";
import { type Trainer, throwIfAborted } from "./trainer.ts";

/** One trainer's outcome in a run's result. */
export interface TrainedModelSummary {
  /** The model's name in the registry. */
  name: string;
  /** The stored version; absent in a dry run. */
  version?: number;
  /** Whether it became (or, in a dry run, would become) the champion. */
  promoted: boolean;
  /** Why it was promoted or kept as a candidate. */
  reason: string;
  /** The numbers behind `reason`: both scores on the same hold-out (or what was compared instead), gain and hold-out. */
  decision: PromotionDecision;
  /** Its hold-out metrics, by name; values that are not finite numbers are left out. */
  metrics: Record<string, number>;
  /** Feature columns the trainer left out of the fit for having no usable spread. */
  droppedFeatures?: string[];
}

/** What a training run stores as its result: counts, versions and metrics, never an identity. */
export interface TrainingResult {
  /** The window, ISO times. */
  window: {
    /** The window's start, inclusive (ISO 8601). */
    from: string;
    /** The window's end, exclusive (ISO 8601). */
    to: string;
  };
  /** How many rows the aggregation read and produced. */
  rows: AggregationStats;
  /** One summary per trainer that trained a model. */
  models: TrainedModelSummary[];
  /** Trainers that trained nothing, with the reason. */
  skipped: Array<{
    /** The trainer's model name. */
    name: string;
    /** Why it trained nothing. */
    reason: string;
  }>;
  /** Whether this was a dry run, which stored no model. */
  dryRun: boolean;
}

const finite = (metrics: Record<string, number>) =>
  Object.fromEntries(Object.entries(metrics).filter(([, value]) => typeof value === "number" && Number.isFinite(value)));

/**
 * The start of the hour `now` falls in, in `timezone`: a 01:01 run in Asia/Kolkata gets 01:00 IST
 * (19:30 UTC), not 19:00 UTC. Minutes and seconds are read in the zone, so any offset works.
 */
export function startOfHour(now: Date, timezone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: timezone, minute: "numeric", second: "numeric" }).formatToParts(now);
  const part = (type: string) => Number(parts.find((entry) => entry.type === type)?.value ?? 0);
  return now.getTime() - (part("minute") * 60 + part("second")) * 1000 - now.getUTCMilliseconds();
}

/** The champion's registry row and artifact; an artifact that cannot be read leaves it unscored, with the reason. */
async function championOf(db: Knex, prefix: string, name: string) {
  const info = await findChampion(db, prefix, name);
  if (!info) return {};
  try {
    return { info, artifact: await readArtifact(db, prefix, info.id) };
  } catch (error) {
    return { info, unreadable: `its artifact cannot be read (${errorMessage(error)})` };
  }
}

/**
 * The `training` task: aggregates the window of the host's telemetry in SQL (tenant ids only
 * counted, client IPs keyed-hashed, buckets with fewer than `minTenants` tenants dropped), trains
 * each trainer (by default the SLA forecaster and the threat classifier), stores every model in
 * `<prefix>models` and promotes one only when it beats the champion by `promotionMargin`. With too
 * little data the run is skipped and the champions stay.
 */
export function trainingTask(options: TrainingOptions = {}): TaskDefinition<TrainingInput, TrainingResult> {
  const { id, schedule, timezone, ...input } = options;
  return defineTask<TrainingInput, TrainingResult>({
    needsDb: true,
    id: id ?? "training",
    description: "Retrains the SLA forecaster and the threat classifier on anonymised telemetry; promotes only better models",
    schedule: schedule ?? "0 1 * * *",
    timezone,
    input: trainingInputSchema as unknown as TaskDefinition<TrainingInput>["input"],
    defaultInput: input,
    run: async (ctx, input) => {
      const db = ctx.db;
      if (!db) throw new TaskError("the training task needs the host's database (config.db)");
      const prefix = input.tablePrefix ?? ctx.tablePrefix;
      const to = startOfHour(ctx.now(), ctx.timezone);
      const from = to - (parseDuration(input.window) as number);
      const historyFrom = from - (parseDuration(input.history) as number);
      const secret = input.ipHashSecret ?? randomBytes(32);
      let aggregated: Awaited<ReturnType<typeof aggregateTelemetry>>;
      try {
        aggregated = await aggregateTelemetry(db, input, { historyFrom, from, to }, secret, ctx.signal);
      } catch (error) {
        if (ctx.signal.aborted) throw error;
        // knex prefixes the driver's message with the whole statement; keep the driver's part only.
        const driver = errorMessage(error).split(" - ").pop();
        throw new TaskError(`telemetry aggregation failed (check the table and column mapping): ${driver}`, {
          cause: error,
          reason: "AGGREGATION_FAILED",
        });
      }
      const { dataset, stats } = aggregated;
      ctx.logger.info({ ...stats }, "[upkeep] telemetry aggregated");
      if (stats.buckets === 0 && stats.clientHours === 0) ctx.skip("too little data: no telemetry in the window with enough tenants");

      const trainers: Trainer[] = input.trainers ?? [slaForecaster(), threatClassifier()];
      const result: TrainingResult = {
        window: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
        rows: stats,
        models: [],
        skipped: [],
        dryRun: ctx.dryRun,
      };
      for (const [index, trainer] of trainers.entries()) {
        throwIfAborted(ctx.signal);
        const champion = await championOf(db, prefix, trainer.name);
        const outcome = await trainer.train(dataset, {
          signal: ctx.signal,
          seed: input.seed,
          holdout: input.holdout,
          logger: ctx.logger,
          ...(champion.artifact ? { champion: champion.artifact } : {}),
        });
        ctx.progress({ done: index + 1, total: trainers.length, unit: "models", label: trainer.name });
        if ("skipped" in outcome) {
          result.skipped.push({ name: trainer.name, reason: outcome.skipped });
          ctx.logger.info({ model: trainer.name, reason: outcome.skipped }, "[upkeep] trainer skipped");
          continue;
        }
        throwIfAborted(ctx.signal);
        const metrics = finite(outcome.metrics);
        const score = champion.unreadable ? { unscored: champion.unreadable } : outcome.champion;
        const decision = promotionDecision(trainer.metric, metrics, champion.info, score, input.promotionMargin, outcome.holdout);
        const summary: TrainedModelSummary = {
          name: trainer.name,
          promoted: decision.promote,
          reason: decision.reason,
          decision,
          metrics,
          ...(outcome.droppedFeatures?.length ? { droppedFeatures: outcome.droppedFeatures } : {}),
        };
        if (!ctx.dryRun) {
          const stored = await saveModel(
            db,
            prefix,
            {
              name: trainer.name,
              metrics,
              window: { from, to },
              runId: ctx.runId,
              createdAt: ctx.now().getTime(),
              reason: decision.reason,
              decision,
              artifact: outcome.artifact,
            },
            decision.promote,
            {
              // The event commits with the promotion: it exists exactly when the model became champion.
              within: async (trx, model) => {
                if (decision.promote)
                  await ctx.emit({ type: "model.promoted", data: { name: trainer.name, version: model.version, metrics } }, { trx });
              },
            },
          );
          summary.version = stored.version;
        }
        ctx.logger.info(
          { model: trainer.name, version: summary.version, promoted: decision.promote, reason: decision.reason },
          "[upkeep] model trained",
        );
        result.models.push(summary);
      }
      if (result.models.length === 0) {
        ctx.skip(`too little data: ${result.skipped.map((entry) => `${entry.name}: ${entry.reason}`).join("; ")}`);
      }
      return result;
    },
  });
}
