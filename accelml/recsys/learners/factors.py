"""Latent-factor recommenders from the ``implicit`` package: alternating least squares on
confidence-weighted interactions (iALS) and Bayesian personalized ranking (BPR).

Both learn a vector per user and per item whose dot product scores the pair. ``implicit``
only trains them: its model objects are never saved (they pickle only), the two factor
matrices are, and scoring is plain numpy, so a saved model loads without the library.
Training runs epoch by epoch under a callback that ends it at the deadline, keeping the
factors the finished epochs reached.
"""

from __future__ import annotations

from collections.abc import Callable
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
from accelml.core.learner import Config, Fidelity, FitFacts, Fitted, register
from accelml.core.task import Task
from accelml.errors import ArtifactError
from accelml.recsys.learners import base
from accelml.tabular.learners._common import lib_seed, merge_config, n_rounds, threads

#: BM25's saturation and length normalisation, as implicit's examples use them.
BM25_K1, BM25_B = 100.0, 0.8


class _DeadlinePassed(Exception):
    """Raised from implicit's epoch callback to end training at the deadline."""


class _EpochCounter:
    """implicit's per-epoch callback: counts finished epochs, stops at the deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline, self.done = deadline, 0

    def __call__(self, epoch: int, *_: Any) -> None:
        self.done = epoch + 1
        if self.deadline.expired():
            raise _DeadlinePassed


def weighted(features: Features, y: np.ndarray, weighting: str) -> sparse.csr_matrix:
    """The users x items confidence matrix: :func:`base.interactions`' weightings, plus
    "bm25" (counts damped per user and scaled by each item's rarity, which keeps very
    popular items from dominating every user's factors)."""
    if weighting != "bm25":
        return base.interactions(features, y, weighting)
    from implicit.nearest_neighbours import bm25_weight

    counts = base.interactions(features, y, "value")
    return sparse.csr_matrix(bm25_weight(counts, K1=BM25_K1, B=BM25_B), dtype=np.float32)


def train_factors(make: Callable[[], Any], matrix: sparse.csr_matrix, deadline: Deadline
                  ) -> tuple[np.ndarray, np.ndarray, int]:
    """Build an implicit CPU model with ``make`` and fit it until done or the deadline;
    (user factors, item factors, epochs finished). A deadline already passed trains
    nothing: zero factors that score every item alike."""
    from threadpoolctl import threadpool_limits

    counter = _EpochCounter(deadline)
    if deadline.expired():
        return (np.zeros((matrix.shape[0], 1), np.float32),
                np.zeros((matrix.shape[1], 1), np.float32), 0)
    with threadpool_limits(1, "blas"):  # implicit's advice: its own threads do the work
        model = make()
        try:
            model.fit(matrix, show_progress=False, callback=counter)
        except _DeadlinePassed:
            pass
    return np.asarray(model.user_factors), np.asarray(model.item_factors), counter.done


def dot_scores(users_f: np.ndarray, items_f: np.ndarray, users: np.ndarray) -> np.ndarray:
    """Every item's score for ``users``: their factors' dot products, in float64."""
    chosen = users_f[np.asarray(users, dtype=np.int64)].astype(np.float64)
    return chosen @ items_f.astype(np.float64).T


def pair_scores(users_f: np.ndarray, items_f: np.ndarray, features: Features) -> np.ndarray:
    """One score per interaction row: the user's score of the row's item, row by row (so a
    row alone scores exactly as in a batch)."""
    users, items = base.codes(features)
    return np.einsum("ij,ij->i", users_f[users].astype(np.float64),
                     items_f[items].astype(np.float64))


def cosine_neighbours(items_f: np.ndarray, items: np.ndarray, k: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` items nearest to each of ``items`` by the cosine of their factors, the item
    itself left out: (items x k codes, their similarities)."""
    factors = items_f.astype(np.float64)
    norms = np.linalg.norm(factors, axis=1)
    unit = factors / np.where(norms > 0, norms, 1.0)[:, None]
    items = np.asarray(items, dtype=np.int64)
    similarity = unit[items] @ unit.T
    similarity[np.arange(len(items)), items] = -np.inf
    k = min(k, len(factors) - 1)
    order = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(similarity, order, axis=1)


class FactorLearner(base.RecsysLearner):
    """What ALS and BPR share: the fit around implicit, scoring, saving and loading."""

    load_modules = ()

    def defaults(self) -> Config:
        """Every hyperparameter's default (the strongest portfolio config on no data)."""
        raise NotImplementedError

    def make_model(self, config: Config, iterations: int, n_jobs: int, seed: int) -> Any:
        """The implicit CPU model for ``config``."""
        raise NotImplementedError

    def confidence(self, features: Features, y: np.ndarray, config: Config
                   ) -> sparse.csr_matrix:
        """The users x items matrix implicit trains on (BPR reads only where it is set)."""
        return base.interactions(features, y, "binary")

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        """Factorize the training interactions for up to ``fidelity`` epochs."""
        config = merge_config(self.defaults(), config, self.name)
        iterations = n_rounds(self.fidelity, fidelity, self.name)
        matrix = self.confidence(features, y, config)
        users_f, items_f, done = train_factors(
            lambda: self.make_model(config, iterations, threads(n_jobs), lib_seed(seed)),
            matrix, deadline)
        info = {"learner": self.name, "epochs": done, "deadline_hit": done < iterations,
                "n_users": matrix.shape[0], "n_items": matrix.shape[1]}
        return Fitted(self.name, {"users": users_f, "items": items_f}, info,
                      FitFacts(units_trained=done, refit_units=max(done, 1)))

    def score_users(self, fitted: Fitted, users: np.ndarray) -> np.ndarray:
        """Every item's score for each of ``users`` (seen items not masked)."""
        return dot_scores(fitted.model["users"], fitted.model["items"], users)

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        """The score of each row's (user, item) pair."""
        return pair_scores(fitted.model["users"], fitted.model["items"], features)

    def similar_items(self, fitted: Fitted, items: np.ndarray, k: int
                      ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items whose factors point most nearly the same way as each item's."""
        return cosine_neighbours(fitted.model["items"], items, k)

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        """The factor matrices as .npz and the info as JSON."""
        return base.save_arrays(Path(directory), fitted.model, fitted.info)

    def load(self, directory: Path, task: Task) -> Fitted:
        """Read what :meth:`save` wrote; another learner's directory is refused."""
        arrays, info = base.load_arrays(Path(directory))
        if info.get("learner") != self.name or set(arrays) != {"users", "items"}:
            raise ArtifactError(f"{directory} holds a {info.get('learner')!r} model, not a "
                                f"{self.name!r} model")
        return Fitted(self.name, arrays, info, FitFacts(info["epochs"], info["epochs"]))


def _factor_choices(shape: DataShape) -> int:
    """A factor count worth trying first: more factors than items cannot help."""
    items = shape.entities[1] if shape.entities else 0
    return 128 if items == 0 or items >= 512 else 64


@register
class ALS(FactorLearner):
    """Implicit-feedback ALS (Hu, Koren and Volinsky): every unobserved pair is a weak
    negative, observed ones weigh 1 + alpha x confidence; strong and fast on play counts
    and clicks."""

    name = "als"
    relative_cost = 2.0
    fidelity = Fidelity("iterations", 3, 30)

    def defaults(self) -> Config:
        return {"factors": 128, "regularization": 10.0, "alpha": 1.0, "weighting": "binary"}

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"factors": IntDistribution(16, 256, log=True),
                "regularization": FloatDistribution(1e-3, 50.0, log=True),
                "alpha": FloatDistribution(0.1, 50.0, log=True),
                "weighting": CategoricalDistribution(["binary", "log", "value", "bm25"])}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        factors = _factor_choices(shape)
        return [{"factors": factors, "regularization": 10.0, "alpha": 1.0,
                 "weighting": "binary"},
                {"factors": 64, "regularization": 1.0, "alpha": 10.0, "weighting": "log"},
                {"factors": 32, "regularization": 0.1, "alpha": 5.0, "weighting": "bm25"}]

    def confidence(self, features: Features, y: np.ndarray, config: Config
                   ) -> sparse.csr_matrix:
        """The paper's confidence 1 + alpha x weight: implicit reads the stored value as the
        confidence itself and would weigh a pair below an unobserved one when alpha x
        weight < 1, so its own ``alpha`` stays 1."""
        matrix = weighted(features, y, str(config["weighting"]))
        matrix.data = (1.0 + float(config["alpha"]) * matrix.data).astype(np.float32)
        return matrix

    def make_model(self, config: Config, iterations: int, n_jobs: int, seed: int) -> Any:
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(
            factors=int(config["factors"]), regularization=float(config["regularization"]),
            alpha=1.0, iterations=iterations,
            calculate_training_loss=False, num_threads=n_jobs, random_state=seed)


@register
class BPR(FactorLearner):
    """Bayesian personalized ranking: SGD on sampled (seen, unseen) item pairs per user, so
    the factors learn an order rather than values; implicit adds an item bias."""

    name = "bpr"
    relative_cost = 2.5
    fidelity = Fidelity("iterations", 10, 200)

    def defaults(self) -> Config:
        return {"factors": 64, "learning_rate": 0.05, "regularization": 0.01}

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"factors": IntDistribution(16, 256, log=True),
                "learning_rate": FloatDistribution(1e-3, 0.3, log=True),
                "regularization": FloatDistribution(1e-5, 0.1, log=True)}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        return [{"factors": 64, "learning_rate": 0.05, "regularization": 0.01},
                {"factors": _factor_choices(shape), "learning_rate": 0.02,
                 "regularization": 0.001}]

    def make_model(self, config: Config, iterations: int, n_jobs: int, seed: int) -> Any:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(
            factors=int(config["factors"]), learning_rate=float(config["learning_rate"]),
            regularization=float(config["regularization"]), iterations=iterations,
            num_threads=n_jobs, random_state=seed)

