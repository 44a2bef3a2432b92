"""Fit one system on one text dataset and write its test predictions and facts; run by
bench/text.py with the system's own interpreter (AccelML's .venv, or a peer's venv from
bench/setup_peers.sh). Imports only that system, pandas, numpy (and scikit-learn for the
TF-IDF baseline).

Writes OUT/labels.npy (predicted class indices into meta.classes) and OUT/facts.json: fit
wall seconds, the system's own validation score where it has one, models tried.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def fit_accelml(train: pd.DataFrame, budget: float, out: Path, **options: Any) -> Any:
    import accelml

    predictor = accelml.fit(train, "label", time_budget=budget, quiet=True,
                            out=out / "model", overwrite=True, **options)
    info = predictor.info
    board = predictor.leaderboard()
    final = board[board["final"]]
    return predictor, {"trials": info["trials"], "validation": info["validation"],
                       "validation_score": info["validation_score"],
                       "metric": predictor.task.metric, "notes": info["notes"],
                       "fit_wall_s": info.get("fit_wall_s"),
                       "final": None if final.empty else {
                           "learner": final.iloc[0]["learner"],
                           "config": final.iloc[0]["config"]},
                       "ensemble": info.get("ensemble")}


def fit_accelml_random_splits(train: pd.DataFrame, budget: float, out: Path) -> Any:
    """AccelML with plain k-fold / holdout splits: what near-duplicate grouping avoids."""
    return fit_accelml(train, budget, out, group_duplicates=False)


def fit_tfidf_lr(train: pd.DataFrame, budget: float, out: Path) -> Any:
    """The baseline every practitioner knows: TF-IDF and logistic regression, defaults."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
    model.fit(train["text"], train["label"])

    class Wrapped:
        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return model.predict(frame["text"])

    return Wrapped(), {"trials": 1}


def fit_flaml(train: pd.DataFrame, budget: float, out: Path) -> Any:
    from flaml import AutoML

    automl = AutoML()
    automl.fit(train[["text"]], train["label"], task="classification", time_budget=budget,
               n_jobs=2, seed=0, metric="accuracy", verbose=0)
    return automl, {"trials": len(automl.config_history),
                    "validation_score": 1 - float(automl.best_loss),
                    "best": str(automl.best_estimator)}


def fit_autogluon(train: pd.DataFrame, budget: float, out: Path) -> Any:
    from autogluon.tabular import TabularPredictor

    problem = "binary" if train["label"].nunique() == 2 else "multiclass"
    predictor = TabularPredictor(label="label", problem_type=problem, verbosity=0,
                                 eval_metric="accuracy", path=str(out / "autogluon")).fit(
        train, time_limit=budget, num_cpus=2, num_gpus=0)
    board = predictor.leaderboard(silent=True)
    return predictor, {"trials": len(predictor.model_names()),
                       "validation_score": float(board["score_val"].max())}


SYSTEMS = {"accelml": fit_accelml, "accelml_random_splits": fit_accelml_random_splits,
           "tfidf_lr": fit_tfidf_lr, "flaml": fit_flaml, "autogluon": fit_autogluon}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--system", required=True, choices=sorted(SYSTEMS))
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    train = pd.read_parquet(args.dataset / "train.parquet")[["text", "label"]]
    test = pd.read_parquet(args.dataset / "test.parquet")[["text", "label"]]
    started = time.perf_counter()
    model, facts = SYSTEMS[args.system](train, args.budget, args.out)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    labels = np.asarray(model.predict(test[["text"]])).astype(np.int64)
    predict_s = time.perf_counter() - started
    np.save(args.out / "labels.npy", labels)
    if args.system.startswith("accelml"):  # probabilities, for the test log loss
        np.save(args.out / "proba.npy", np.asarray(model.predict_proba(test[["text"]])))
    (args.out / "facts.json").write_text(json.dumps(
        {**facts, "fit_s": round(fit_s, 2), "predict_s": round(predict_s, 3)}, default=str))


if __name__ == "__main__":
    main()
