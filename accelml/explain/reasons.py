"""Per-row reasons for table models: each answer beside the input columns that pushed it
most (their SHAP values, see :mod:`accelml.explain.contributions`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from accelml.core.predictor import Predictor
from accelml.errors import ConfigError
from accelml.explain.contributions import Contributions, contributions
from accelml.explain.inputs import check_frame

#: Rows one call explains unless the caller allows more (``--max-rows``).
MAX_ROWS = 1000


def check_row_count(rows: int, max_rows: int) -> None:
    """Refuse more rows than the caller allows explanations to take.

    Raises:
        ConfigError: naming both numbers and the option.
    """
    if max_rows < 1:
        raise ConfigError(f"max_rows must be at least 1, got {max_rows}")
    if rows > max_rows:
        raise ConfigError(f"{rows} rows to explain is more than max_rows={max_rows}: pass "
                          f"fewer rows, or raise --max-rows (max_rows=) to explain them all")


def explain_rows(predictor: Predictor, data: Any, *, top: int = 3, max_rows: int = MAX_ROWS,
                 seed: int = 0) -> pd.DataFrame:
    """One row per input row: ``prediction`` (and ``probability`` of it, classifiers),
    then ``reason_1`` .. ``reason_<top>`` as "column=value (+0.12)", strongest first. The
    frame's ``attrs`` say what the numbers are (``output``) and how they were computed
    (``method``, ``exact``).

    Raises:
        ConfigError: more rows than ``max_rows``, or not a model of table columns.
        SchemaError: a training column is missing (named).
    """
    frame = check_frame(predictor, data)
    check_row_count(len(frame), max_rows)
    return with_reasons(predictor, frame, contributions(predictor, frame, seed=seed), top)


def with_reasons(predictor: Predictor, frame: pd.DataFrame, found: Contributions,
                 top: int) -> pd.DataFrame:
    """The answers of ``frame`` with the reasons ``found`` gives."""
    table = answers(predictor, frame)
    for rank, column in enumerate(reason_texts(found, frame, top), start=1):
        table[f"reason_{rank}"] = column
    table.attrs.update(output=found.output, method=found.method, exact=found.exact)
    return table


def answers(predictor: Predictor, frame: pd.DataFrame) -> pd.DataFrame:
    """The served answers of ``frame``'s rows: the prediction and, for classifiers, its
    probability."""
    labels, proba = predictor.predict_with_proba(frame)
    table = pd.DataFrame({"prediction": labels}, index=frame.index)
    if proba is not None:
        table["probability"] = proba.max(axis=1)
    return table


def top_reasons(found: Contributions, frame: pd.DataFrame, top: int) -> list[list[dict[str, Any]]]:
    """Per row, the ``top`` columns with the largest contribution in size: column, its
    value in the row, and the signed contribution."""
    order = np.argsort(-np.abs(found.values), axis=1, kind="stable")[:, :top]
    raw = frame[found.columns].to_numpy(dtype=object)
    return [[{"feature": found.columns[j], "value": _plain(raw[i, j]),
              "contribution": float(found.values[i, j])} for j in order[i]]
            for i in range(len(order))]


def reason_texts(found: Contributions, frame: pd.DataFrame, top: int) -> list[list[str]]:
    """The reasons as "column=value (+0.12)" strings, one list per rank (columns of a
    table)."""
    rows = top_reasons(found, frame, top)
    width = min(top, len(found.columns))
    return [[f"{row[k]['feature']}={row[k]['value']} ({row[k]['contribution']:+.3g})"
             for row in rows] for k in range(width)]


def _plain(value: Any) -> Any:
    """A JSON-ready cell value (None for missing)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def reason_records(predictor: Predictor, data: Any, *, top: int = 3,
                   max_rows: int = MAX_ROWS) -> dict[str, Any]:
    """What ``POST /v1/explain`` answers: per row, its top reasons as records (tables:
    column, value, contribution, and the base value; texts: the reason strings), with what
    the numbers are and how they were computed."""
    frame = check_frame(predictor, data)
    check_row_count(len(frame), max_rows)
    if predictor.preprocessor.kind != "tabular":
        table = predictor.explain(frame, top=top, max_rows=max_rows)
        reasons = [[row[c] for c in table.columns if c.startswith("reason_") and row[c]]
                   for _, row in table.iterrows()]
        return {"explanations": [{"reasons": r} for r in reasons], **table.attrs}
    found = contributions(predictor, frame)
    rows = top_reasons(found, frame, top)
    return {"explanations": [{"base_value": float(base), "reasons": row}
                             for base, row in zip(found.base, rows, strict=True)],
            "output": found.output, "method": found.method, "exact": found.exact}
