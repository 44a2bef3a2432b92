"""Most-popular items: every user gets the same list, the items most users interacted with.

The baseline every recommender must beat, and the cheapest member a blend can lean on for
users with little history. Optionally recency-weighted: an interaction counts ``0.5 **
(age / half_life)``, its age measured from the latest training interaction, so what is
popular now outranks what was popular long ago.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, FitFacts, Fitted, register
from accelml.core.task import Task
from accelml.recsys.learners.base import RecsysLearner, codes, save_arrays, shape_of
from accelml.recsys.learners.neighbours import load_model

TIME = 2
DAY_S = 86_400.0


def recency_weights(X: np.ndarray, half_life_days: float | None) -> np.ndarray:
    """Each row's weight: 1 without a half-life, else halved per ``half_life_days`` of age
    before the latest row; rows without a time (NaN) count fully."""
    weights = np.ones(len(X), dtype=np.float64)
    if half_life_days is None or X.shape[1] <= TIME:
        return weights
    times = np.asarray(X[:, TIME], dtype=np.float64)
    known = ~np.isnan(times)
    if known.any():
        age_days = (times[known].max() - times[known]) / DAY_S
        weights[known] = 0.5 ** (age_days / float(half_life_days))
    return weights


def item_popularity(features: Features, half_life_days: float | None) -> np.ndarray:
    """How many users interacted with each item, each user counted once per item at the
    weight of their latest interaction with it."""
    users, items = codes(features)
    n_items = shape_of(features)[1]
    weights = recency_weights(features.X, half_life_days)
    order = np.argsort(-weights, kind="stable")  # a pair's first row is its heaviest
    _, first = np.unique(users[order] * n_items + items[order], return_index=True)
    kept = order[first]
    return np.bincount(items[kept], weights=weights[kept], minlength=n_items)


@register
class Popularity(RecsysLearner):
    """Scores each item by its (optionally recency-weighted) count of users."""

    name = "popularity"
    relative_cost = 0.05

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"half_life_days": CategoricalDistribution([None, 7.0, 30.0, 180.0, 720.0])}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        return [{"half_life_days": None}, {"half_life_days": 180.0}]

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        """Counts the training users of each item; one pass, deterministic."""
        scores = item_popularity(features, config.get("half_life_days"))
        info = {"learner": self.name, "n_items": len(scores), "predicts_ratings": False}
        return Fitted(self.name, {"scores": scores}, info, FitFacts())

    def score_users(self, fitted: Fitted, users: np.ndarray) -> np.ndarray:
        """The same popularity row for each of ``users``."""
        return np.tile(fitted.model["scores"], (len(users), 1))

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        """The popularity of each row's item."""
        return np.asarray(fitted.model["scores"][codes(features)[1]], dtype=np.float64)

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        """The scores as .npz, the info as JSON."""
        return save_arrays(directory, fitted.model, fitted.info)

    def load(self, directory: Path, task: Task) -> Fitted:
        """What :meth:`save` wrote; a directory of another learner is refused."""
        return load_model(directory, self.name)
