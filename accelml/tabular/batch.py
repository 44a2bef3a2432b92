"""Batch prediction over table files larger than memory: read a chunk, predict it, append it
to the output, so memory stays bounded by the chunk size whatever the file size."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from accelml.io import TableWriter, iter_table

if TYPE_CHECKING:
    from accelml.core.predictor import Predictor

#: Called after each chunk with (rows done so far, rows in all or None when unknown).
OnProgress = Callable[[int, int | None], None]


def predicted_chunk(predictor: Predictor, chunk: pd.DataFrame, proba: bool) -> pd.DataFrame:
    """``chunk`` with a ``prediction`` column and, for classifiers, ``proba_<label>`` ones."""
    labels, probabilities = predictor.predict_with_proba(chunk)
    out = chunk.copy()
    out["prediction"] = labels
    if proba and probabilities is not None:
        for index, label in enumerate(predictor.classes):
            out[f"proba_{label}"] = probabilities[:, index]
    return out


def predict_table_file(predictor: Predictor, source: str | Path, output: str | Path, *,
                       batch_rows: int, proba: bool = True, total_rows: int | None = None,
                       on_progress: OnProgress | None = None) -> int:
    """Predict every row of ``source`` (CSV, TSV, JSON lines or Parquet) into ``output`` (CSV
    or Parquet by extension), ``batch_rows`` rows at a time; returns the rows written. The
    output appears only when every chunk succeeded."""
    with TableWriter(output) as writer:
        for chunk in iter_table(source, batch_rows):
            writer.write(predicted_chunk(predictor, chunk, proba))
            if on_progress is not None:
                on_progress(writer.rows, total_rows)
    return writer.rows
