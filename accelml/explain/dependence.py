"""Partial dependence and ICE curves of the served model for chosen input columns:
scikit-learn's brute-force implementation over the whole blend, on a grid AccelML picks
(quantiles of the present values, or the most common categories), so missing values and
text categories need no special case."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from accelml.core.predictor import Predictor
from accelml.errors import ConfigError
from accelml.explain.estimator import as_estimator
from accelml.explain.inputs import check_frame, input_columns, sample_rows

#: Column kinds a grid can be laid over; dates and free text are left out.
NUMERIC_KINDS = ("numeric",)
CATEGORICAL_KINDS = ("categorical", "boolean")


@dataclass(frozen=True)
class Dependence:
    """The partial dependence of one output on one column.

    Attributes:
        feature: the column.
        kind: "numeric" or "categorical".
        grid: the values the column was set to.
        average: the mean output at each grid value (partial dependence).
        individual: one row per sampled row, its output at each grid value (ICE).
        output: what the curves show, e.g. "P(benign)" or the target's name.
    """

    feature: str
    kind: str
    grid: list[Any]
    average: np.ndarray
    individual: np.ndarray
    output: str


def partial_dependence(predictor: Predictor, data: pd.DataFrame, features: Sequence[str], *,
                       max_rows: int = 200, grid_points: int = 20,
                       seed: int = 0) -> list[Dependence]:
    """Partial dependence and ICE of each of ``features`` on ``max_rows`` sampled rows of
    ``data`` (labels not needed). Classifiers show the positive class's probability
    (binary) or the most often predicted class's (multiclass). Date and free-text columns
    are left out (with a warning).

    Raises:
        ConfigError: a feature is not a training column, or the model's inputs are not
            table columns.
    """
    from sklearn.inspection import partial_dependence as sklearn_dependence

    frame = sample_rows(check_frame(predictor, data), max_rows, seed)
    specs = {spec["name"]: spec for spec in input_columns(predictor)}
    unknown = [name for name in features if name not in specs]
    if unknown:
        raise ConfigError(f"not a training column: {', '.join(map(repr, unknown))}; the "
                          f"model reads {', '.join(list(specs)[:20])}")
    estimator = as_estimator(predictor)
    columns = list(specs)
    X = _floats(frame[columns].reset_index(drop=True))
    output, index = _output(predictor, X)
    found = []
    for name in features:
        kind = _kind(specs[name]["kind"])
        if kind is None:
            warnings.warn(f"no partial dependence for {name!r}: a {specs[name]['kind']} "
                          "column", UserWarning, stacklevel=2)
            continue
        grid = _grid(X[name], kind, grid_points)
        if len(grid) < 2:
            continue
        result = sklearn_dependence(
            estimator, X, [name], kind="both", custom_values={name: grid},
            categorical_features=[name] if kind == "categorical" else None)
        found.append(Dependence(name, kind, np.asarray(result["grid_values"][0]).tolist(),
                                np.asarray(result["average"][index]),
                                np.asarray(result["individual"][index]), output))
    return found


def _floats(X: pd.DataFrame) -> pd.DataFrame:
    """Integer columns as floats: scikit-learn refuses to set grid values (quantiles) into
    integer columns, which would round them."""
    integers = [c for c in X.columns if pd.api.types.is_integer_dtype(X[c])
                and not pd.api.types.is_bool_dtype(X[c])]
    return X.astype(dict.fromkeys(integers, "float64")) if integers else X


def _kind(column_kind: str) -> str | None:
    if column_kind in NUMERIC_KINDS:
        return "numeric"
    if column_kind in CATEGORICAL_KINDS:
        return "categorical"
    return None


def _grid(values: pd.Series, kind: str, points: int) -> np.ndarray:
    """Quantiles (5th to 95th percentile) of the present numbers, or the most common
    categories."""
    present = values.dropna()
    if kind == "categorical":
        return np.asarray(present.value_counts().index[:points].tolist(), dtype=object)
    numbers = pd.to_numeric(present, errors="coerce").dropna().to_numpy(dtype=np.float64)
    unique = np.unique(numbers)
    if len(unique) <= points:
        return unique
    return np.unique(np.quantile(numbers, np.linspace(0.05, 0.95, points)))


def _output(predictor: Predictor, X: pd.DataFrame) -> tuple[str, int]:
    """What to plot and its index among scikit-learn's outputs (binary models give the
    positive class only)."""
    task = predictor.task
    if not task.kind.is_classification:
        return task.target, 0
    if len(task.classes) == 2:
        return f"P({task.classes[1]})", 0
    predicted = predictor.blend(predictor._features(X)).argmax(axis=1)
    common = int(np.bincount(predicted, minlength=len(task.classes)).argmax())
    return f"P({task.classes[common]})", common
