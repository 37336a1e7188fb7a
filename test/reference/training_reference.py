#!/usr/bin/env python3
"""Reference figures for the training task's arithmetic, from statsmodels, scikit-learn and numpy.

Writes the data sets as CSV files next to this script (deterministic: numpy's PCG64 with fixed
seeds) and the reference figures to training-reference.json. The test suite
(test/tasks/training-reference.test.ts) reads both and compares its own figures with them, so CI
needs no Python. Run again after changing a data set:

    python3 test/reference/training_reference.py && pnpm exec biome format --write test/reference/training-reference.json

Needs numpy, statsmodels and scikit-learn (Debian: python3-statsmodels python3-sklearn).
"""
import csv
import json
import os

import numpy as np
import sklearn
import statsmodels
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, precision_recall_curve, precision_score, recall_score, roc_auc_score
from sklearn.preprocessing import StandardScaler
from statsmodels.tsa.holtwinters import ExponentialSmoothing

HERE = os.path.dirname(os.path.abspath(__file__))
PERIOD = 24
HISTORY = 7 * PERIOD  # hours before the window (the task's default history)
WINDOW = PERIOD  # the window: the backtest's 24 forecast hours


def forecast_shapes():
    """Hourly p95 latency: a daily cycle with noise, five kinds of movement over eight days, three noise draws of each."""
    rng = np.random.default_rng(27)
    t = np.arange(HISTORY + WINDOW, dtype=float)
    daily = 140 + 60 * np.sin((t % PERIOD - 9) / PERIOD * 2 * np.pi)
    start = HISTORY - 2 * PERIOD  # two days before the window
    shapes = {
        "no_trend": daily,
        "slow_trend": daily + 0.3 * t,
        "fast_trend": daily + 3.0 * t,
        "late_trend": daily + 2.0 * np.maximum(0, t - start),
        "level_shift": daily + np.where(t >= HISTORY - 3 * PERIOD, 80.0, 0.0),
    }
    return {
        f"{name}_{draw}": np.round(values + rng.normal(0, 3.5, t.size), 4) for name, values in shapes.items() for draw in range(3)
    }


def holt_winters(shapes):
    out = {}
    for name, values in shapes.items():
        fit = ExponentialSmoothing(values[:HISTORY], trend="add", seasonal="add", seasonal_periods=PERIOD).fit()
        predicted = fit.forecast(WINDOW)
        out[name] = {
            "mae": float(np.mean(np.abs(values[HISTORY:] - predicted))),
            "naiveMae": float(np.mean(np.abs(values[HISTORY:] - values[HISTORY - PERIOD : HISTORY]))),
        }
    return out


def client_hours():
    """Client-hours over 24 hours: requests, error share, distinct endpoints, a constant `version`, the label."""
    rng = np.random.default_rng(2709)
    rows = []
    for hour in range(24):
        for _ in range(120):
            threat = rng.random() < 0.05
            if threat:
                requests = rng.lognormal(3.2, 0.9)
                error_share = np.clip(rng.normal(0.35, 0.2), 0, 1)
                endpoints = 1 + rng.poisson(6)
            else:
                requests = rng.lognormal(2.0, 1.0)
                error_share = np.clip(rng.normal(0.1, 0.12), 0, 1)
                endpoints = 1 + rng.poisson(2.5)
            rows.append((hour, round(float(requests), 3), round(float(error_share), 4), int(endpoints), int(threat)))
    return rows


def squash(x):
    return np.sign(x) * np.log1p(np.abs(x))


def classifier(rows, l2=0.001):
    data = np.array(rows, dtype=float)
    hours, x, y = data[:, 0], squash(data[:, 1:4]), data[:, 4].astype(int)
    cut = 18  # the latest 25 % of the 24 distinct hours are held out, as the task splits
    train, test = hours < cut, hours >= cut
    scaler = StandardScaler().fit(x[train])
    # The task minimises mean(class-weighted log loss) + l2/2 * |w|^2; in sklearn's terms C = 1 / (l2 * n).
    model = LogisticRegression(class_weight="balanced", C=1 / (l2 * train.sum()), max_iter=10_000)
    model.fit(scaler.transform(x[train]), y[train])
    train_scores = model.predict_proba(scaler.transform(x[train]))[:, 1]
    test_scores = model.predict_proba(scaler.transform(x[test]))[:, 1]
    precision, recall, thresholds = precision_recall_curve(y[train], train_scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(1e-12, precision[:-1] + recall[:-1])
    threshold = float(thresholds[int(np.argmax(f1))])
    called = (test_scores >= threshold).astype(int)

    # A constant column (7 in every training row, 7 + 1e-9 in the hold-out) next to the same features.
    version_train = np.full((train.sum(), 1), squash(7.0))
    version_test = np.full((test.sum(), 1), squash(7.0 + 1e-9))
    with_constant = StandardScaler().fit(np.hstack([x[train], version_train]))
    constant_model = LogisticRegression(class_weight="balanced", C=1 / (l2 * train.sum()), max_iter=10_000)
    constant_model.fit(with_constant.transform(np.hstack([x[train], version_train])), y[train])
    constant_scores = constant_model.predict_proba(with_constant.transform(np.hstack([x[test], version_test])))[:, 1]
    return {
        "trainRows": int(train.sum()),
        "holdoutRows": int(test.sum()),
        "holdoutThreats": int(y[test].sum()),
        "auc": float(roc_auc_score(y[test], test_scores)),
        "logLoss": float(log_loss(y[test], test_scores)),
        "threshold": threshold,
        "precision": float(precision_score(y[test], called, zero_division=0)),
        "recall": float(recall_score(y[test], called, zero_division=0)),
        "constantColumn": {
            "scale": float(with_constant.scale_[-1]),
            "auc": float(roc_auc_score(y[test], constant_scores)),
            "saturatedShare": float(np.mean((constant_scores < 1e-6) | (constant_scores > 1 - 1e-6))),
        },
    }


def latencies():
    """Latencies of 24 series-hours of 200 requests each: lognormal bodies of several medians, some with a slow tail."""
    rng = np.random.default_rng(95)
    out = []
    for bucket in range(24):
        median = [30, 60, 90, 140, 220, 350][bucket % 6]
        body = rng.lognormal(np.log(median), 0.35 + 0.05 * (bucket % 4), 200)
        slow = rng.random(200) < (0.04 if bucket % 3 == 0 else 0.0)
        values = np.where(slow, body * rng.uniform(4, 10, 200), body)
        out.extend((bucket, round(float(v), 1)) for v in values)
    return out


def percentiles(rows):
    by_bucket = {}
    for bucket, value in rows:
        by_bucket.setdefault(bucket, []).append(value)
    # numpy's default (linear) is PostgreSQL's and MariaDB's percentile_cont.
    return [float(np.percentile(by_bucket[b], 95)) for b in sorted(by_bucket)]


def write_csv(name, header, rows):
    with open(os.path.join(HERE, name), "w", newline="") as handle:
        handle.write("# Generated by training_reference.py (numpy PCG64, fixed seed); do not edit.\n")
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main():
    shapes = forecast_shapes()
    names = list(shapes)
    write_csv("forecast-shapes.csv", ["hour", *names], [(i, *(shapes[n][i] for n in names)) for i in range(HISTORY + WINDOW)])
    rows = client_hours()
    write_csv("client-hours.csv", ["hour", "requests", "errorShare", "endpoints", "label"], rows)
    lat = latencies()
    write_csv("latencies.csv", ["bucket", "latency_ms"], lat)
    reference = {
        "generatedBy": "test/reference/training_reference.py",
        "versions": {"numpy": np.__version__, "statsmodels": statsmodels.__version__, "sklearn": sklearn.__version__},
        "holtWinters": {"history": HISTORY, "window": WINDOW, "period": PERIOD, "shapes": holt_winters(shapes)},
        "classifier": classifier(rows),
        "p95": percentiles(lat),
    }
    with open(os.path.join(HERE, "training-reference.json"), "w") as handle:
        json.dump(reference, handle, indent=2)
        handle.write("\n")
    print(json.dumps(reference, indent=2))


if __name__ == "__main__":
    main()
