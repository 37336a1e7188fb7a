import { describe, expect, it } from "vitest";
import { quantileFromBuckets } from "./histogram.ts";

describe("quantileFromBuckets", () => {
  it("interpolates inside the bucket the quantile falls in", () => {
    // 100 latencies spread evenly over 0..100 ms: 50 at most 50 ms, all at most 100 ms.
    expect(quantileFromBuckets([50, 100, 200], [50, 100, 100], 100, 100, 0.95)).toBeCloseTo(95, 5);
    expect(quantileFromBuckets([50, 100, 200], [50, 100, 100], 100, 100, 0.5)).toBeCloseTo(50, 5);
  });

  it("uses the maximum above the last bound and NaN for no rows", () => {
    expect(quantileFromBuckets([10], [0], 10, 50, 0.5)).toBeCloseTo(30, 5);
    expect(quantileFromBuckets([10], [0], 0, 0, 0.5)).toBeNaN();
  });
});
