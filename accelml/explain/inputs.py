"""The input columns of a model of table rows (tables, and texts with their side columns),
and the rows an explanation samples: what importance, dependence and per-row reasons
share."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from accelml.core.predictor import Predictor
from accelml.core.task import encode_target
from accelml.errors import ConfigError, DataError, SchemaError, TargetError


def input_columns(predictor: Predictor) -> list[dict[str, Any]]:
    """The training columns the model reads (name, kind, ...), in order.

    Raises:
        ConfigError: the model's inputs are not table columns (images, series, users).
    """
    schema = getattr(predictor.preprocessor, "schema", None)
    if not isinstance(schema, list) or not schema:
        raise ConfigError(f"this is a {predictor.preprocessor.kind} model, whose inputs are "
                          "not table columns: explain it with `accelml explain` on its own "
                          "kind of input")
    return [spec for spec in schema if "dropped" not in spec]


def check_frame(predictor: Predictor, data: Any) -> pd.DataFrame:
    """``data`` as a DataFrame holding every training column.

    Raises:
        DataError: not a DataFrame.
        SchemaError: a training column is missing (named).
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"explanations of a {predictor.preprocessor.kind} model need a "
                        f"DataFrame (or a CSV / Parquet file), got {type(data).__name__}")
    names = [spec["name"] for spec in input_columns(predictor)]
    missing = [name for name in names if name not in data.columns]
    if missing:
        raise SchemaError(f"the data lacks training column(s) {', '.join(map(repr, missing))}"
                          "; pass rows with every column the model was trained on")
    if data.empty:
        raise DataError("no rows to explain: the data is empty")
    return data


def sample_rows(data: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows, a random sample when there are more (in their order)."""
    if max_rows < 1:
        raise ConfigError(f"max_rows must be at least 1, got {max_rows}")
    if len(data) <= max_rows:
        return data
    picked = np.sort(np.random.default_rng(seed).choice(len(data), max_rows, replace=False))
    return data.iloc[picked]


def labelled_rows(predictor: Predictor, data: Any, max_rows: int,
                  seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows with a target value (sampled down to ``max_rows``) and their encoded
    targets.

    Raises:
        TargetError: the data has no target column, or no row with a target.
    """
    frame = check_frame(predictor, data)
    target = predictor.task.target
    if target not in frame.columns:
        raise TargetError(f"this needs labelled rows: the data has no target column "
                          f"{target!r}")
    frame = frame[frame[target].notna()]
    if frame.empty:
        raise TargetError(f"no row has a value in the target column {target!r}")
    frame = sample_rows(frame, max_rows, seed)
    return frame, encode_target(frame[target], predictor.task)
