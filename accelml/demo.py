"""``accelml demo``: a real run on data that ships with scikit-learn, next to a LightGBM
baseline with default parameters, so a new user sees the whole flow in one command."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split


def demo_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Breast cancer diagnosis (569 rows, 30 features), split 75/25 stratified."""
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.copy()
    frame["target"] = frame["target"].map(dict(enumerate(bunch.target_names)))
    frame = frame.rename(columns={"target": "diagnosis"})
    train, test = train_test_split(frame, test_size=0.25, random_state=0,
                                   stratify=frame["diagnosis"])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _baseline_auc(train: pd.DataFrame, test: pd.DataFrame) -> float:
    import lightgbm
    from sklearn.metrics import roc_auc_score

    model = lightgbm.LGBMClassifier(n_jobs=1, verbose=-1, random_state=0)
    model.fit(train.drop(columns="diagnosis"), train["diagnosis"])
    proba = model.predict_proba(test.drop(columns="diagnosis"))
    positive = list(model.classes_).index("malignant")
    return float(roc_auc_score(test["diagnosis"] == "malignant", proba[:, positive]))


def run_demo(time_budget: float, out: Path, quiet: bool, console: Console) -> None:
    """Fit, save, reload, evaluate on held-out rows and print what happened."""
    from accelml.api import fit, load

    train, test = demo_data()
    console.print(f"breast cancer data: {len(train)} training rows, {len(test)} test rows; "
                  f"target 'diagnosis'; budget {time_budget:g}s", highlight=False)
    started = time.monotonic()
    predictor = fit(train, "diagnosis", time_budget, out=out, overwrite=True, quiet=quiet,
                    positive_class="malignant")
    wall = time.monotonic() - started
    reloaded = load(out)
    scores = reloaded.evaluate(test)
    board = reloaded.leaderboard()
    table = Table(title="top of the leaderboard (5-fold validation roc_auc)", title_justify="left")
    for column in ("rank", "learner", "roc_auc", "status", "fit_s"):
        table.add_column(column)
    for row in board.head(8).itertuples(index=False):
        table.add_row(str(row.rank), row.learner, f"{row.roc_auc:.5f}", row.status,
                      f"{row.fit_s:.2f}")
    console.print(table)
    console.print(f"fit wall time {wall:.1f}s of {time_budget:g}s; "
                  f"{predictor.info['trials']} trials; final model: "
                  f"{predictor.info['final_learner']}", highlight=False)
    console.print("test metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in scores.items()),
                  highlight=False)
    baseline = _baseline_auc(train, test)
    console.print(f"LightGBM with default parameters, test roc_auc={baseline:.4f}",
                  highlight=False)
    console.print(f"saved to {out}/ — try: accelml leaderboard {out}", highlight=False)
