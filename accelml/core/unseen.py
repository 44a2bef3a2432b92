"""Rows unlike the training rows: values missing where (almost) no training row missed them.

A model never learned what such a row means: a logistic regression whose numeric inputs are
all missing sees their imputed means, and answers from the remaining columns as sure as ever.
Validation cannot catch it (no validated row looks like that), so a classifier's
probabilities for such a row are mixed with the training class shares in proportion to the
share of its inputs that are missing unexpectedly; every other row is left exactly as the
model answers it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: A column is expected to be present when fewer than this share of training rows miss it.
RARE_MISSING = 0.01


@dataclass(frozen=True)
class UnseenGuard:
    """Which feature columns training rows (almost) always had, and the class shares."""

    rare: np.ndarray  # bool per feature column
    prior: np.ndarray  # class shares of the training rows

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, n_classes: int) -> UnseenGuard:
        rare = np.isnan(X).mean(axis=0) < RARE_MISSING
        prior = np.bincount(y.astype(int), minlength=n_classes) / max(len(y), 1)
        return cls(rare, prior.astype(np.float64))

    def weights(self, X: np.ndarray) -> np.ndarray:
        """Per row, the share of feature columns missing where training rows had a value."""
        share: np.ndarray = (np.isnan(X) & self.rare).sum(axis=1) / max(X.shape[1], 1)
        return share

    def shrink(self, X: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """``proba`` mixed with the class shares by each row's :meth:`weights`."""
        weight = self.weights(X)
        if not weight.any():
            return proba
        mixed: np.ndarray = (1.0 - weight)[:, None] * proba + weight[:, None] * self.prior
        return mixed

    def to_dict(self) -> dict[str, Any]:
        return {"rare": self.rare.astype(int).tolist(), "prior": self.prior.tolist()}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> UnseenGuard:
        return cls(np.asarray(state["rare"], dtype=bool),
                   np.asarray(state["prior"], dtype=np.float64))
