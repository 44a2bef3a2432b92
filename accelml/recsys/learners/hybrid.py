"""Two-stage recommendation: a fast generator proposes each user's candidates and a LightGBM
lambdarank model re-ranks them with what the generator cannot see (item and user side
features, popularity, activity, recency).

The ranker needs labels the generator did not train on, so the fit holds back each user's
last interactions (by time; a seeded random share without times), fits the generator on the
rest, and labels a candidate relevant when it is among the held-back ones. The generator is
then refitted on every training row for scoring. Scores keep the candidates' ranker order
above every other item, the others in the generator's order below them, so a full ranking
stays meaningful whatever the list length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from scipy import sparse

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, Fidelity, FitFacts, Fitted, get_learner, register
from accelml.core.learner import registered as registered_learners
from accelml.core.ranking import CHUNK_CELLS, top_items
from accelml.core.task import Task
from accelml.errors import ArtifactError
from accelml.recsys.learners import base
from accelml.recsys.learners import factors as _factors  # noqa: F401  (registers "als")
from accelml.tabular.learners._common import (
    check_model_file,
    lib_seed,
    merge_config,
    n_rounds,
    threads,
)

#: Generators the search may pick, in order of preference, where registered.
GENERATORS = ("als", "ease", "item_knn")
#: Share of each user's interactions held back to label the ranker's candidates.
LABEL_SHARE = 0.2
SECONDS_PER_DAY = 86_400.0
#: Weight of the generator's order among candidates the ranker scores alike.
TIE_BREAK = 1e-9
GENERATOR_DIR = "generator"
BOOSTER_FILE = "ranker.txt"
#: Columns before the side features: generator score, rank, popularity, activity, age.
BASE_COLUMNS = 5


def generators() -> list[str]:
    """The candidate generators that are registered, in order of preference."""
    known = registered_learners()
    return [name for name in GENERATORS if name in known]


@dataclass
class _Fit:
    """The arguments of one fit, passed as one."""

    task: Task
    deadline: Deadline
    n_jobs: int
    seed: int
    config: Config


def history(features: Features, y: np.ndarray) -> dict[str, Any]:
    """What the ranker's features read from interaction rows: the seen matrix, each item's
    share of interactions, each user's log activity and each item's days since its last
    interaction before the latest time (NaN without times)."""
    seen = base.interactions(features, y, "binary")
    users, items = base.codes(features)
    n_users, n_items = seen.shape
    times = np.asarray(features.X[:, 2], dtype=np.float64)
    age = np.full(n_items, np.nan)
    if len(times) and np.isfinite(times).any():
        last = np.full(n_items, -np.inf)
        np.maximum.at(last, items[np.isfinite(times)], times[np.isfinite(times)])
        age = np.where(np.isfinite(last), (np.nanmax(times) - last) / SECONDS_PER_DAY, np.nan)
    return {"seen": seen,
            "popularity": np.bincount(items, minlength=n_items) / max(1, len(items)),
            "activity": np.log1p(np.bincount(users, minlength=n_users)).astype(np.float64),
            "age": age}


def split_rows(features: Features, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(generator rows, label rows): each user's last :data:`LABEL_SHARE` of interactions
    by time (in a seeded random order when times are missing); users with one row keep it
    for the generator."""
    users, _ = base.codes(features)
    times = np.asarray(features.X[:, 2], dtype=np.float64)
    key = times if np.isfinite(times).all() else np.random.default_rng(seed).random(len(users))
    order = np.lexsort((key, users))
    counts = np.bincount(users, minlength=int(users.max(initial=-1)) + 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(len(order)) - starts[users[order]]
    n_label = np.where(counts >= 2, np.maximum(1, np.rint(LABEL_SHARE * counts)), 0)
    held = position >= (counts - n_label)[users[order]]
    return np.sort(order[~held]), np.sort(order[held])


def candidates(generator: Any, fitted: Fitted, users: np.ndarray, seen: sparse.csr_matrix,
               n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's top ``n`` unseen items by the generator (-1 padded) and the generator's
    full score matrix for them (finite: -inf and NaN become the row's lowest score).

    Scores are rounded to float32: BLAS may round a user's scores differently in the last
    bits depending on how many users share the call, and the rounding keeps that from
    reaching candidates and features, so a user scores the same alone or in a batch."""
    raw = np.asarray(generator.score_users(fitted, users), dtype=np.float64)
    scores = raw.astype(np.float32).astype(np.float64)
    finite = np.isfinite(scores)
    low = np.where(finite, scores, np.inf).min(axis=1, keepdims=True)
    scores = np.where(finite, scores, np.where(np.isfinite(low), low, 0.0))
    items, _ = top_items(scores, seen[users], n)
    return items, scores


def feature_rows(users: np.ndarray, items: np.ndarray, scores: np.ndarray,
                 state: dict[str, Any]) -> np.ndarray:
    """One feature row per candidate (row-major over ``items``' valid cells): generator
    score and rank, item popularity, user activity, item age, item and user side
    features."""
    rows, ranks = np.nonzero(items >= 0)
    item, user = items[rows, ranks], users[rows]
    columns = [scores[rows, item], ranks.astype(np.float64), state["popularity"][item],
               state["activity"][user], state["age"][item]]
    parts = [np.column_stack(columns)]
    if state.get("item_side") is not None:
        parts.append(state["item_side"][item])
    if state.get("user_side") is not None:
        parts.append(state["user_side"][user])
    return np.hstack(parts).astype(np.float64)


def side_arrays(features: Features) -> tuple[dict[str, Any], list[int]]:
    """The side matrices the ranker reads and the indices of its categorical columns."""
    arrays: dict[str, Any] = {"item_side": None, "user_side": None}
    categorical: list[int] = []
    described = features.block_info.get("side", {})
    offset = BASE_COLUMNS
    for name, key in (("items", "item_side"), ("users", "user_side")):
        matrix = features.side.get(name) if features.side else None
        if matrix is None:
            continue
        arrays[key] = np.asarray(matrix, dtype=np.float64)
        categorical += [offset + int(c) for c in described.get(name, {}).get("categorical", [])]
        offset += arrays[key].shape[1]
    return arrays, categorical


def relevant_rows(features: Features, y: np.ndarray) -> np.ndarray:
    """Which rows count as relevant labels: ratings from ``relevant_min`` up where it is set,
    every interaction otherwise."""
    floor = features.block_info["interactions"].get("relevant_min")
    if floor is None or not base.is_explicit(features):
        return np.ones(len(y), dtype=bool)
    return np.asarray(y, dtype=np.float64) >= float(floor)


def ranker_params(config: Config, n_jobs: int, seed: int) -> dict[str, Any]:
    """LightGBM's parameters for the lambdarank re-ranker."""
    leaf = int(config["min_data_in_leaf"])
    return {"objective": "lambdarank", "learning_rate": float(config["learning_rate"]),
            "num_leaves": int(config["num_leaves"]), "min_data_in_leaf": leaf,
            "min_data_per_group": leaf, "seed": seed, "deterministic": True,
            "force_col_wise": True, "num_threads": n_jobs, "verbosity": -1}


def train_ranker(data: tuple[np.ndarray, np.ndarray, np.ndarray], categorical: list[int],
                 run: _Fit, rounds: int) -> tuple[Any, int]:
    """Fit the lambdarank booster on (features, labels, group sizes) for up to ``rounds``
    trees, fewer at the deadline; (booster, trees kept)."""
    import lightgbm as lgb

    from accelml.tabular.learners.lightgbm_learner import _Stopper

    X, labels, groups = data
    train = lgb.Dataset(X, labels, group=groups, categorical_feature=categorical,
                        params={"verbosity": -1}, free_raw_data=True)
    booster = lgb.train(ranker_params(run.config, run.n_jobs, run.seed), train,
                        num_boost_round=rounds, callbacks=[_Stopper(run.deadline, False)])
    booster.free_dataset()
    return booster, int(booster.best_iteration or booster.current_iteration())


def labelled_candidates(features: Features, y: np.ndarray, run: _Fit, generator: Any
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Fit the generator on the earlier rows and label its candidates for the users with
    held-back relevant rows: (features, labels, group sizes), or None without any hit."""
    fit_rows, label_rows = split_rows(features, run.seed)
    label_rows = label_rows[relevant_rows(features, y)[label_rows]]
    if not len(label_rows) or not len(fit_rows):
        return None
    part = features.take(fit_rows)
    fitted = fit_generator(generator, part, y[fit_rows], run)
    state = {**history(part, y[fit_rows]), **side_arrays(features)[0]}
    users = np.unique(base.codes(features)[0][label_rows])
    items, scores = candidates(generator, fitted, users, state["seen"],
                               int(run.config["candidates"]))
    n_items = state["seen"].shape[1]
    truth = np.unique(features.X[label_rows, 0].astype(np.int64) * n_items
                      + features.X[label_rows, 1].astype(np.int64))
    hits = (items >= 0) & np.isin(users[:, None] * n_items + items, truth)
    keep = hits.any(axis=1)
    if not keep.any():
        return None
    users, items, scores, hits = users[keep], items[keep], scores[keep], hits[keep]
    labels = hits[items >= 0].astype(np.float64)
    return feature_rows(users, items, scores, state), labels, (items >= 0).sum(axis=1)


def fit_generator(generator: Any, features: Features, y: np.ndarray, run: _Fit) -> Fitted:
    """The generator fitted with its own strongest config at its default fidelity."""
    config = generator.portfolio(run.task, DataShape.of(features))[0]
    return generator.fit(features, y, config, task=run.task, fidelity=None,
                         deadline=run.deadline, n_jobs=run.n_jobs, seed=run.seed)


@register
class HybridRanker(base.RecsysLearner):
    """Candidates from a generator, re-ranked by LightGBM lambdarank over side features."""

    name = "hybrid_ranker"
    relative_cost = 6.0
    fidelity = Fidelity("n_estimators", 50, 500)
    load_modules = ("lightgbm",)

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"generator": CategoricalDistribution(generators()),
                "candidates": IntDistribution(20, 200, log=True),
                "learning_rate": FloatDistribution(0.02, 0.3, log=True),
                "num_leaves": IntDistribution(4, 64, log=True),
                "min_data_in_leaf": IntDistribution(5, 100, log=True)}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        first = {"generator": generators()[0], "candidates": 100, "learning_rate": 0.05,
                 "num_leaves": 31, "min_data_in_leaf": 20}
        others = [{**first, "generator": name} for name in generators()[1:]]
        return [first, *others, {**first, "candidates": 50, "num_leaves": 8,
                                 "learning_rate": 0.1}]

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        """Train the ranker on held-back interactions, then refit the generator on all."""
        config = merge_config(self.portfolio(task, DataShape.of(features))[0], config,
                              self.name)
        run = _Fit(task, deadline, threads(n_jobs), lib_seed(seed), config)
        generator = get_learner(str(config["generator"]))
        side, categorical = side_arrays(features)
        booster, trees = None, 0
        data = None if deadline.expired() else labelled_candidates(features, y, run, generator)
        if data is not None:
            booster, trees = train_ranker(data, categorical, run,
                                          n_rounds(self.fidelity, fidelity, self.name))
        info = {"learner": self.name, "generator": config["generator"],
                "candidates": int(config["candidates"]), "n_estimators": trees,
                "deadline_hit": deadline.expired()}
        model = {"generator": fit_generator(generator, features, y, run), "booster": booster,
                 "state": {**history(features, y), **side}}
        return Fitted(self.name, model, info, FitFacts(units_trained=trees,
                                                       refit_units=max(trees, 1)))

    def score_users(self, fitted: Fitted, users: np.ndarray) -> np.ndarray:
        """Candidates by their ranker score, above every other item in generator order."""
        model, info = fitted.model, fitted.info
        users = np.asarray(users, dtype=np.int64)
        items, scores = candidates(get_learner(info["generator"]), model["generator"], users,
                                   model["state"]["seen"], info["candidates"])
        if model["booster"] is None:
            return scores
        ranked = np.asarray(model["booster"].predict(
            feature_rows(users, items, scores, model["state"]), num_threads=1))
        return merge_scores(items, scores, ranked)

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        """Each row's entry of its user's :meth:`score_users` row."""
        users, items = base.codes(features)
        out = np.empty(len(users))
        unique, inverse = np.unique(users, return_inverse=True)
        chunk = max(1, CHUNK_CELLS // max(1, fitted.model["state"]["seen"].shape[1]))
        for start in range(0, len(unique), chunk):
            scores = self.score_users(fitted, unique[start:start + chunk])
            rows = np.flatnonzero((inverse >= start) & (inverse < start + chunk))
            out[rows] = scores[inverse[rows] - start, items[rows]]
        return out

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        """The generator through its own save, the booster as LightGBM text, the feature
        state as .npz."""
        directory = Path(directory)
        model = fitted.model
        generator = get_learner(fitted.info["generator"])
        files = list(generator.save(model["generator"], directory / GENERATOR_DIR))
        if model["booster"] is not None:
            model["booster"].save_model(directory / BOOSTER_FILE)
            files.append(directory / BOOSTER_FILE)
        state = {k: v for k, v in model["state"].items() if v is not None}
        return [*files, *base.save_arrays(directory, state, fitted.info)]

    def load(self, directory: Path, task: Task) -> Fitted:
        """Read what :meth:`save` wrote; another learner's directory is refused."""
        directory = Path(directory)
        state, info = base.load_arrays(directory)
        if info.get("learner") != self.name:
            raise ArtifactError(f"{directory} holds a {info.get('learner')!r} model, not a "
                                f"{self.name!r} model")
        booster = None
        if info["n_estimators"] > 0:
            import lightgbm as lgb

            booster = lgb.Booster(model_file=check_model_file(directory / BOOSTER_FILE))
        generator = get_learner(info["generator"]).load(directory / GENERATOR_DIR, task)
        model = {"generator": generator, "booster": booster,
                 "state": {"item_side": None, "user_side": None, **state}}
        trees = info["n_estimators"]
        return Fitted(self.name, model, info, FitFacts(trees, max(trees, 1)))


def merge_scores(items: np.ndarray, scores: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """Full score rows: candidates get the ranker's score (the generator's order breaking
    ties), every other item a score 1 to 2 below the row's lowest candidate, in the
    generator's order."""
    valid = items >= 0
    rows, ranks = np.nonzero(valid)
    width = max(1, items.shape[1])
    candidate = ranked + TIE_BREAK * (width - ranks) / width
    floor = np.full(len(items), np.inf)
    np.minimum.at(floor, rows, candidate)
    floor = np.where(np.isfinite(floor), floor, 0.0)
    low, high = scores.min(axis=1, keepdims=True), scores.max(axis=1, keepdims=True)
    spread = np.where(high > low, high - low, 1.0)
    out = floor[:, None] - 2.0 + (scores - low) / spread
    out[rows, items[valid]] = candidate
    return out
