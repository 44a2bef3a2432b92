"""What every recommendation learner shares: its modality and task kind, how interaction rows
become a users x items matrix, and plain-array saving (no pickles).

Rows of a ranking task's :class:`~accelml.core.data.Features` are interactions: ``X[:, 0]``
the user code, ``X[:, 1]`` the item code, ``X[:, 2]`` the time (NaN when the data has none);
``y`` the interaction's value: a rating (explicit data) or how often the pair occurred
(implicit). ``block_info["interactions"]`` holds ``n_users``, ``n_items``, ``explicit`` and
``relevant_min``; ``Features.side`` may hold ``"items"`` and ``"users"`` matrices (one row
per code, NaN for missing; ``block_info["side"][name]`` names their columns and lists the
categorical ones).

A recommendation learner implements, besides the learner protocol:

- ``score_users(fitted, users) -> ndarray``: a (len(users), n_items) score matrix, higher is
  better, seen items not masked (the caller masks them);
- ``predict(fitted, features)``: one score per (user, item) row; a rating estimate when
  ``fitted.info["predicts_ratings"]`` is True;
- optionally ``similar_items(fitted, items, k) -> (items, scores)`` and
  ``reasons(fitted, user, items, top) -> list of [(history item, contribution), ...]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy import sparse

from accelml.core import arrays as arrays_file
from accelml.core.arrays import save_arrays as save_arrays
from accelml.core.data import Features
from accelml.core.learner import Fidelity, LearnerBase
from accelml.core.ranking import interaction_counts, user_item_matrix
from accelml.core.task import TaskKind

RANKING = frozenset({TaskKind.RANKING})


class RecsysLearner(LearnerBase):
    """Defaults of every recommendation learner."""

    modality: ClassVar[str] = "recsys"
    task_kinds: ClassVar[frozenset[TaskKind]] = RANKING
    uses_gpu: ClassVar[bool] = False
    fidelity: ClassVar[Fidelity | None] = None


def shape_of(features: Features) -> tuple[int, int]:
    """(users, items) of the task, whichever rows ``features`` holds."""
    return interaction_counts(dict(features.block_info))


def is_explicit(features: Features) -> bool:
    """Whether the values are ratings (else counts of implicit feedback)."""
    return bool(features.block_info["interactions"].get("explicit", False))


def interactions(features: Features, y: np.ndarray, weighting: str = "binary"
                 ) -> sparse.csr_matrix:
    """The users x items matrix of the rows: "binary" (1 per pair), "value" (the rating or
    count), or "log" (1 + log of the value, damping heavy users' repeats)."""
    shape = shape_of(features)
    matrix = user_item_matrix(features.X, None if weighting == "binary" else y, shape)
    if weighting == "binary":
        matrix.data[:] = 1.0
    elif weighting == "log":
        matrix.data = 1.0 + np.log1p(np.maximum(matrix.data, 0.0))
    return matrix.astype(np.float32)


def codes(features: Features) -> tuple[np.ndarray, np.ndarray]:
    """The user and item codes of the rows."""
    return (np.asarray(features.X[:, 0], dtype=np.int64),
            np.asarray(features.X[:, 1], dtype=np.int64))


def load_arrays(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read what :func:`save_arrays` wrote: (arrays, info)."""
    return arrays_file.load_arrays(directory, "recommendation model")
