"""Fit one peer AutoML system on a dataset and time its single-row predict, in process.

Run with the peer's own interpreter (see bench/setup_peers.sh); imports only that system and
pandas, and prints one JSON line:
  bench/.peers/flaml/bin/python bench/peer_latency.py --system flaml --dataset DIR --budget 60
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import pandas as pd


def fit_flaml(train: pd.DataFrame, target: str, budget: float, metric: str):  # noqa: ANN201
    from flaml import AutoML

    automl = AutoML()
    automl.fit(train.drop(columns=[target]), train[target], task="classification",
               time_budget=budget, n_jobs=2, seed=0, metric=metric, verbose=0)
    return automl


def fit_autogluon(train: pd.DataFrame, target: str, budget: float, metric: str):  # noqa: ANN201
    from autogluon.tabular import TabularPredictor

    predictor = TabularPredictor(label=target, eval_metric=metric, verbosity=0,
                                 path=str(Path("/tmp") / f"ag-latency-{time.time_ns()}"))
    return predictor.fit(train, time_limit=budget, num_cpus=2, num_gpus=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--system", choices=["flaml", "autogluon"], required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    meta = json.loads((args.dataset / "meta.json").read_text())
    target = meta["target"]
    train = pd.read_parquet(args.dataset / "train.parquet")
    test = pd.read_parquet(args.dataset / "test.parquet").drop(columns=[target])
    fit = {"flaml": fit_flaml, "autogluon": fit_autogluon}[args.system]
    started = time.monotonic()
    model = fit(train, target, args.budget, meta["metric"]["primary"])
    fit_s = time.monotonic() - started
    row = test.iloc[[0]]
    model.predict_proba(row)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        model.predict_proba(row)
        times.append(time.perf_counter() - start)
    print(json.dumps({"system": args.system, "fit_s": round(fit_s, 1),
                      "single_row_ms_p50": round(statistics.median(times) * 1000, 3),
                      "single_row_ms_p99": round(sorted(times)[int(0.99 * len(times))] * 1000,
                                                 3)}))


if __name__ == "__main__":
    main()
