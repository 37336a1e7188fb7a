import { randomBytes } from "node:crypto";
import { parseDuration } from "../../duration.ts";
import { errorMessage, TaskError } from "../../errors.ts";
import { defineTask, type TaskDefinition } from "../../task.ts";
import { type AggregationStats, aggregateTelemetry } from "./aggregate.ts";
import { threatClassifier } from "./classifier.ts";
import { slaForecaster } from "./forecaster.ts";
import { type TrainingInput, type TrainingOptions, trainingInputSchema } from "./options.ts";
import { findChampion, type StoredModel, saveModel } from "./registry.ts";
import { type PromotionMetric, type Trainer, throwIfAborted } from "./trainer.ts";

const HOUR = 3_600_000;

/** One trainer's outcome in a run's result. */
export interface TrainedModelSummary {
  name: string;
  /** The stored version; absent in a dry run. */
  version?: number;
  /** Whether it became (or, in a dry run, would become) the champion. */
  promoted: boolean;
  /** Why it was promoted or kept as a candidate. */
  reason: string;
  metrics: Record<string, number>;
}

/** What a training run stores as its result: counts, versions and metrics, never an identity. */
export interface TrainingResult {
  /** The window, ISO times. */
  window: { from: string; to: string };
  rows: AggregationStats;
  models: TrainedModelSummary[];
  /** Trainers that trained nothing, with the reason. */
  skipped: Array<{ name: string; reason: string }>;
  dryRun: boolean;
}

const finite = (metrics: Record<string, number>) =>
  Object.fromEntries(Object.entries(metrics).filter(([, value]) => typeof value === "number" && Number.isFinite(value)));
const fmt = (value: number) => Number(value.toPrecision(4));

/** Whether a candidate beats the champion by the margin on the trainer's metric, and why. */
export function promotionDecision(
  metric: PromotionMetric,
  candidate: Record<string, number>,
  champion: StoredModel | undefined,
  margin: number,
): { promote: boolean; reason: string } {
  const ours = candidate[metric.name];
  if (ours === undefined || !Number.isFinite(ours)) return { promote: false, reason: `its ${metric.name} is not a number` };
  if (!champion) return { promote: true, reason: "first model of this name" };
  const theirs = champion.metrics[metric.name];
  if (theirs === undefined || !Number.isFinite(theirs)) return { promote: true, reason: `the champion has no ${metric.name}` };
  const gain = metric.higherIsBetter ? ours - theirs : theirs - ours;
  const versus = `${metric.name} ${fmt(ours)} against the champion's ${fmt(theirs)} (v${champion.version})`;
  return gain >= margin
    ? { promote: true, reason: `better: ${versus}` }
    : { promote: false, reason: `not better by the margin ${margin}: ${versus}` };
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
      const to = Math.floor(ctx.now().getTime() / HOUR) * HOUR;
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
        const outcome = await trainer.train(dataset, { signal: ctx.signal, seed: input.seed, holdout: input.holdout, logger: ctx.logger });
        ctx.progress({ done: index + 1, total: trainers.length, unit: "models", label: trainer.name });
        if ("skipped" in outcome) {
          result.skipped.push({ name: trainer.name, reason: outcome.skipped });
          ctx.logger.info({ model: trainer.name, reason: outcome.skipped }, "[upkeep] trainer skipped");
          continue;
        }
        throwIfAborted(ctx.signal);
        const metrics = finite(outcome.metrics);
        const champion = await findChampion(db, prefix, trainer.name);
        const decision = promotionDecision(trainer.metric, metrics, champion, input.promotionMargin);
        const summary: TrainedModelSummary = { name: trainer.name, promoted: decision.promote, reason: decision.reason, metrics };
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
              artifact: outcome.artifact,
            },
            decision.promote,
          );
          summary.version = stored.version;
          if (decision.promote) ctx.emit({ type: "model.promoted", data: { name: trainer.name, version: stored.version, metrics } });
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
