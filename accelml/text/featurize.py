"""TF-IDF from the n-gram counts computed once per dataset, and the dense side columns.

The preprocessor counts word 1-3 grams and character 1-5 grams (within word boundaries) of
every text once (:mod:`accelml.text.preprocess`), columns ordered by n-gram order. A trial's
featurizer config picks orders, a minimum document frequency, a cap on columns and sublinear
term frequency; :func:`fit_tfidf` turns that into a :class:`TfidfState` (columns kept, idf) on
the trial's training rows only, in a fraction of a second, so every trial shares the costly
tokenizing. The state is plain arrays, saved with the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
)
from scipy import sparse

from accelml.core.data import DataShape, Features

#: Character n-gram ranges a config may pick ("none": words only).
CHAR_RANGES = ("none", "2-4", "2-5", "3-5", "1-5")
#: Column caps per block (0: every column that passes min_df).
MAX_FEATURES = (0, 30_000, 100_000, 300_000)
#: Config keys of the featurizer, shared by every learner over n-grams.
FEATURIZER_KEYS = ("word_ngrams", "char_ngrams", "min_df", "max_features", "sublinear_tf",
                   "embed")


def featurizer_space(shape: DataShape, *, embeddings: bool = True
                     ) -> dict[str, BaseDistribution]:
    """The featurizer's hyperparameters (embeddings only when the data has them and the
    learner reads them)."""
    space: dict[str, BaseDistribution] = {
        "word_ngrams": CategoricalDistribution([1, 2, 3]),
        "char_ngrams": CategoricalDistribution(list(CHAR_RANGES)),
        "min_df": CategoricalDistribution([1, 2, 3, 5]),
        "max_features": CategoricalDistribution(list(MAX_FEATURES)),
        "sublinear_tf": CategoricalDistribution([True, False]),
    }
    if embeddings and "embed" in shape.blocks:
        space["embed"] = CategoricalDistribution([False, True])
    return space


def featurizer_defaults(shape: DataShape, *, embeddings: bool = True) -> dict[str, Any]:
    """Word 1-2 grams and character 2-5 grams, sublinear tf: strong on most corpora."""
    defaults: dict[str, Any] = {"word_ngrams": 2, "char_ngrams": "2-5", "min_df": 2,
                                "max_features": 0, "sublinear_tf": True}
    if embeddings and "embed" in shape.blocks:
        defaults["embed"] = False
    return defaults


@dataclass(frozen=True)
class TfidfState:
    """A fitted featurizer: per block, the count columns kept and their idf weights."""

    columns: dict[str, np.ndarray]
    idf: dict[str, np.ndarray]
    sublinear: bool

    def arrays(self) -> dict[str, np.ndarray]:
        """The state as named arrays (saved with the model)."""
        out = {f"cols_{k}": v for k, v in self.columns.items()}
        out.update({f"idf_{k}": v for k, v in self.idf.items()})
        out["sublinear"] = np.array([self.sublinear])
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> TfidfState:
        names = [k[5:] for k in arrays if k.startswith("cols_")]
        return cls({n: np.asarray(arrays[f"cols_{n}"]) for n in names},
                   {n: np.asarray(arrays[f"idf_{n}"]) for n in names},
                   bool(np.asarray(arrays["sublinear"])[0]))

    @property
    def n_columns(self) -> int:
        return int(sum(len(c) for c in self.columns.values()))


def _order_span(info: Mapping[str, Any], low: int, high: int) -> tuple[int, int]:
    """Columns [start, end) of n-grams of order low..high (columns sorted by order)."""
    ends = list(info["order_ends"])
    high = min(high, len(ends))
    start = 0 if low <= 1 else ends[low - 2]
    return start, ends[high - 1] if high >= 1 else 0


def _ranges(config: Mapping[str, Any], features: Features) -> dict[str, tuple[int, int]]:
    """Which order range of each counted block the config asks for."""
    ranges: dict[str, tuple[int, int]] = {}
    if "word" in features.blocks:
        ranges["word"] = (1, int(config.get("word_ngrams", 2)))
    char = str(config.get("char_ngrams", "none"))
    if char != "none" and "char" in features.blocks:
        low, high = (int(part) for part in char.split("-"))
        ranges["char"] = (low, high)
    return ranges


def fit_tfidf(features: Features, config: Mapping[str, Any]) -> TfidfState:
    """Pick columns and idf weights on these (training) rows."""
    columns: dict[str, np.ndarray] = {}
    idf: dict[str, np.ndarray] = {}
    n = max(len(features), 1)
    for name, (low, high) in _ranges(config, features).items():
        start, end = _order_span(features.block_info[name], low, high)
        counts = features.blocks[name][:, start:end]
        df = np.bincount(counts.indices, minlength=end - start) if counts.nnz else \
            np.zeros(end - start, dtype=np.int64)
        keep = np.flatnonzero(df >= int(config.get("min_df", 1)))
        cap = int(config.get("max_features", 0))
        if cap and len(keep) > cap:
            keep = np.sort(keep[np.argsort(-df[keep], kind="stable")[:cap]])
        columns[name] = (keep + start).astype(np.int32)
        idf[name] = (np.log((1 + n) / (1 + df[keep])) + 1).astype(np.float32)
    return TfidfState(columns, idf, bool(config.get("sublinear_tf", True)))


def apply_tfidf(features: Features, state: TfidfState) -> sparse.csr_matrix:
    """The TF-IDF matrix of ``features`` (each block L2-normalised, blocks side by side)."""
    parts = []
    for name, cols in state.columns.items():
        counts = sparse.csr_matrix(features.blocks[name][:, cols], dtype=np.float32)
        if state.sublinear and counts.nnz:
            counts.data = 1.0 + np.log(counts.data)
        weighted = counts.multiply(state.idf[name][None, :]).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
        norms[norms == 0] = 1.0
        parts.append(sparse.csr_matrix(sparse.diags(1.0 / norms) @ weighted, dtype=np.float32))
    if not parts:
        return sparse.csr_matrix((len(features), 0), dtype=np.float32)
    return sparse.hstack(parts, format="csr", dtype=np.float32)


@dataclass(frozen=True)
class DenseState:
    """Scaling of the table's side columns (numbers; category codes go one-hot)."""

    mean: np.ndarray
    scale: np.ndarray
    categorical: tuple[int, ...]
    cardinalities: tuple[int, ...]

    def arrays(self) -> dict[str, np.ndarray]:
        return {"dense_mean": self.mean, "dense_scale": self.scale,
                "dense_categorical": np.array(self.categorical, dtype=np.int64),
                "dense_cardinalities": np.array(self.cardinalities, dtype=np.int64)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> DenseState:
        return cls(np.asarray(arrays["dense_mean"]), np.asarray(arrays["dense_scale"]),
                   tuple(int(c) for c in arrays["dense_categorical"]),
                   tuple(int(c) for c in arrays["dense_cardinalities"]))


def fit_dense(features: Features) -> DenseState:
    """Means and scales of the table's numeric side columns, on these rows."""
    matrix = np.asarray(features.X, dtype=np.float64)
    with np.errstate(all="ignore"):
        mean = np.nan_to_num(np.nanmean(matrix, axis=0)) if len(matrix) else \
            np.zeros(matrix.shape[1])
        scale = np.nan_to_num(np.nanstd(matrix, axis=0), nan=1.0)
    scale[scale == 0] = 1.0
    return DenseState(mean, scale, tuple(features.categorical), tuple(features.cardinalities))


def apply_dense(features: Features, state: DenseState) -> sparse.csr_matrix:
    """Standardised numbers (missing: 0) and one-hot category codes, as a sparse block."""
    matrix = np.asarray(features.X, dtype=np.float64)
    numeric = [c for c in range(matrix.shape[1]) if c not in state.categorical]
    scaled = (matrix[:, numeric] - state.mean[numeric]) / state.scale[numeric]
    parts = [sparse.csr_matrix(np.nan_to_num(scaled), dtype=np.float32)]
    for column, cardinality in zip(state.categorical, state.cardinalities, strict=True):
        codes = matrix[:, column]
        rows = np.flatnonzero(np.isfinite(codes) & (codes >= 0) & (codes < cardinality))
        parts.append(sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, codes[rows].astype(np.int64))),
            shape=(len(matrix), cardinality)))
    return sparse.hstack(parts, format="csr", dtype=np.float32)


def design_matrix(features: Features, tfidf: TfidfState, dense: DenseState | None,
                  embed: bool) -> sparse.csr_matrix:
    """What a linear learner eats: TF-IDF blocks, the sentence embeddings as they are (unit
    length, like each TF-IDF block: standardised, their 384 columns would outweigh the
    n-grams and slow the solvers tenfold), then the table's side columns."""
    parts = [apply_tfidf(features, tfidf)]
    if embed and "embed" in features.blocks:
        parts.append(sparse.csr_matrix(np.asarray(features.blocks["embed"], dtype=np.float32)))
    if dense is not None:
        parts.append(apply_dense(features, dense))
    return sparse.hstack(parts, format="csr", dtype=np.float32)
