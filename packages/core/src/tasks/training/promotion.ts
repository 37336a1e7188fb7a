import type { StoredModel } from "./registry.ts";
import type { ChampionScore, HoldoutInfo, PromotionMetric } from "./trainer.ts";

/**
 * How much better a new model must be than the champion: an absolute gain in the metric (`0.01`),
 * or a share of the champion's remaining error (`{ relative: 0.1 }`: a tenth of the way from the
 * champion's value to the metric's best).
 */
export type PromotionMargin =
  | number
  | {
      /** The share (0–1] of the champion's remaining error the new model must win. */
      relative: number;
    };

/** Why a model was promoted or kept as a candidate, with the numbers that decided it. */
export interface PromotionDecision {
  /** Whether the new model becomes the champion. */
  promote: boolean;
  /** Why, in one sentence with the numbers compared. */
  reason: string;
  /** The metric compared. */
  metric: string;
  /** The new model's value; null when it is not a number. */
  candidate: number | null;
  /** The champion's value, and whether it was measured on the new model's hold-out (`rescored`) or read from the registry. */
  champion?: {
    /** The champion's version in the registry. */
    version: number;
    /** The champion's value of the metric; null when it is not a number. */
    value: number | null;
    /** Whether the value was measured on the new model's hold-out rather than read from the registry. */
    rescored: boolean;
  };
  /** How much the new model gained over the champion, in the metric's better direction. */
  gain?: number;
  /** The gain it needed. */
  required?: number;
  /** The hold-out both were scored on (for a stored comparison, the new model's). */
  holdout?: HoldoutInfo;
}

const fmt = (value: number) => Number(value.toPrecision(4));
const finiteOrNull = (value: number | undefined) => (value !== undefined && Number.isFinite(value) ? value : null);

/** The gain a candidate needs over a champion at `theirs`, and how to say it. */
function requiredGain(metric: PromotionMetric, theirs: number, margin: PromotionMargin): { required: number; text: string } {
  const remaining = metric.best === undefined ? undefined : Math.abs(metric.best - theirs);
  if (typeof margin === "number") {
    if (remaining !== undefined && remaining < margin) {
      return { required: remaining, text: `${fmt(remaining)} (the margin ${margin}, capped at the champion's distance to ${metric.best})` };
    }
    return { required: margin, text: `${margin} (the margin)` };
  }
  // The schema refuses a relative margin for a metric without `best`; an error metric's best is 0 otherwise.
  const distance = remaining ?? Math.abs(theirs);
  const required = margin.relative * distance;
  return { required, text: `${fmt(required)} (${fmt(margin.relative * 100)}% of the champion's remaining ${fmt(distance)})` };
}

/**
 * Decides promotion. The champion's value is its score on the new model's hold-out when the
 * trainer re-scored it (`score`), else its stored metric, and the reason says which. Values are
 * compared with a tolerance of 1e-9 of their size, so a gain of exactly the margin in decimal
 * (0.57 over 0.56 with 0.01) is not lost to binary rounding. With a margin other than 0, a tie
 * keeps the champion.
 */
export function promotionDecision(
  metric: PromotionMetric,
  candidate: Record<string, number>,
  champion: Pick<StoredModel, "version" | "metrics"> | undefined,
  score: ChampionScore | undefined,
  margin: PromotionMargin,
  holdout?: HoldoutInfo,
): PromotionDecision {
  const ours = candidate[metric.name];
  const base = { metric: metric.name, candidate: finiteOrNull(ours), ...(holdout ? { holdout } : {}) };
  if (ours === undefined || !Number.isFinite(ours)) return { ...base, promote: false, reason: `its ${metric.name} is not a number` };
  if (!champion) return { ...base, promote: true, reason: "first model of this name" };
  const rescored = score && "metrics" in score ? finiteOrNull(score.metrics[metric.name]) : null;
  const theirs = rescored ?? finiteOrNull(champion.metrics[metric.name]);
  const exam =
    rescored !== null
      ? `on the same hold-out${holdout ? ` (${holdout.rows} rows, ${new Date(holdout.from).toISOString()} to ${new Date(holdout.to).toISOString()})` : ""}`
      : `as stored from its own window, not re-scored here: ${score && "unscored" in score ? score.unscored : "the trainer does not score champions"}`;
  const championInfo = { version: champion.version, value: theirs, rescored: rescored !== null };
  if (theirs === null) {
    return { ...base, champion: championInfo, promote: true, reason: `the champion (v${champion.version}) has no ${metric.name}` };
  }
  const gain = metric.higherIsBetter ? ours - theirs : theirs - ours;
  const { required, text } = requiredGain(metric, theirs, margin);
  const tolerance = 1e-9 * Math.max(1, Math.abs(ours), Math.abs(theirs));
  // With a margin at all, a tie is not a gain, even where the cap asks for nothing more (a perfect champion).
  const positive = margin === 0 || gain > tolerance;
  const promote = positive && gain >= required - tolerance;
  const reason =
    `${promote ? "better" : "not better by enough"}: ${metric.name} ${fmt(ours)} against the champion's ${fmt(theirs)} ` +
    `(v${champion.version}) ${exam}; gain ${fmt(gain)}, needed ${text}`;
  return { ...base, champion: championInfo, gain, required, promote, reason };
}
