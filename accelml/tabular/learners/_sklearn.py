"""Shared parts of the scikit-learn families: skops files, preprocessing, chunked forests.

Models are saved with ``skops.io`` rather than pickle, and loading admits only the exact types
these families write (:data:`SKOPS_ALLOWED`), checked by name in the file's schema before
anything is imported or built, so a model directory from elsewhere cannot run code when it is
loaded.
"""

from __future__ import annotations

import copy
import json
import time
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from accelml.core.budget import Deadline
from accelml.core.data import Features
from accelml.core.learner import FitFacts, Fitted
from accelml.errors import ArtifactError
from accelml.tabular.learners._common import (
    FitContext,
    TabularLearner,
    check_model_file,
    lib_seed,
    merge_config,
    n_rounds,
    predict_threads,
)
from accelml.tabular.learners.flat_forest import predict_few

MODEL_FILE = "model.skops"
#: Plain data types other platforms or library versions may write in place of the ones seen
#: here (32-bit integers and floats, NumPy booleans, scipy's sparse arrays): classes only.
SPARE_TYPES = frozenset({"numpy.int32", "numpy.float32", "numpy.bool_",
                         "scipy.sparse._csr.csr_array"})
_NUMPY_SCALARS = frozenset({"numpy.float64", "numpy.int64", "numpy.int32", "numpy.float32",
                            "numpy.bool_"})
#: What the scikit-learn families write, by skops node kind: loading refuses every other kind
#: and name. Classes only, never a function (skops imports a name and calls it). Derived from
#: saved models, and tests/tabular/test_safe_load.py saves every family and compares.
SKOPS_ALLOWED: dict[str, frozenset[str]] = {
    "ObjectNode": frozenset({
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.ExtraTreesRegressor",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.impute._base.MissingIndicator",
        "sklearn.impute._base.SimpleImputer",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._ridge.Ridge",
        "sklearn.neighbors._classification.KNeighborsClassifier",
        "sklearn.neighbors._regression.KNeighborsRegressor",
        "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
        "sklearn.neural_network._multilayer_perceptron.MLPRegressor",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.preprocessing._label.LabelBinarizer",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.tree._classes.ExtraTreeRegressor",
    }),
    "TreeNode": frozenset({"sklearn.tree._tree.Tree"}),
    "DictNode": frozenset({"builtins.dict"}),
    "ListNode": frozenset({"builtins.list"}),
    "TupleNode": frozenset({"builtins.tuple"}),
    "SliceNode": frozenset({"builtins.slice"}),
    "JsonNode": frozenset({"builtins.str"}),  # its content is JSON; nothing is imported
    "TypeNode": frozenset({"builtins.str", "numpy.float64", "numpy.float32"}),  # dict keys, dtypes
    "NdArrayNode": frozenset({"numpy.ndarray", *_NUMPY_SCALARS}),
    "DTypeNode": frozenset({"numpy.dtype"}),
    "RandomStateNode": frozenset({"numpy.random.mtrand.RandomState"}),
    "SparseMatrixNode": frozenset({"scipy.sparse._csr.csr_matrix",
                                   "scipy.sparse._csr.csr_array"}),
}
#: One-hot columns per categorical feature at most; rarer codes share an "infrequent" column.
MAX_ONE_HOT = 64
FIRST_CHUNK = 8
MAX_CHUNK = 64


def dump_skops(model: Any, path: Path) -> Path:
    """Write a scikit-learn object with skops (data only, no pickled code)."""
    from accelml.tabular.learners._skops_io import sio

    sio.dump(model, path)
    return path


def skops_types(schema: Any) -> Iterator[tuple[str, str]]:
    """Every (node kind, type name) a skops schema names: each part of it that skops would
    turn into an object carries a ``__loader__`` and the ``__module__.__class__`` it imports."""
    stack = [schema]
    while stack:
        part = stack.pop()
        if isinstance(part, dict):
            if "__loader__" in part:
                yield str(part["__loader__"]), f"{part.get('__module__')}.{part.get('__class__')}"
            stack.extend(part.values())
        elif isinstance(part, list):
            stack.extend(part)


def refused_types(schema: Any) -> list[str]:
    """The names in ``schema`` outside :data:`SKOPS_ALLOWED`, sorted; a name allowed in
    another kind of node is given with the kind it was found in."""
    refused = set()
    for kind, name in skops_types(schema):
        if name not in SKOPS_ALLOWED.get(kind, ()):
            known = any(name in names for names in SKOPS_ALLOWED.values())
            refused.add(f"{name} as {kind}" if known else name)
    return sorted(refused)


def load_skops(path: Path) -> Any:
    """Read a skops file that names only the types in :data:`SKOPS_ALLOWED`.

    The schema is read and every name checked before skops imports or builds anything, from
    the same open file that is then loaded (no swap in between).

    Raises:
        ArtifactError: the file names any other type (it could run code when loaded).
    """
    from accelml.tabular.learners._skops_io import sio

    check_model_file(path)
    with path.open("rb") as handle:
        with zipfile.ZipFile(handle) as archive:
            schema = json.loads(archive.read("schema.json"))
        refused = refused_types(schema)
        if refused:
            raise ArtifactError(
                f"{path} names types AccelML does not write ({', '.join(refused)}); "
                "refusing to load it: it may run code. Re-save the model with this version "
                "of AccelML, or train it again")
        handle.seek(0)
        return sio.load(handle, trusted=sorted({name for _, name in skops_types(schema)}))


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

    # index arrays, not lists: the transformer checks a list's key type item by item on every
    # call (1 ms of a one-row prediction at 750 columns), an array's once by its dtype
    categorical = np.asarray(features.categorical, dtype=np.int64)
    numeric = np.setdiff1d(np.arange(features.X.shape[1]), categorical)
    parts: list[tuple[str, Any, np.ndarray]] = []
    if len(numeric):
        scale = make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                              StandardScaler())
        parts.append(("numeric", scale, numeric))
    if len(categorical):
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


#: Up to this many rows are predicted without holding BLAS to the model's threads: products
#: this small run on one thread anyway, and setting the thread pools takes about 3 ms a call
#: (most of a one-row prediction).
UNLIMITED_ROWS = 64


def listed_columns(model: Any) -> Any:
    """The pipeline with its column transformer's index arrays as lists of ints, the form
    skl2onnx reads (it takes any other index for a column name)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not hasattr(model, "steps") or not isinstance(model.steps[0][1], ColumnTransformer):
        return model
    prepare = copy.copy(model.steps[0][1])
    prepare.transformers_ = [
        (name, step, [int(i) for i in columns] if isinstance(columns, np.ndarray) else columns)
        for name, step, columns in prepare.transformers_]
    return Pipeline([(model.steps[0][0], prepare), *model.steps[1:]])


class SklearnLearner(TabularLearner):
    """A family whose model is one scikit-learn estimator (or pipeline) saved with skops,
    exported to ONNX with skl2onnx."""

    load_modules = ("accelml.tabular.learners._skops_io",)  # skops, without torch

    def to_onnx(self, fitted: Fitted, n_features: int) -> Any:
        """skl2onnx's converter, probabilities as a plain tensor (no ZipMap)."""
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        from accelml.tabular.export import INPUT, OPSET

        model = listed_columns(fitted.model)
        final = model.steps[-1][1] if hasattr(model, "steps") else model
        options = {id(final): {"zipmap": False}} if hasattr(final, "predict_proba") else None
        return convert_sklearn(model, initial_types=[(INPUT, FloatTensorType([None, n_features]))],
                               options=options, target_opset=OPSET)

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        threads = predict_threads(info, len(features.X))
        final = model.steps[-1][1] if hasattr(model, "steps") else model
        if getattr(final, "n_jobs", None) is not None:  # a forest's joblib workers
            final.n_jobs = threads
        if len(features.X) <= UNLIMITED_ROWS:
            return self._outputs(model, info, features)
        with threadpool_limits(threads):
            return self._outputs(model, info, features)

    @staticmethod
    def _outputs(model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
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
             ctx: FitContext) -> tuple[Any, dict[str, Any], FitFacts]:
        params = merge_config(self.defaults(ctx.task), config, self.name)
        estimator = self.classifier if ctx.task.kind.is_classification else self.regressor
        model = estimator(random_state=lib_seed(ctx.seed), n_jobs=ctx.n_jobs, **params)
        trees = n_rounds(self.fidelity, ctx.fidelity, self.name)
        cut = grow_forest(model, features.X, y, trees, ctx.deadline)
        built = len(model.estimators_)
        return (model, {"n_estimators": built, "deadline_hit": cut},
                FitFacts(units_trained=built, refit_units=built))

    def _predict_raw(self, model: Any, info: dict[str, Any], features: Features) -> np.ndarray:
        """A few rows walk the flattened forest (:mod:`flat_forest`: 25 times faster for
        one row); more go through scikit-learn."""
        few = predict_few(model, features.X, info["kind"])
        return few if few is not None else super()._predict_raw(model, info, features)

    def _load_model(self, directory: Path) -> Any:
        path = directory / MODEL_FILE
        forest = load_skops(path)
        for index, tree in enumerate(forest.estimators_):
            problem = tree_problem(tree.tree_, forest.n_features_in_)
            if problem:
                raise ArtifactError(f"tree {index} in {path} is malformed ({problem}); the model "
                                    "file is damaged or was edited: train it again")
        return forest


def tree_problem(tree: Any, n_features: int) -> str | None:
    """What makes a loaded tree unsafe to predict with, or None.

    scikit-learn walks a tree by its stored node indices without bounds checks, so a crafted
    file could make it read outside its arrays (or loop forever); a tree it built always
    points from a node to later nodes, and splits on features the model has.
    """
    left, right = tree.children_left, tree.children_right
    nodes = np.arange(tree.node_count)
    if not (len(left) == len(right) == len(tree.feature) == tree.node_count > 0):
        return "node arrays of different lengths"
    split = left != -1
    if (right[~split] != -1).any():
        return "a leaf with a right child"
    if tree.n_features != n_features:
        return f"{tree.n_features} features where the model has {n_features}"
    for child in (left[split], right[split]):
        if ((child <= nodes[split]) | (child >= tree.node_count)).any():
            return "a child index out of order or out of range"
    features = tree.feature[split]
    if ((features < 0) | (features >= n_features)).any():
        return "a split on a feature the model does not have"
    return None
