"""Biased matrix factorization of explicit ratings: rating = mean + user bias + item bias +
user factors . item factors, the model behind the Netflix-prize baselines.

It is fitted by alternating least squares in closed form (each user's bias and factors are
one ridge regression on the items they rated, then each item's on its raters) rather than
by SGD: every step is exact, so a few epochs converge, and the result depends on the seed
alone. The ridge penalty grows with the ratings an entity has (ALS-WR, Zhou et al. 2008),
which lets one regularization value suit both heavy and light users.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, Fidelity, FitFacts, Fitted, register
from accelml.core.task import Task
from accelml.errors import ArtifactError
from accelml.recsys.learners import base
from accelml.tabular.learners._common import merge_config, n_rounds, threads

#: Entities solved between two looks at the deadline.
DEADLINE_EVERY = 256
#: Spread of the initial item factors.
INIT_SCALE = 0.1
ARRAYS = frozenset({"user_bias", "item_bias", "users", "items"})


class _Side:
    """The rows of one side (users or items) grouped by entity: which rows each has and
    the entity code on the other side of each row."""

    def __init__(self, own: np.ndarray, other: np.ndarray, n: int) -> None:
        self.order = np.argsort(own, kind="stable")
        self.bounds = np.searchsorted(own[self.order], np.arange(n + 1))
        self.other = other[self.order]
        self.n = n


def _solve_side(side: _Side, residual: np.ndarray, other_factors: np.ndarray,
                regularization: float, deadline: Deadline) -> tuple[np.ndarray, bool]:
    """Each entity's [bias, factors] as the ridge solution on its rows: the features are
    [1, the other side's factors], the target ``residual`` (in the side's row order).
    Entities without rows get zeros. Returns (n x (1 + k) solution, finished in time)."""
    k = other_factors.shape[1]
    solution = np.zeros((side.n, k + 1))
    eye = np.eye(k + 1)
    for entity in range(side.n):
        start, stop = side.bounds[entity], side.bounds[entity + 1]
        if entity % DEADLINE_EVERY == 0 and deadline.expired():
            return solution, False
        if stop == start:
            continue
        design = np.hstack([np.ones((stop - start, 1)), other_factors[side.other[start:stop]]])
        gram = design.T @ design + regularization * (stop - start) * eye
        solution[entity] = np.linalg.solve(gram, design.T @ residual[start:stop])
    return solution, True


def _als_epochs(data: tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]],
                config: Config, epochs: int, deadline: Deadline, seed: int
                ) -> tuple[dict[str, np.ndarray], float, int]:
    """Alternate user and item solves for up to ``epochs`` epochs; (arrays, mean, epochs
    finished)."""
    users, items, ratings, (n_users, n_items) = data
    k, regularization = int(config["factors"]), float(config["regularization"])
    mean = float(ratings.mean())
    by_user, by_item = _Side(users, items, n_users), _Side(items, users, n_items)
    model = {"user_bias": np.zeros(n_users), "item_bias": np.zeros(n_items),
             "users": np.zeros((n_users, k)),
             "items": np.random.default_rng(seed).normal(0.0, INIT_SCALE, (n_items, k))}
    done = 0
    for _ in range(epochs):
        residual = ratings - mean - model["item_bias"][items]
        solved, in_time = _solve_side(by_user, residual[by_user.order], model["items"],
                                      regularization, deadline)
        model["user_bias"], model["users"] = solved[:, 0], solved[:, 1:]
        if not in_time:
            break
        residual = ratings - mean - model["user_bias"][users]
        solved, in_time = _solve_side(by_item, residual[by_item.order], model["users"],
                                      regularization, deadline)
        model["item_bias"], model["items"] = solved[:, 0], solved[:, 1:]
        if not in_time:
            break
        done += 1
        if deadline.expired():
            break
    return model, mean, done


def _estimates(model: dict[str, np.ndarray], info: dict[str, Any], features: Features
               ) -> np.ndarray:
    """The clipped rating estimate of each row's (user, item) pair, row by row."""
    users, items = base.codes(features)
    raw = (info["mean"] + model["user_bias"][users] + model["item_bias"][items]
           + np.einsum("ij,ij->i", model["users"][users], model["items"][items]))
    return np.clip(raw, info["low"], info["high"])


@register
class BiasedMF(base.RecsysLearner):
    """Biased matrix factorization of ratings, fitted by ALS; predicts rating estimates."""

    name = "biased_mf"
    relative_cost = 2.0
    fidelity = Fidelity("epochs", 2, 30)

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        return {"factors": IntDistribution(4, 128, log=True),
                "regularization": FloatDistribution(1e-3, 3.0, log=True)}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        return [{"factors": 32, "regularization": 0.1},
                {"factors": 8, "regularization": 0.3},
                {"factors": 96, "regularization": 0.05}]

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        """Factorize the ratings for up to ``fidelity`` epochs (fewer at the deadline).

        Raises:
            ValueError: the values are implicit feedback, not ratings.
        """
        if not base.is_explicit(features):
            raise ValueError("biased_mf needs explicit ratings (e.g. 1-5 stars); this data is "
                             "implicit feedback, so leave biased_mf out or give a rating column")
        config = merge_config(self.portfolio(task, DataShape.of(features))[0], config,
                              self.name)
        ratings = np.asarray(y, dtype=np.float64)
        epochs = n_rounds(self.fidelity, fidelity, self.name)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(threads(n_jobs), "blas"):
            model, mean, done = _als_epochs((*base.codes(features), ratings,
                                             base.shape_of(features)),
                                            config, epochs, deadline, seed)
        info: dict[str, Any] = {"learner": self.name, "predicts_ratings": True, "mean": mean,
                                "low": float(ratings.min()), "high": float(ratings.max()),
                                "epochs": done, "deadline_hit": done < epochs}
        if valid is not None and len(valid[1]):
            error = _estimates(model, info, valid[0]) - np.asarray(valid[1], np.float64)
            info["valid_rmse"] = float(np.sqrt(np.mean(error**2)))
        return Fitted(self.name, model, info,
                      FitFacts(units_trained=done, refit_units=max(done, 1)))

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        """Each row's rating estimate, clipped to the training ratings' range."""
        return _estimates(fitted.model, fitted.info, features)

    def score_users(self, fitted: Fitted, users: np.ndarray) -> np.ndarray:
        """Every item's clipped rating estimate for each of ``users``."""
        model, info = fitted.model, fitted.info
        users = np.asarray(users, dtype=np.int64)
        raw = (info["mean"] + model["user_bias"][users][:, None] + model["item_bias"][None, :]
               + model["users"][users] @ model["items"].T)
        return np.clip(raw, info["low"], info["high"])

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        """The biases and factors as .npz, the mean and rating range as JSON."""
        return base.save_arrays(Path(directory), fitted.model, fitted.info)

    def load(self, directory: Path, task: Task) -> Fitted:
        """Read what :meth:`save` wrote; another learner's directory is refused."""
        arrays, info = base.load_arrays(Path(directory))
        if info.get("learner") != self.name or set(arrays) != ARRAYS:
            raise ArtifactError(f"{directory} holds a {info.get('learner')!r} model, not a "
                                f"{self.name!r} model")
        return Fitted(self.name, arrays, info, FitFacts(info["epochs"], info["epochs"]))
