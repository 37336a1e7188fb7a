import { describe, expect, it } from "vitest";
import { promotionDecision } from "./promotion.ts";

const auc = { name: "auc", higherIsBetter: true, best: 1 };
const champion = (value: number) => ({ version: 3, metrics: { auc: value } });
const rescored = (value: number) => ({ metrics: { auc: value } });
const holdout = { from: Date.UTC(2026, 0, 1, 18), to: Date.UTC(2026, 0, 2), rows: 120 };

describe("promotionDecision", () => {
  it("compares with the champion's score on the same hold-out when the trainer re-scored it, and says so", () => {
    const decision = promotionDecision(auc, { auc: 0.948 }, champion(1), rescored(0.35), 0.01, holdout);
    expect(decision).toMatchObject({ promote: true, champion: { version: 3, value: 0.35, rescored: true }, holdout });
    expect(decision.reason).toMatch(/on the same hold-out \(120 rows, 2026-01-01T18:00:00.000Z to 2026-01-02T00:00:00.000Z\)/);
  });

  it("says plainly when it compared with the stored metric, and why", () => {
    const decision = promotionDecision(
      auc,
      { auc: 0.948 },
      champion(1),
      { unscored: "the champion uses features this window does not have: x" },
      0.01,
    );
    expect(decision).toMatchObject({ promote: false, champion: { value: 1, rescored: false } });
    expect(decision.reason).toMatch(/as stored from its own window, not re-scored here: the champion uses features/);
  });

  // Regression (issue 27, item 5): 36 of 198 two-decimal pairs exactly 0.01 apart were refused.
  it("promotes every two-decimal gain of exactly the margin", () => {
    const refused: string[] = [];
    for (let low = 0; low <= 98; low++) {
      const theirs = low / 100;
      const ours = (low + 1) / 100;
      if (!promotionDecision(auc, { auc: ours }, champion(theirs), rescored(theirs), 0.01).promote) refused.push(`${ours} over ${theirs}`);
      const error = { name: "error", higherIsBetter: false, best: 0 };
      const lower = promotionDecision(error, { error: theirs }, { version: 1, metrics: { error: ours } }, undefined, 0.01);
      if (!lower.promote) refused.push(`error ${theirs} under ${ours}`);
    }
    expect(refused).toEqual([]);
    expect(promotionDecision(auc, { auc: 0.5699 }, champion(0.56), rescored(0.56), 0.01).promote).toBe(false);
  });

  it("caps an absolute margin at the champion's distance to the best value, and keeps a tie", () => {
    const perfect = promotionDecision(auc, { auc: 1 }, champion(0.995), rescored(0.995), 0.01);
    expect(perfect).toMatchObject({ promote: true, required: expect.closeTo(0.005, 12) });
    expect(perfect.reason).toMatch(/needed 0.005 \(the margin 0.01, capped at the champion's distance to 1\)/);
    expect(promotionDecision(auc, { auc: 1 }, champion(1), rescored(1), 0.01).promote).toBe(false);
    expect(promotionDecision(auc, { auc: 0.9 }, champion(0.9), rescored(0.9), 0).promote).toBe(true);
  });

  it("takes a relative margin as a share of the champion's remaining error", () => {
    const decision = promotionDecision(auc, { auc: 0.955 }, champion(0.95), rescored(0.95), { relative: 0.1 });
    expect(decision).toMatchObject({ promote: true, gain: expect.closeTo(0.005, 12), required: expect.closeTo(0.005, 12) });
    expect(decision.reason).toMatch(/needed 0.005 \(10% of the champion's remaining 0.05\)/);
    expect(promotionDecision(auc, { auc: 0.954 }, champion(0.95), rescored(0.95), { relative: 0.1 }).promote).toBe(false);
  });

  it("refuses a candidate whose metric is not a number and promotes the first model", () => {
    expect(promotionDecision(auc, { auc: Number.NaN }, undefined, undefined, 0.01)).toMatchObject({ promote: false, candidate: null });
    expect(promotionDecision(auc, { auc: 0.6 }, undefined, undefined, 0.01)).toMatchObject({
      promote: true,
      reason: "first model of this name",
    });
  });
});
