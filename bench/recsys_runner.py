"""One AccelML recommendation run of the recommendation benchmark, in its own process (so
its peak memory is its own): fit on train.parquet with the item and user side tables, score
test.parquet with both relevance definitions, and time recommending in process.

  .venv/bin/python bench/recsys_runner.py --dataset DIR --budget 120 --out OUT
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

import accelml
from accelml.recsys.recommend import evaluate
from accelml.recsys.serving import top_for_user

CALLS = 1000


def _times(fn, calls: int = CALLS) -> dict[str, float]:  # type: ignore[no-untyped-def]
    seconds = []
    for index in range(calls):
        started = time.perf_counter()
        fn(index)
        seconds.append(time.perf_counter() - started)
    ordered = sorted(seconds)
    return {"median_ms": round(statistics.median(ordered) * 1000, 4),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--relevant-min", type=float, default=None)
    args = parser.parse_args()
    folder = args.dataset
    train, test = (pd.read_parquet(folder / f"{p}.parquet") for p in ("train", "test"))
    side = {}
    for name, option in (("items", "item_features"), ("users", "user_features")):
        if (folder / f"{name}.parquet").is_file():
            side[option] = pd.read_parquet(folder / f"{name}.parquet")
    started = time.perf_counter()
    model = accelml.fit(train, task="recommend", user_column="user_id", item_column="item_id",
                        rating_column="rating", time_column="timestamp",
                        time_budget=args.budget, quiet=True, out=args.out / "model",
                        overwrite=True, relevant_min=args.relevant_min, **side)
    fit_s = time.perf_counter() - started
    board = model.leaderboard()
    users = list(model.preprocessor.users)  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    picks = rng.choice(users, size=CALLS)
    facts = {
        "fit_s": round(fit_s, 1), "first_model_s": model.info.get("first_model_s"),
        "search_ended_by": model.info.get("search_ended_by"),
        "trials": int(len(board)),
        "validation_score": model.info.get("validation_score"),
        "members": [{"learner": m.learner, "weight": round(m.weight, 3)}
                    for m in model.members],
        "best_per_learner": {k: round(float(v), 4) for k, v in board[board.status == "ok"]
                             .groupby("learner")["ndcg@10"].max().items()},
        "test": {"all": evaluate(model, test), "rating>=4": evaluate(model, test,
                                                                    relevant_min=4.0)},
        "one_user_in_process": _times(lambda i: top_for_user(model, picks[i], 10)),
        "one_user_dataframe_api": _times(lambda i: model.recommend([picks[i]], k=10), 200),
    }
    started = time.perf_counter()
    model.recommend(list(rng.choice(users, size=1000, replace=len(users) < 1000)), k=10)
    facts["thousand_users_batch_ms"] = round((time.perf_counter() - started) * 1000, 2)
    facts["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    (args.out / "facts.json").write_text(json.dumps(facts, indent=1, default=str))


if __name__ == "__main__":
    main()
