"""Batch prediction of a saved model over a file larger than memory, in bounded chunks (the
model's modality reads and writes the file: tables chunk by chunk)."""

from __future__ import annotations

from pathlib import Path

from accelml.api import load
from accelml.core.modality import OnProgress, get_modality

DEFAULT_BATCH_ROWS = 100_000


def predict_file(model: str | Path, source: str | Path, output: str | Path, *,
                 batch_rows: int = DEFAULT_BATCH_ROWS, proba: bool = True,
                 on_progress: OnProgress | None = None) -> int:
    """Predict every input of ``source`` into ``output`` (CSV or Parquet by extension),
    ``batch_rows`` at a time; returns the predictions written. The output appears only when
    every chunk succeeded."""
    predictor = load(model)
    modality = get_modality(predictor.preprocessor.kind)
    return modality.predict_file(predictor, Path(source), Path(output), proba=proba,
                                 batch_rows=batch_rows, on_progress=on_progress)
