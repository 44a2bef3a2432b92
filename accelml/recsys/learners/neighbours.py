"""Neighbourhood recommenders: item-based and user-based k nearest neighbours over the users x
items matrix, with shrunk cosine similarities (``dot / (norm_i * norm_j + shrink)``, which
damps similarities resting on few shared users) pruned to each entity's ``neighbours`` best.

Everything stays sparse: similarities are computed a block of rows at a time and pruned
before the next block, so memory follows ``neighbours`` x entities, not entities squared.

The helpers below serve every item-to-item model (EASE too): its matrix holds, at ``[i, j]``,
the weight a history item ``i`` gives a candidate ``j``, so scores are ``history @ matrix``,
the items most like ``j`` are column ``j``, and the reasons for ``j`` are the history items
with the largest ``history weight x matrix[i, j]``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

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
from accelml.core.learner import Config, FitFacts, Fitted, register
from accelml.core.ranking import CHUNK_CELLS, top_items
from accelml.core.task import Task
from accelml.errors import ArtifactError
from accelml.recsys.learners.base import (
    RecsysLearner,
    codes,
    interactions,
    load_arrays,
    save_arrays,
    shape_of,
)

NEIGHBOURS_LOW, NEIGHBOURS_HIGH = 10, 1000
#: Cells of one block of the similarity product before it is pruned.
BLOCK_CELLS = 1 << 22
#: BM25's saturation and length-normalisation constants (those of implicit's
#: ``BM25Recommender``).
BM25_K1, BM25_B = 1.2, 0.75
Reasons = list[list[tuple[int, float]]]


def bm25_weight(matrix: sparse.csr_matrix, k1: float = BM25_K1, b: float = BM25_B
                ) -> sparse.csr_matrix:
    """BM25 reweighting of a users x items matrix, items as documents and users as terms
    (as implicit's ``bm25_weight`` on its item x user matrix): a user with many items says
    less about each (inverse document frequency), a popular item's vector is
    length-normalised, and repeats saturate. The idf is Lucene's ``log(1 + (N - n + 0.5) /
    (n + 0.5))``, which stays positive for users who touched almost every item."""
    coo = matrix.tocoo()
    n_items = matrix.shape[1]
    per_user = np.bincount(coo.row, minlength=matrix.shape[0])
    idf = np.log1p((n_items - per_user + 0.5) / (per_user + 0.5))
    item_sums = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()
    length = (1.0 - b) + b * item_sums / max(float(item_sums.mean()), 1e-12)
    values = np.maximum(coo.data.astype(np.float64), 0.0)  # a negative value is no use
    data = values * (k1 + 1.0) / (k1 * length[coo.col] + values) * idf[coo.row]
    return sparse.csr_matrix((data.astype(np.float32), (coo.row, coo.col)), shape=matrix.shape)


def weighted(features: Features, y: np.ndarray, weighting: str) -> sparse.csr_matrix:
    """The users x items matrix under ``weighting``: bm25 over the values, else
    :func:`~accelml.recsys.learners.base.interactions`."""
    if weighting == "bm25":
        return bm25_weight(interactions(features, y, "value"))
    return interactions(features, y, weighting)


def _block_neighbours(dots: sparse.csr_matrix, start: int, norms: np.ndarray, k: int,
                      shrink: float) -> sparse.csr_matrix:
    """The ``k`` best shrunk cosines of each row of a block of dot products whose first row
    is row ``start``; itself and non-positive similarities left out. The block is at most
    :data:`BLOCK_CELLS` cells, so it is pruned dense: a sparse sort of a dense-ish block
    (popular items make it so) is many times slower."""
    n_rows, n = dots.shape
    own = np.arange(start, start + n_rows)
    denominator = norms[own, None] * norms[None, :] + np.float32(shrink)
    sims = dots.toarray() / np.where(denominator > 0, denominator, np.float32(1))
    sims[np.arange(n_rows), own] = 0.0
    if k < n:
        columns = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    else:
        columns = np.broadcast_to(np.arange(n), (n_rows, n))
    values = np.take_along_axis(sims, columns, axis=1)
    keep = values > 0
    rows = np.broadcast_to(np.arange(n_rows)[:, None], columns.shape)
    return sparse.csr_matrix((values[keep].astype(np.float32), (rows[keep], columns[keep])),
                             shape=(n_rows, n))


def top_neighbours(vectors: sparse.csr_matrix, k: int, shrink: float, deadline: Deadline
                   ) -> sparse.csr_matrix:
    """Row ``r`` of the result holds ``r``'s ``k`` most similar rows of ``vectors`` by
    shrunk cosine, itself left out. Rows are done in blocks; once ``deadline`` passes the
    remaining rows keep no neighbours (a usable, weaker model)."""
    n = vectors.shape[0]
    squares = np.asarray(vectors.multiply(vectors).sum(axis=1), np.float64).ravel()
    norms = np.sqrt(squares).astype(np.float32)
    others = vectors.T.tocsc()
    step = max(1, BLOCK_CELLS // max(1, n))
    parts = []
    for start in range(0, n, step):
        if deadline.expired():
            parts.append(sparse.csr_matrix((n - start, n), dtype=np.float32))
            break
        dots = (vectors[start:start + step] @ others).tocsr()
        parts.append(_block_neighbours(dots, start, norms, k, shrink))
    return sparse.vstack(parts, format="csr") if parts else sparse.csr_matrix((0, 0))


def neighbour_range(count: int) -> IntDistribution:
    """Neighbours to search among ``count`` entities (0: unknown), at most ``count - 1``."""
    high = NEIGHBOURS_HIGH if count <= 0 else max(1, min(NEIGHBOURS_HIGH, count - 1))
    return IntDistribution(min(NEIGHBOURS_LOW, high), high, log=True)


def capped_portfolio(configs: list[Config], count: int) -> list[Config]:
    """``configs`` with ``neighbours`` capped to :func:`neighbour_range`, duplicates dropped
    (a small catalogue makes several the same)."""
    space = neighbour_range(count)
    out: list[Config] = []
    for config in configs:
        capped = {**config, "neighbours": int(np.clip(config["neighbours"], space.low,
                                                      space.high))}
        if capped not in out:
            out.append(capped)
    return out


def pair_scores(score_users: Callable[[np.ndarray], np.ndarray], features: Features,
                n_items: int) -> np.ndarray:
    """One score per (user, item) row, read from ``score_users`` of the rows' users, in
    chunks of at most :data:`~accelml.core.ranking.CHUNK_CELLS` cells. Each user's row of
    scores does not depend on the others scored with it, so one row alone gets the same."""
    users, items = codes(features)
    out = np.zeros(len(users), dtype=np.float64)
    unique, inverse = np.unique(users, return_inverse=True)
    step = max(1, CHUNK_CELLS // max(1, n_items))
    for start in range(0, len(unique), step):
        scores = score_users(unique[start:start + step])
        rows = (inverse >= start) & (inverse < start + step)
        out[rows] = scores[inverse[rows] - start, items[rows]]
    return out


def similar_from(matrix: Any, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` items with the largest weight in each of ``items``' columns of an item x
    item ``matrix`` (sparse: only stored entries count), the item itself left out; -1 and
    -inf pad where fewer are left."""
    items = np.asarray(items, dtype=np.int64)
    if sparse.issparse(matrix):
        columns = matrix.T.tocsr()[items].tocoo()
        block = np.full(columns.shape, -np.inf)
        block[columns.row, columns.col] = columns.data
    else:
        block = np.array(matrix[:, items].T, dtype=np.float64)
    block[np.arange(len(items)), items] = -np.inf
    return top_items(block, None, k)


def reasons_from(history: sparse.csr_matrix, matrix: Any, user: int, items: np.ndarray,
                 top: int) -> Reasons:
    """For each of ``items``: the user's history items that pushed it most (history weight x
    ``matrix[history item, item]``), as (item, contribution) pairs, best first; only
    positive contributions count as reasons; an unknown item (code -1) has none."""
    row = history[int(user)]
    seen, weights = row.indices.astype(np.int64), row.data.astype(np.float64)
    items = np.asarray(items, dtype=np.int64)
    picked = matrix[seen][:, np.maximum(items, 0)]
    part = picked.toarray() if sparse.issparse(picked) else np.asarray(picked)
    contributions = weights[:, None] * part
    out: Reasons = []
    for item, column in zip(items, contributions.T, strict=True):
        order = np.argsort(-column, kind="stable")[:top]
        out.append([(int(seen[i]), float(column[i])) for i in order
                    if column[i] > 0 and item >= 0])
    return out


def load_model(directory: Path, name: str) -> Fitted:
    """A model that ``save_arrays`` wrote for learner ``name``; another learner's is refused."""
    arrays, info = load_arrays(directory)
    if info.get("learner") != name:
        raise ArtifactError(f"{directory} holds a model of learner {info.get('learner')!r}, "
                            f"not {name!r}; load it with that learner")
    return Fitted(name, arrays, info, FitFacts())


def _info(name: str, n_items: int) -> dict[str, Any]:
    return {"learner": name, "n_items": int(n_items), "predicts_ratings": False}


class MemoryLearner(RecsysLearner):
    """What the kNN learners and EASE share: saving, loading and per-row prediction."""

    name: ClassVar[str]

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        """The score of each row's item for the row's user (as :meth:`score_users`)."""
        return pair_scores(lambda users: self.score_users(fitted, users), features,
                           int(fitted.info["n_items"]))

    def score_users(self, fitted: Fitted, users: np.ndarray) -> np.ndarray:
        """Scores of every item for ``users`` (len(users) x items)."""
        raise NotImplementedError

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        """The matrices as one .npz, the info as JSON."""
        return save_arrays(directory, fitted.model, fitted.info)

    def load(self, directory: Path, task: Task) -> Fitted:
        """What :meth:`save` wrote; a directory of another learner is refused."""
        return load_model(directory, self.name)


@register
class ItemKNN(MemoryLearner):
    """Item-based kNN: an item's score is the user's history weights summed over its most
    similar items. Strong and cheap on implicit feedback, above all with BM25 weighting."""

    name = "item_knn"
    relative_cost = 0.2

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        items = shape.entities[1] if len(shape.entities) == 2 else 0
        return {"neighbours": neighbour_range(items),
                "shrink": FloatDistribution(0.0, 200.0),
                "weighting": CategoricalDistribution(["bm25", "binary", "log", "value"]),
                "normalize": CategoricalDistribution([False, True])}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        items = shape.entities[1] if len(shape.entities) == 2 else 0
        base = {"shrink": 10.0, "weighting": "bm25", "normalize": False}
        return capped_portfolio([{**base, "neighbours": 100}, {**base, "neighbours": 400},
                                 {**base, "neighbours": 50, "weighting": "binary"}], items)

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        """Similarities from the weighted matrix, pruned per item; deterministic (no seed)."""
        history = weighted(features, y, config.get("weighting", "bm25"))
        n_items = history.shape[1]
        k = max(1, min(int(config.get("neighbours", 100)), n_items - 1))
        rows = top_neighbours(history.T.tocsr(), k, float(config.get("shrink", 10.0)),
                              deadline)  # row j: the neighbours of item j
        if config.get("normalize", False):
            sums = np.asarray(abs(rows).sum(axis=1), np.float64).ravel()
            rows = sparse.diags(1.0 / np.where(sums > 0, sums, 1.0)) @ rows
        similarity = rows.T.tocsr().astype(np.float32)
        return Fitted(self.name, {"history": history, "similarity": similarity},
                      _info(self.name, n_items), FitFacts())

    def score_users(self, fitted: Fitted, users: np.ndarray) -> np.ndarray:
        model = fitted.model
        picked = model["history"][np.asarray(users, dtype=np.int64)]
        return np.asarray((picked @ model["similarity"]).toarray(), dtype=np.float64)

    def similar_items(self, fitted: Fitted, items: np.ndarray, k: int
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Each item's ``k`` nearest neighbours and their similarities (-1 padded)."""
        return similar_from(fitted.model["similarity"], items, k)

    def reasons(self, fitted: Fitted, user: int, items: np.ndarray, top: int = 3) -> Reasons:
        """The user's history items behind each of ``items``' scores, best first."""
        return reasons_from(fitted.model["history"], fitted.model["similarity"], user,
                            items, top)


@register
class UserKNN(MemoryLearner):
    """User-based kNN: an item's score is the similarity-weighted votes of the user's most
    similar users. Complements item kNN where users are fewer or denser than items."""

    name = "user_knn"
    relative_cost = 0.25

    def space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        users = shape.entities[0] if len(shape.entities) == 2 else 0
        return {"neighbours": neighbour_range(users),
                "shrink": FloatDistribution(0.0, 200.0),
                "weighting": CategoricalDistribution(["binary", "log", "value"])}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        users = shape.entities[0] if len(shape.entities) == 2 else 0
        return capped_portfolio([{"neighbours": 50, "shrink": 10.0, "weighting": "binary"},
                                 {"neighbours": 200, "shrink": 10.0, "weighting": "log"},
                                 {"neighbours": 20, "shrink": 0.0, "weighting": "binary"}],
                                users)

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        """User similarities from the weighted matrix, pruned per user; deterministic."""
        history = weighted(features, y, config.get("weighting", "binary"))
        n_users = shape_of(features)[0]
        k = max(1, min(int(config.get("neighbours", 50)), n_users - 1))
        similarity = top_neighbours(history, k, float(config.get("shrink", 10.0)), deadline)
        return Fitted(self.name, {"history": history, "similarity": similarity},
                      _info(self.name, history.shape[1]), FitFacts())

    def score_users(self, fitted: Fitted, users: np.ndarray) -> np.ndarray:
        model = fitted.model
        picked = model["similarity"][np.asarray(users, dtype=np.int64)]
        return np.asarray((picked @ model["history"]).toarray(), dtype=np.float64)
