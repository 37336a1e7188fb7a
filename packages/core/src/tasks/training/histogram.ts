/** Latency bucket upper bounds in milliseconds, counted in SQL where the database has no percentile function. */
export const DEFAULT_LATENCY_BUCKETS: readonly number[] = [
  5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000, 30_000,
];

/**
 * The `q` quantile from cumulative bucket counts: `cumulative[i]` rows had a latency at most
 * `bounds[i]`; `total` rows in all, `max` the largest latency. Linear interpolation inside the
 * bucket the quantile falls in, as Prometheus' `histogram_quantile` does.
 */
export function quantileFromBuckets(
  bounds: readonly number[],
  cumulative: readonly number[],
  total: number,
  max: number,
  q: number,
): number {
  if (total <= 0) return Number.NaN;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (let i = 0; i < bounds.length; i++) {
    const count = cumulative[i] ?? 0;
    const bound = bounds[i] as number;
    if (count >= rank) {
      const inBucket = count - lowerCount;
      const upper = Math.min(bound, max);
      if (inBucket <= 0) return upper;
      return lowerBound + ((upper - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = bound;
    lowerCount = count;
  }
  const inBucket = total - lowerCount;
  if (inBucket <= 0 || max <= lowerBound) return Math.max(lowerBound, max);
  return lowerBound + ((max - lowerBound) * (rank - lowerCount)) / inBucket;
}
