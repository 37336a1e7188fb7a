#!/usr/bin/env python3
"""A pure-Python trainer for upkeep's commandTrainer.

Reads the dataset as JSON lines on stdin (a "meta" line, then one "client" line per client-hour),
fits a small logistic regression with plain gradient descent, holds out the latest hours, and
prints its result as the last stdout line: {"metrics": {...}, "artifact": "model.json"}.
No third-party packages: swap the fit for PyTorch or scikit-learn when you need more.
"""
import json
import math
import os
import random
import sys


def auc(scores, labels):
    pairs = sorted(zip(scores, labels))
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        average_rank = (i + 1 + j) / 2
        rank_sum += average_rank * sum(label for _, label in pairs[i:j])
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def score_rows(model, rows, sigmoid):
    """Scores client rows with a stored model of this script's format."""
    squash = lambda x: math.copysign(math.log1p(abs(x)), x)
    out = []
    for row in rows:
        z = model["bias"]
        for name, mean, std, weight in zip(model["features"], model["mean"], model["std"], model["weights"]):
            z += weight * (squash(row["features"].get(name, 0.0)) - mean) / std
        out.append(sigmoid(z))
    return out


def main():
    meta, rows = None, []
    for line in sys.stdin:
        message = json.loads(line)
        if message["type"] == "meta":
            meta = message
        elif message["type"] == "client" and "label" in message:
            rows.append(message)
    if meta is None or len(rows) < 50:
        print(json.dumps({"skipped": "fewer than 50 labelled client-hours"}))
        return

    names = meta["featureNames"]
    squash = lambda x: math.copysign(math.log1p(abs(x)), x)
    vectors = [[squash(row["features"].get(name, 0.0)) for name in names] for row in rows]
    means = [sum(v[j] for v in vectors) / len(vectors) for j in range(len(names))]
    stds = [math.sqrt(sum((v[j] - means[j]) ** 2 for v in vectors) / len(vectors)) or 1.0 for j in range(len(names))]
    x = [[(v[j] - means[j]) / stds[j] for j in range(len(names))] for v in vectors]
    y = [row["label"] for row in rows]

    hours = sorted({row["hour"] for row in rows})
    cut = hours[max(1, int(len(hours) * (1 - meta["holdout"])))] if len(hours) > 1 else hours[0]
    train = [i for i, row in enumerate(rows) if row["hour"] < cut]
    test = [i for i, row in enumerate(rows) if row["hour"] >= cut]

    if len({y[i] for i in train}) < 2 or len({y[i] for i in test}) < 2:
        print(json.dumps({"skipped": "both classes are needed on each side of the hold-out"}))
        return

    rng = random.Random(meta["seed"])
    weights = [rng.uniform(-0.01, 0.01) for _ in names]
    bias = 0.0
    positives = max(1, sum(y[i] for i in train))
    weight_of = lambda label: len(train) / (2 * positives) if label else len(train) / (2 * max(1, len(train) - positives))
    sigmoid = lambda z: 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))
    for _ in range(200):
        grad, grad_bias = [0.0] * len(names), 0.0
        for i in train:
            error = (sigmoid(bias + sum(w * v for w, v in zip(weights, x[i]))) - y[i]) * weight_of(y[i])
            grad = [g + error * v for g, v in zip(grad, x[i])]
            grad_bias += error
        weights = [w - 0.5 * (g / len(train) + 0.001 * w) for w, g in zip(weights, grad)]
        bias -= 0.5 * grad_bias / len(train)

    model = {"features": names, "mean": means, "std": stds, "weights": weights, "bias": bias}
    labels = [y[i] for i in test]
    path = os.path.join(meta["artifactDir"], "model.json")
    with open(path, "w") as handle:
        json.dump(model, handle)
    metrics = {"auc": auc(score_rows(model, [rows[i] for i in test], sigmoid), labels), "trainRows": len(train), "holdoutRows": len(test)}
    result = {
        "metrics": metrics,
        "artifact": "model.json",
        "holdout": {"from": cut, "to": hours[-1] + 3_600_000, "rows": len(test)},
    }
    # Promotion is fair only when the champion sits the same exam: score it on this hold-out.
    if meta.get("champion"):
        with open(os.path.join(meta["artifactDir"], meta["champion"])) as handle:
            champion = json.load(handle)
        if set(champion.get("features", [])) <= set(names):
            result["championMetrics"] = {"auc": auc(score_rows(champion, [rows[i] for i in test], sigmoid), labels)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
