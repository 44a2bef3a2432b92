"""What the text learners over n-grams share: the featurizer around a linear scorer.

Each fit learns its featurizer on its own training rows (:mod:`accelml.text.featurize`), then
a scorer on the design matrix; the model is a dict of plain arrays (featurizer state,
weights), saved as one ``.npz`` without pickles and turned into probabilities here, so
predicting needs no fitted scikit-learn object at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from optuna.distributions import BaseDistribution
from scipy import sparse

from accelml.core.data import NO_DATA, DataShape, Features
from accelml.core.learner import Config
from accelml.core.task import Task
from accelml.tabular.learners._common import TabularLearner, check_model_file, merge_config
from accelml.text.featurize import (
    FEATURIZER_KEYS,
    DenseState,
    TfidfState,
    design_matrix,
    featurizer_defaults,
    featurizer_space,
    fit_dense,
    fit_tfidf,
)

MODEL_FILE = "model.npz"
Arrays = dict[str, np.ndarray]


class TextLearner(TabularLearner):
    """A learner of the text modality whose model is a dict of arrays."""

    modality: ClassVar[str] = "text"
    #: Whether the learner can read sentence embeddings (naive Bayes needs counts).
    reads_embeddings: ClassVar[bool] = True

    def own_space(self, task: Task, shape: DataShape) -> dict[str, BaseDistribution]:
        raise NotImplementedError

    def own_portfolio(self, task: Task) -> list[Config]:
        """The learner's own strong settings, best first (the first holds every key)."""
        raise NotImplementedError

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        return {**featurizer_space(shape, embeddings=self.reads_embeddings),
                **self.own_space(task, shape)}

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        base = featurizer_defaults(shape, embeddings=self.reads_embeddings)
        configs = [{**base, **own} for own in self.own_portfolio(task)]
        if "embed" in base:
            configs.insert(1, {**configs[0], "embed": True})
        return configs

    def defaults(self, task: Task) -> Config:
        """The first portfolio config, and no embeddings (a key only data with them has)."""
        defaults = self.portfolio(task, NO_DATA)[0]
        return {**defaults, "embed": False} if self.reads_embeddings else defaults

    def split_config(self, config: Config, task: Task) -> tuple[Config, Config]:
        """(featurizer settings, the learner's own), unknown keys refused."""
        merged = merge_config(self.defaults(task), config, self.name)
        featurizer = {k: v for k, v in merged.items() if k in FEATURIZER_KEYS}
        featurizer.setdefault("embed", False)
        own = {k: v for k, v in merged.items() if k not in FEATURIZER_KEYS}
        return featurizer, own

    def featurize(self, features: Features, featurizer: Config
                  ) -> tuple[sparse.csr_matrix, Arrays]:
        """The training design matrix and the featurizer state as arrays."""
        tfidf = fit_tfidf(features, featurizer)
        embed = bool(featurizer.get("embed")) and "embed" in features.blocks
        dense = fit_dense(features) if features.X.shape[1] else None
        arrays = tfidf.arrays()
        if dense is not None:
            arrays.update(dense.arrays())
        arrays["embed"] = np.array([embed])
        return design_matrix(features, tfidf, dense, embed), arrays

    def _save_model(self, model: Any, directory: Path) -> list[Path]:
        path = directory / MODEL_FILE
        np.savez(path, **model)
        return [path]

    def _load_model(self, directory: Path) -> Any:
        with np.load(check_model_file(directory / MODEL_FILE), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}


def transform(model: Mapping[str, np.ndarray], features: Features) -> sparse.csr_matrix:
    """The design matrix of new rows, with the featurizer state a fit saved."""
    tfidf = TfidfState.from_arrays(model)
    dense = DenseState.from_arrays(model) if "dense_mean" in model else None
    return design_matrix(features, tfidf, dense, bool(model["embed"][0]))


def softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


def sigmoid(scores: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(scores, -500, 500)))


def ovr_proba(scores: np.ndarray) -> np.ndarray:
    """Probabilities from per-class scores: binary (one column) as p(class 1), more
    classes one-vs-rest, normalised."""
    if scores.shape[1] == 1:
        return sigmoid(scores[:, 0])
    p = sigmoid(scores)
    return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
