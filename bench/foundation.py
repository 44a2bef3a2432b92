"""Foundation benchmark: AccelML at a fixed budget next to LightGBM with default parameters.

For each dataset of ../shared/datasets/tabular (fixed train/test split, metric from meta.json):
test score, fit wall time (must stay within budget + 10 %), and AccelML's single-row predict
latency (median of 200 calls). Writes results/<dataset>.json and a markdown table.

    python bench/foundation.py --budget 60 --out bench/results
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_DATASETS = ["adult", "credit_g", "vehicle", "california_housing", "abalone"]
ROOT = Path(__file__).resolve().parents[1]


def load(folder: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    meta = json.loads((folder / "meta.json").read_text())
    train, test = (pd.read_parquet(folder / f"{part}.parquet") for part in ("train", "test"))
    return meta, train, test


def lightgbm_default(meta: dict, train: pd.DataFrame, test: pd.DataFrame, task) -> np.ndarray:
    """LightGBM defaults, string columns as pandas categories; predictions in AccelML's
    convention (probabilities in task class order, or values)."""
    import lightgbm

    target = meta["target"]

    def frame(df: pd.DataFrame) -> pd.DataFrame:
        X = df.drop(columns=[target]).copy()
        for column in X.columns:
            if not pd.api.types.is_numeric_dtype(X[column]):
                X[column] = pd.Categorical(X[column], categories=sorted(
                    train[column].dropna().astype(str).unique()))
        return X

    if task.kind.value == "regression":
        model = lightgbm.LGBMRegressor(n_jobs=2, verbose=-1, random_state=0)
        return model.fit(frame(train), train[target]).predict(frame(test))
    model = lightgbm.LGBMClassifier(n_jobs=2, verbose=-1, random_state=0)
    model.fit(frame(train), train[target].astype(str))
    proba = model.predict_proba(frame(test))
    order = [list(model.classes_).index(str(c)) for c in task.classes]
    return proba[:, order]


def single_row_ms(predictor, test: pd.DataFrame, calls: int = 200) -> float:
    rows = [test.iloc[[i % len(test)]] for i in range(calls)]
    predictor.predict(rows[0])
    times = []
    for row in rows:
        started = time.perf_counter()
        predictor.predict(row)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run_one(folder: Path, budget: float, seed: int) -> dict:
    import accelml
    from accelml.core.metrics import get_metric
    from accelml.core.task import encode_target

    meta, train, test = load(folder)
    target, metric = meta["target"], meta["metric"]["primary"]
    started = time.monotonic()
    predictor = accelml.fit(train, target, budget, task=meta["task"], metric=metric, quiet=True,
                            seed=seed)
    wall = time.monotonic() - started
    task = predictor.task
    scores = predictor.evaluate(test)
    y_test = encode_target(test[target], task)
    baseline_started = time.monotonic()
    baseline = get_metric(metric).score(y_test, lightgbm_default(meta, train, test, task), task)
    return {
        "dataset": meta["name"], "task": meta["task"], "metric": metric,
        "rows_train": len(train), "accelml": scores[metric], "lightgbm_default": baseline,
        "lightgbm_fit_s": round(time.monotonic() - baseline_started, 2),
        "fit_wall_s": round(wall, 2), "budget_s": budget, "overrun": round(wall / budget - 1, 4),
        "trials": predictor.info["trials"], "failed_trials": predictor.info["failed_trials"],
        "final_learner": predictor.info["final_learner"],
        "served": served(predictor),
        "validation": predictor.info["validation"],
        "single_row_ms": round(single_row_ms(predictor, test), 3),
        "first_model_s": predictor.info.get("first_model_s"),
        "accuracy": scores.get("accuracy"),
    }


def served(predictor) -> str:  # noqa: ANN001
    """The served model: its learner, or the blend's trials with their weights (and how many
    fold models a bagged trial serves)."""
    board = predictor.leaderboard().set_index("trial")
    parts = []
    for entry in predictor.info.get("ensemble", []):
        folds = entry.get("folds", 1)
        bag = f" x{folds} folds" if folds > 1 else ""
        parts.append(f"{board.loc[entry['trial'], 'learner']} {entry['weight']:.2f}{bag}")
    return " + ".join(parts) or predictor.members[0].learner


def markdown(rows: list[dict], budget: float) -> str:
    lines = [
        f"| dataset | task | metric | AccelML ({budget:g}s) | LightGBM default | better | "
        "fit wall s | trials | served model | single-row ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lower_better = r["metric"] in ("rmse", "log_loss", "mae", "mse")
        wins = r["accelml"] < r["lightgbm_default"] if lower_better else (
            r["accelml"] > r["lightgbm_default"])
        lines.append(
            f"| {r['dataset']} | {r['task']} | {r['metric']} | {r['accelml']:.4f} | "
            f"{r['lightgbm_default']:.4f} | {'AccelML' if wins else 'LightGBM'} | "
            f"{r['fit_wall_s']:.1f} | {r['trials']} ({r['failed_trials']} failed) | "
            f"{r['served']} | {r['single_row_ms']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--datasets", nargs="*", default=DEFAULT_DATASETS)
    parser.add_argument("--root", type=Path, default=ROOT.parent / "shared" / "datasets" /
                        "tabular")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.datasets:
        row = run_one(args.root / name, args.budget, args.seed)
        (args.out / f"{name}.json").write_text(json.dumps(row, indent=2))
        print(json.dumps(row), flush=True)
        rows.append(row)
    table = markdown(rows, args.budget)
    (args.out / "foundation.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
