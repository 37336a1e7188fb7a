/** Area under the ROC curve by the rank-sum (Mann–Whitney) statistic; ties count half. NaN without both classes. */
export function auc(scores: readonly number[], labels: readonly number[]): number {
  const order = scores.map((score, index) => ({ score, label: labels[index] ?? 0 })).sort((a, b) => a.score - b.score);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j < order.length && (order[j] as { score: number }).score === (order[i] as { score: number }).score) j++;
    const averageRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) {
      if ((order[k] as { label: number }).label > 0) {
        positives++;
        rankSum += averageRank;
      }
    }
    i = j;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Precision and recall of `score >= threshold` as the positive call. */
export function precisionRecall(
  scores: readonly number[],
  labels: readonly number[],
  threshold: number,
): { precision: number; recall: number } {
  let truePositive = 0;
  let falsePositive = 0;
  let falseNegative = 0;
  scores.forEach((score, index) => {
    const actual = (labels[index] ?? 0) > 0;
    const called = score >= threshold;
    if (called && actual) truePositive++;
    else if (called) falsePositive++;
    else if (actual) falseNegative++;
  });
  return {
    precision: truePositive + falsePositive === 0 ? 0 : truePositive / (truePositive + falsePositive),
    recall: truePositive + falseNegative === 0 ? 0 : truePositive / (truePositive + falseNegative),
  };
}

/** Mean absolute error over the pairs where both values are numbers. */
export function meanAbsoluteError(actual: readonly number[], predicted: readonly number[]): number {
  let sum = 0;
  let count = 0;
  actual.forEach((value, index) => {
    const guess = predicted[index];
    if (guess === undefined || !Number.isFinite(value) || !Number.isFinite(guess)) return;
    sum += Math.abs(value - guess);
    count++;
  });
  return count === 0 ? Number.NaN : sum / count;
}

/** How the classifier's decision threshold is chosen on the training split. */
export type ThresholdRule =
  | "f1"
  | {
      /** The precision (0–1) the threshold must reach at least; the one with the most recall among those wins. */
      precision: number;
    }
  | {
      /** The recall (0–1) the threshold must reach at least; the one with the most precision among those wins. */
      recall: number;
    };

/**
 * The score threshold (`score >= threshold` calls a threat) that best meets `rule` on these scores:
 * the one with the highest F1; the lowest with precision at least the target (most recall), or,
 * when none reaches it, the one with the highest precision; the highest with recall at least the
 * target (most precision). Candidates are the distinct scores. 0.5 without both classes.
 */
export function chooseThreshold(scores: readonly number[], labels: readonly number[], rule: ThresholdRule): number {
  const order = scores.map((score, index) => ({ score, label: (labels[index] ?? 0) > 0 })).sort((a, b) => b.score - a.score);
  const positives = order.filter((entry) => entry.label).length;
  if (positives === 0 || positives === order.length) return 0.5;
  let truePositive = 0;
  let called = 0;
  let best: { threshold: number; value: number } | undefined;
  for (let i = 0; i < order.length; ) {
    const threshold = (order[i] as { score: number }).score;
    while (i < order.length && (order[i] as { score: number }).score === threshold) {
      if ((order[i] as { label: boolean }).label) truePositive++;
      called++;
      i++;
    }
    const precision = truePositive / called;
    const recall = truePositive / positives;
    if (rule === "f1") {
      const f1 = (2 * truePositive) / (called + positives);
      if (!best || f1 > best.value) best = { threshold, value: f1 };
    } else if ("precision" in rule) {
      // Meeting the target outranks any precision; among those that meet it, more recall wins.
      const value = precision >= rule.precision ? 1 + recall : precision;
      if (!best || value > best.value) best = { threshold, value };
    } else if (recall >= rule.recall) {
      return threshold;
    }
  }
  return best?.threshold ?? 0.5;
}
