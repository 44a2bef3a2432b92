"""EASE (Steck, 2019, "Embarrassingly Shallow Autoencoders for Sparse Data"): a closed-form
item x item linear model, ``B = I - P / diag(P)`` with ``P = (X^T X + l2 I)^-1`` and a zero
diagonal, so no item predicts itself. Scores are ``history @ B``.

Often the strongest model on implicit feedback with up to tens of thousands of items; its
cost is one dense items x items inverse, so catalogues above :data:`MAX_ITEMS` are refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from scipy import sparse
from threadpoolctl import threadpool_limits

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, FitFacts, Fitted, register
from accelml.core.task import Task
from accelml.recsys.learners.base import interactions
from accelml.recsys.learners.neighbours import MemoryLearner, Reasons, reasons_from, similar_from

#: Items above which the dense items x items matrices (several GB in float32) are refused.
MAX_ITEMS = 20_000
#: Items up to which the inverse runs in float64 (exact and cheap); float32 above.
FLOAT64_ITEMS = 4_000


def ease_weights(history: sparse.csr_matrix, l2: float, n_jobs: int) -> np.ndarray:
    """The EASE matrix of a users x items ``history``: ``B[i, j] = -P[i, j] / P[j, j]``,
    ``B[j, j] = 0``, with ``P = (X^T X + l2 I)^-1``."""
    n_items = history.shape[1]
    if n_items > MAX_ITEMS:
        raise ValueError(f"ease holds dense items x items matrices and refuses {n_items:,} "
                         f"items, above its limit of {MAX_ITEMS:,}; use item_knn or als")
    dtype = np.float64 if n_items <= FLOAT64_ITEMS else np.float32
    matrix = history.astype(dtype)
    gram = (matrix.T @ matrix).toarray()
    gram[np.diag_indices(n_items)] += l2
    with threadpool_limits(n_jobs):
        inverse = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
    inverse /= -np.diag(inverse)[None, :]
    np.fill_diagonal(inverse, 0.0)
    return np.asarray(inverse, dtype=np.float32)


@register
class EASE(MemoryLearner):
    """Closed-form item x item autoencoder; ``l2`` is its only real knob."""

    name = "ease"
    relative_cost = 0.3

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"l2": FloatDistribution(1.0, 5000.0, log=True),
                "weighting": CategoricalDistribution(["binary", "log", "value"])}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        # MovieLens-sized data peaks near 500; smaller data prefers less, larger more.
        return [{"l2": value, "weighting": "binary"} for value in (500.0, 100.0, 2000.0)]

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        """One solve; deterministic. Raises ValueError above :data:`MAX_ITEMS` items."""
        history = interactions(features, y, config.get("weighting", "binary"))
        weights = ease_weights(history, float(config.get("l2", 500.0)), n_jobs)
        info: dict[str, Any] = {"learner": self.name, "n_items": int(history.shape[1]),
                                "predicts_ratings": False}
        return Fitted(self.name, {"history": history, "weights": weights}, info, FitFacts())

    def score_users(self, fitted: Fitted, users: np.ndarray) -> np.ndarray:
        """``history[users] @ B``."""
        picked = fitted.model["history"][np.asarray(users, dtype=np.int64)]
        return np.asarray(picked @ fitted.model["weights"], dtype=np.float64)

    def similar_items(self, fitted: Fitted, items: np.ndarray, k: int
                      ) -> tuple[np.ndarray, np.ndarray]:
        """The items whose presence predicts each of ``items`` most (columns of B)."""
        return similar_from(fitted.model["weights"], items, k)

    def reasons(self, fitted: Fitted, user: int, items: np.ndarray, top: int = 3) -> Reasons:
        """The user's history items behind each of ``items``' scores, best first."""
        return reasons_from(fitted.model["history"], fitted.model["weights"], user, items, top)
