"""Fit one system on one dataset and write its test predictions and facts; run by
bench/tabular.py with the system's own interpreter (AccelML's .venv or a peer's venv from
bench/setup_peers.sh). Imports only that system, pandas and numpy.

Writes OUT/pred.npy (class probabilities, columns in the order of OUT/facts.json "classes", or
values) and OUT/facts.json: fit wall seconds, predict seconds for the test set, single-row
latency (median), models tried.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Each system's name for the dataset metrics.
METRICS = {
    "flaml": {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "rmse"},
    "autogluon": {"roc_auc": "roc_auc", "log_loss": "log_loss",
                  "rmse": "root_mean_squared_error"},
    "h2o": {"roc_auc": "AUC", "log_loss": "logloss", "rmse": "RMSE"},
}


def fit_accelml(train: pd.DataFrame, target: str, meta: dict, budget: float,
                **options: Any) -> Any:
    import accelml

    predictor = accelml.fit(train, target, time_budget=budget, task=meta["task"],
                            metric=meta["metric"]["primary"], quiet=True, **options)
    return predictor, predictor.info["trials"]


def fit_accelml_zeroshot(train: pd.DataFrame, target: str, meta: dict, budget: float,
                         **options: Any) -> Any:
    """AccelML led by the zero-shot portfolio (off by default; for measuring it)."""
    return fit_accelml(train, target, meta, budget, zero_shot=True, **options)


def fit_accelml_bagged(train: pd.DataFrame, target: str, meta: dict, budget: float,
                      **options: Any) -> Any:
    """AccelML serving the best trials' k-fold models as bags (for measuring bagging)."""
    return fit_accelml(train, target, meta, budget, bagging=True, **options)


def fit_lightgbm(train: pd.DataFrame, target: str, meta: dict, budget: float) -> Any:
    import lightgbm

    categories = {c: sorted(train[c].dropna().astype(str).unique()) for c in train
                  if c != target and not pd.api.types.is_numeric_dtype(train[c])}

    class Model:
        def __init__(self) -> None:
            kind = lightgbm.LGBMRegressor if meta["task"] == "regression" else \
                lightgbm.LGBMClassifier
            self.model = kind(n_jobs=2, verbose=-1, random_state=0)
            y = train[target] if meta["task"] == "regression" else train[target].astype(str)
            self.model.fit(self.frame(train.drop(columns=[target])), y)
            self.classes_ = list(getattr(self.model, "classes_", []))

        def frame(self, df: pd.DataFrame) -> pd.DataFrame:
            X = df.copy()
            for column, known in categories.items():
                X[column] = pd.Categorical(X[column].astype(str).where(X[column].notna()),
                                           categories=known)
            return X

        def predict(self, df: pd.DataFrame) -> np.ndarray:
            return self.model.predict(self.frame(df))

        def predict_proba(self, df: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame(self.model.predict_proba(self.frame(df)), columns=self.classes_)

    return Model(), 1


def fit_flaml(train: pd.DataFrame, target: str, meta: dict, budget: float) -> Any:
    from flaml import AutoML

    automl = AutoML()
    task = "regression" if meta["task"] == "regression" else "classification"
    automl.fit(train.drop(columns=[target]), train[target], task=task, time_budget=budget,
               n_jobs=2, seed=0, metric=METRICS["flaml"][meta["metric"]["primary"]], verbose=0)
    return automl, len(automl.config_history)


def fit_autogluon(train: pd.DataFrame, target: str, meta: dict, budget: float,
                  presets: str = "medium_quality") -> Any:
    from autogluon.tabular import TabularPredictor

    problem = {"binary": "binary", "multiclass": "multiclass"}.get(meta["task"], "regression")
    predictor = TabularPredictor(
        label=target, problem_type=problem, verbosity=0,
        eval_metric=METRICS["autogluon"][meta["metric"]["primary"]],
        path=f"/tmp/ag-bench-{time.time_ns()}",
    ).fit(train, time_limit=budget, presets=presets, num_cpus=2, num_gpus=0)
    return predictor, len(predictor.model_names())


def fit_autogluon_best(train: pd.DataFrame, target: str, meta: dict, budget: float) -> Any:
    """AutoGluon as the AutoML Benchmark runs it (bagged and stacked)."""
    return fit_autogluon(train, target, meta, budget, presets="best_quality")


class _H2OModel:
    """predict / predict_proba over pandas, with the training frame's column types."""

    def __init__(self, aml: Any, types: dict[str, str], target: str, classification: bool,
                 levels: list[str]):
        self.aml, self.types, self.target = aml, types, target
        self.classification = classification
        self.levels = levels  # the target's factor levels, in H2O's column order
        self.classes_: list[Any] = []

    def _frame(self, df: pd.DataFrame) -> Any:
        import h2o

        types = {c: t for c, t in self.types.items() if c in df.columns}
        return h2o.H2OFrame(df, column_types=types)

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        out = self.aml.leader.predict(self._frame(df)).as_data_frame(use_multi_thread=False)
        return out["predict"].to_numpy()

    def predict_proba(self, df: pd.DataFrame) -> pd.DataFrame:
        out = self.aml.leader.predict(self._frame(df)).as_data_frame(use_multi_thread=False)
        out = out.drop(columns=["predict"])
        # H2O names the columns after the levels, prefixing numeric ones ("1" becomes "p1"):
        # the levels themselves are the class labels
        out.columns = [str(level) for level in self.levels]
        self.classes_ = list(out.columns)
        return out


def fit_h2o(train: pd.DataFrame, target: str, meta: dict, budget: float) -> Any:
    import h2o
    from h2o.automl import H2OAutoML

    h2o.init(nthreads=2, max_mem_size="6G", verbose=False)
    h2o.no_progress()
    classification = meta["task"] != "regression"
    # a class column of "+" and "-" would otherwise be parsed as one (numeric) value
    frame = h2o.H2OFrame(train, column_types={target: "enum"} if classification else None)
    levels: list[str] = []
    if classification:
        frame[target] = frame[target].asfactor()
        levels = frame[target].levels()[0]
    types = {c: t for c, t in frame.types.items() if c != target}
    aml = H2OAutoML(max_runtime_secs=int(budget), seed=0, nfolds=5,
                    sort_metric=METRICS["h2o"][meta["metric"]["primary"]], verbosity=None)
    aml.train(y=target, training_frame=frame)
    return _H2OModel(aml, types, target, classification, levels), aml.leaderboard.nrows


FITS = {"accelml": fit_accelml, "accelml-zeroshot": fit_accelml_zeroshot,
        "accelml-bagged": fit_accelml_bagged,
        "lightgbm-default": fit_lightgbm, "flaml": fit_flaml,
        "autogluon": fit_autogluon, "autogluon-best": fit_autogluon_best, "h2o": fit_h2o}


def predictions(model: Any, test: pd.DataFrame, regression: bool) -> tuple[np.ndarray, list]:
    if regression:
        return np.asarray(model.predict(test), dtype=float), []
    proba = model.predict_proba(test)
    if isinstance(proba, pd.DataFrame):
        return proba.to_numpy(dtype=float), [str(c) for c in proba.columns]
    return np.asarray(proba, dtype=float), [str(c) for c in model.classes_]


def details(system: str, model: Any) -> dict:
    """Where an AccelML run spent its time and what it served (nothing for the peers)."""
    if not system.startswith("accelml"):
        return {}
    info = model.info
    keys = ("validation", "trials", "phases_s", "reserved_after_search_s", "ensemble",
            "stacking", "final_learner")
    return {key: info.get(key) for key in keys}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--system", choices=sorted(FITS), required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0, help="AccelML's seed")
    parser.add_argument("--repeats", type=int, default=1000,
                        help="single-row calls timed (fewer where they take over 15 s)")
    args = parser.parse_args()
    meta = json.loads((args.dataset / "meta.json").read_text())
    target = meta["target"]
    train = pd.read_parquet(args.dataset / "train.parquet")
    test = pd.read_parquet(args.dataset / "test.parquet").drop(columns=[target])
    started = time.monotonic()
    fit = FITS[args.system]
    model, tried = fit(train, target, meta, args.budget, seed=args.seed) \
        if args.system.startswith("accelml") else fit(train, target, meta, args.budget)
    fit_s = time.monotonic() - started
    regression = meta["task"] == "regression"
    started = time.monotonic()
    pred, classes = predictions(model, test, regression)
    predict_s = time.monotonic() - started
    row = test.iloc[[0]]
    call = (lambda: model.predict(row)) if regression else (lambda: model.predict_proba(row))
    call()
    times: list[float] = []
    timing_started = time.perf_counter()  # at most --repeats calls, at least 5, in 15 s
    while len(times) < args.repeats and (len(times) < 5
                                         or time.perf_counter() - timing_started < 15.0):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    args.out.mkdir(parents=True, exist_ok=True)
    np.save(args.out / "pred.npy", pred)
    (args.out / "facts.json").write_text(json.dumps({
        "system": args.system, "fit_s": round(fit_s, 2), "predict_s": round(predict_s, 3),
        "single_row_ms": round(statistics.median(times) * 1000, 3),
        "single_row_p99_ms": round(float(np.percentile(times, 99)) * 1000, 3),
        "single_row_calls": len(times), "models_tried": int(tried),
        "classes": classes, "details": details(args.system, model)}))
    if args.system.startswith("accelml"):  # every trial, to see what won and what it cost
        model.leaderboard().to_csv(args.out / "leaderboard.csv", index=False)
    if args.system == "h2o":
        import h2o

        h2o.cluster().shutdown()
    if args.system.startswith("autogluon"):  # its models, a gigabyte a run, are not kept
        shutil.rmtree(model.path, ignore_errors=True)


if __name__ == "__main__":
    main()
