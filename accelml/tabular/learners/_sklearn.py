"""Shared parts of the scikit-learn families: skops files, preprocessing, chunked forests.

Models are saved with ``skops.io`` rather than pickle, and loading trusts only scikit-learn and
NumPy types, so a model directory from elsewhere cannot run code when it is loaded.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from accelml.core.budget import Deadline
from accelml.core.data import Features
from accelml.errors import ArtifactError
from accelml.tabular.learners._common import (
    FitContext,
    TabularLearner,
    check_model_file,
    lib_seed,
    merge_config,
    n_rounds,
)

MODEL_FILE = "model.skops"
TRUSTED_PREFIXES = ("sklearn.", "numpy.")
#: One-hot columns per categorical feature at most; rarer codes share an "infrequent" column.
MAX_ONE_HOT = 64
FIRST_CHUNK = 8
MAX_CHUNK = 64


def dump_skops(model: Any, path: Path) -> Path:
    """Write a scikit-learn object with skops (data only, no pickled code)."""
    import skops.io as sio

    sio.dump(model, path)
    return path


def load_skops(path: Path) -> Any:
    """Read a skops file, trusting only scikit-learn and NumPy types.

    Raises:
        ArtifactError: the file names any other type (it may run foreign code when loaded).
    """
    import skops.io as sio

    check_model_file(path)
    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if refused:
        raise ArtifactError(
            f"{path} holds types outside scikit-learn and NumPy ({', '.join(refused)}); "
            "refusing to load it: re-save the model with this version of AccelML"
        )
    return sio.load(path, trusted=untrusted)


#: The code a missing category takes before one-hot encoding (codes are 0..cardinality-1).
MISSING_CODE = -1.0


def make_preprocessor(features: Features) -> Any:
    """Median-impute and standardize numbers; one-hot the category codes (missing = a code).

    Distance- and margin-based learners need this; trees do not. The encoder is given every
    code the column can hold (missing and ``__other__`` included), not only those the
    training rows show, so no valid input is unknown to it: a code never seen in training
    gets a column that was always zero (a zero weight for the linear models), and the ONNX
    graph of the pipeline accepts every row the native model does.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = list(features.categorical)
    numeric = [i for i in range(features.X.shape[1]) if i not in set(categorical)]
    parts: list[tuple[str, Any, list[int]]] = []
    if numeric:
        scale = make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                              StandardScaler())
        parts.append(("numeric", scale, numeric))
    if categorical:
        codes = [np.arange(MISSING_CODE, cardinality) for cardinality in features.cardinalities]
        encode = make_pipeline(
            SimpleImputer(strategy="constant", fill_value=MISSING_CODE,
                          keep_empty_features=True),
            OneHotEncoder(categories=codes, handle_unknown="infrequent_if_exist",
                          max_categories=MAX_ONE_HOT))
        parts.append(("categorical", encode, categorical))
    return ColumnTransformer(parts, sparse_threshold=0.3)


def fit_pipeline(features: Features, y: np.ndarray, estimator: Any, n_jobs: int) -> Any:
    """Preprocessing + ``estimator`` as one pipeline, fitted with BLAS held to ``n_jobs``.

    Convergence warnings are silenced: a capped solver still gives a usable model, and the
    search scores it like any other.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import Pipeline

    model = Pipeline([("prepare", make_preprocessor(features)), ("model", estimator)])
    with threadpool_limits(n_jobs), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(features.X, y)
    return model


def grow_forest(model: Any, X: np.ndarray, y: np.ndarray, n_trees: int,
                deadline: Deadline) -> bool:
    """Grow a warm-started forest chunk by chunk until ``n_trees`` or the deadline.

    The first chunk is always grown, so a late start still yields a usable model; later chunks
    are sized from the measured time per tree so the last one ends before the deadline.
    Returns True when the deadline cut the forest short.
    """
    built, chunk = 0, min(FIRST_CHUNK, n_trees)
    while built < n_trees:
        started = time.monotonic()
        model.set_params(n_estimators=built + chunk, warm_start=True)
        model.fit(X, y)
        per_tree = (time.monotonic() - started) / chunk
        built += chunk
        affordable = deadline.remaining() / max(per_tree, 1e-9)  # inf with no deadline
        chunk = int(min(MAX_CHUNK, chunk * 2, n_trees - built, affordable))
        if chunk < 1:
            return built < n_trees
    return False


class SklearnLearner(TabularLearner):
    """A family whose model is one scikit-learn estimator (or pipeline) saved with skops."""

    load_modules = ("skops.io",)

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        with threadpool_limits(info["n_jobs"]):
            if info["kind"] == "regression":
                return np.asarray(model.predict(features.X))
            return np.asarray(model.predict_proba(features.X))

    def _save_model(self, model: Any, directory: Path) -> list[Path]:
        return [dump_skops(model, directory / MODEL_FILE)]

    def _load_model(self, directory: Path) -> Any:
        return load_skops(directory / MODEL_FILE)


class ForestLearner(SklearnLearner):
    """Random forest and extra trees: same growth, different estimator classes.

    Trees handle NaN and category codes as numbers themselves, so no preprocessing is needed;
    ``valid`` is not used (a forest does not overfit with more trees).
    """

    classifier: Any
    regressor: Any

    def _fit(self, features: Features, y: np.ndarray, config: dict[str, Any],
             ctx: FitContext) -> tuple[Any, dict[str, Any]]:
        params = merge_config(self.portfolio(ctx.task)[0], config, self.name)
        estimator = self.classifier if ctx.task.kind.is_classification else self.regressor
        model = estimator(random_state=lib_seed(ctx.seed), n_jobs=ctx.n_jobs, **params)
        trees = n_rounds(self.fidelity, ctx.fidelity, self.name)
        cut = grow_forest(model, features.X, y, trees, ctx.deadline)
        return model, {"n_estimators": len(model.estimators_), "deadline_hit": cut}
