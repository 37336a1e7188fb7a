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
