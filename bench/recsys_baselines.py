"""Recommendation baselines on ../shared/datasets/recsys, scored exactly as AccelML is
(:mod:`accelml.core.ranking`: every item a user has not rated in train is ranked):
most popular, implicit's ALS with its default parameters, and EASE, item-kNN and iALS each
tuned by a plain grid on a validation split carved from train the way the test split was
made (each user's last 20 % by time), then refit on all of train. One thread each.

  .venv/bin/python bench/recsys_baselines.py movielens_100k --out bench/results_recsys

Writes OUT/baselines_DATASET.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from threadpoolctl import threadpool_limits

from accelml.core.ranking import TopN, rank_users, ranking_report

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "recsys"
EASE_GRID = [1.0, 10.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0]
KNN_GRID = [50, 100, 200, 400, 800]
IALS_GRID = list(itertools.product([32, 64, 128, 256], [0.1, 1.0, 10.0, 100.0],
                                   [0.5, 1.0, 5.0, 20.0]))
Scorer = Callable[[np.ndarray], np.ndarray]


def codes(train: pd.DataFrame, test: pd.DataFrame) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """Ids of train to codes (users of test all appear in train in these sets)."""
    users = {u: i for i, u in enumerate(sorted(train.user_id.unique()))}
    items = {v: i for i, v in enumerate(sorted(train.item_id.unique()))}
    return users, items


def matrix(frame: pd.DataFrame, users: dict, items: dict) -> sparse.csr_matrix:  # type: ignore
    rows = frame.user_id.map(users).to_numpy()
    cols = frame.item_id.map(items).to_numpy()
    out = sparse.csr_matrix((np.ones(len(frame), np.float32), (rows, cols)),
                            shape=(len(users), len(items)))
    out.data[:] = 1.0
    return out


def temporal_split(train: pd.DataFrame, share: float = 0.2) -> tuple[pd.DataFrame,
                                                                      pd.DataFrame]:
    """Each user's last ``share`` (at least one) by (timestamp, item_id) as validation."""
    ordered = train.sort_values(["user_id", "timestamp", "item_id"], kind="stable")
    position = ordered.groupby("user_id").cumcount()
    size = ordered.groupby("user_id").user_id.transform("size")
    held = np.maximum(1, np.round(share * size))
    valid = position >= size - held
    return ordered[~valid], ordered[valid]


def score(scorer: Scorer, seen: sparse.csr_matrix, truth: pd.DataFrame, users: dict,
          items: dict, relevant_min: float | None = None) -> dict[str, float]:
    """Full-ranking metrics at 10 of a scorer against ``truth`` interactions."""
    if relevant_min is not None:
        truth = truth[truth.rating >= relevant_min]
    truth_users = truth.user_id.map(users).to_numpy()
    known = truth.item_id.map(items)
    unknown = known.isna().to_numpy()
    truth_items = known.fillna(-1).to_numpy(np.int64).copy()
    truth_items[unknown] = len(items) + np.arange(int(unknown.sum()))  # never found
    ranked = np.unique(truth_users)
    top = rank_users(scorer, ranked, seen, 10, len(items))
    report = ranking_report(TopN(top.users, top.items, top.scores), truth_users,
                            truth_items, 10, len(items))
    return {name: round(value, 4) for name, value in report.items()}


def popularity(X: sparse.csr_matrix) -> Scorer:
    counts = np.asarray(X.sum(axis=0)).ravel()
    return lambda users: np.tile(counts, (len(users), 1))


def ease(X: sparse.csr_matrix, l2: float) -> Scorer:
    gram = (X.T @ X).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += l2
    inverse = np.linalg.inv(gram)
    B = -inverse / np.diag(inverse)
    B[np.diag_indices_from(B)] = 0.0
    return lambda users: np.asarray(X[users] @ B)


def item_knn(X: sparse.csr_matrix, k: int) -> Scorer:
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=0)).ravel()) + 1e-9
    sim = (X.T @ X).toarray() / norms[:, None] / norms[None, :]
    np.fill_diagonal(sim, 0.0)
    if k < sim.shape[0]:
        cut = np.partition(sim, -k, axis=0)[-k]
        sim[sim < cut[None, :]] = 0.0
    return lambda users: np.asarray(X[users] @ sim)


def ials(X: sparse.csr_matrix, factors: int = 100, regularization: float = 0.01,
         alpha: float = 1.0, iterations: int = 15) -> Scorer:
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(factors=factors, regularization=regularization,
                                    alpha=alpha, iterations=iterations, num_threads=1,
                                    random_state=0)
    model.fit(X, show_progress=False)
    user_f, item_f = np.asarray(model.user_factors), np.asarray(model.item_factors)
    return lambda users: user_f[users] @ item_f.T


def tune(name: str, grid: list, build: Callable, fit_X: sparse.csr_matrix,  # type: ignore
         valid: pd.DataFrame, users: dict, items: dict) -> tuple[object, float]:
    """The grid value with the best validation NDCG@10."""
    best, best_score = grid[0], -1.0
    for value in grid:
        args = value if isinstance(value, tuple) else (value,)
        ndcg = score(build(fit_X, *args), fit_X, valid, users, items)["ndcg@10"]
        if ndcg > best_score:
            best, best_score = value, ndcg
    print(f"{name}: best {best} (validation NDCG@10 {best_score:.4f})", flush=True)
    return best, best_score


def run(dataset: str) -> dict[str, object]:
    folder = DATA / dataset
    train, test = (pd.read_parquet(folder / f"{part}.parquet") for part in ("train", "test"))
    users, items = codes(train, test)
    X = matrix(train, users, items)
    fit_part, valid = temporal_split(train)
    fit_X = matrix(fit_part, users, items)
    results: dict[str, object] = {}

    def record(system: str, build: Callable[[], Scorer], tuned: object = None,
               tuning_s: float = 0.0) -> None:
        started = time.perf_counter()
        scorer = build()
        both = {"all": score(scorer, X, test, users, items),
                "rating>=4": score(scorer, X, test, users, items, relevant_min=4.0)}
        results[system] = {**both, "parameters": tuned, "tuning_s": round(tuning_s, 1),
                           "refit_s": round(time.perf_counter() - started, 1)}
        print(system, both["all"]["ndcg@10"], both["rating>=4"]["ndcg@10"], flush=True)

    with threadpool_limits(1):
        record("popularity", lambda: popularity(X))
        record("ials_defaults", lambda: ials(X))
        for name, grid, build in (("ease_grid", EASE_GRID, ease),
                                  ("item_knn_grid", KNN_GRID, item_knn),
                                  ("ials_grid", IALS_GRID, ials)):
            started = time.perf_counter()
            best, _ = tune(name, grid, build, fit_X, valid, users, items)
            args = best if isinstance(best, tuple) else (best,)
            record(name, lambda b=build, a=args: b(X, *a), best,  # type: ignore[misc]
                   time.perf_counter() - started)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_recsys")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = run(args.dataset)
    path = args.out / f"baselines_{args.dataset}.json"
    path.write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
