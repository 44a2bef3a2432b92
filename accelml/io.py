"""Reading tables from disk: CSV, TSV, Parquet, JSON lines; every failure is a DataError."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from accelml.errors import DataError

READERS = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "jsonl", ".json": "jsonl"}


def read_table(path: str | Path) -> pd.DataFrame:
    """Load a table; raise DataError for a missing, unreadable, unknown or empty file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {str(path)!r} does not exist; check the path")
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a directory; pass a CSV or Parquet file")
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"cannot read {path.name!r}: unknown file type {path.suffix!r}; use "
                        f"one of {', '.join(sorted(READERS))}")
    if path.stat().st_size == 0:
        raise DataError(f"data file {str(path)!r} is empty (0 bytes)")
    try:
        frame = _read(path, kind)
    except Exception as error:  # every parser failure becomes one clear line
        detail = " ".join(str(error).split())[:200]
        raise DataError(f"cannot read {str(path)!r} as {kind}: {detail}") from None
    if frame.empty:
        raise DataError(f"data file {str(path)!r} has no rows")
    return frame


def _read(path: Path, kind: str) -> pd.DataFrame:
    if kind == "parquet":
        return pd.read_parquet(path)
    if kind == "jsonl":
        return pd.read_json(path, lines=True)
    frame = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", skipinitialspace=True)
    return frame


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table by extension (CSV or Parquet), through a temporary file so a failure
    leaves nothing half-written."""
    path = Path(path)
    kind = READERS.get(path.suffix.lower(), "csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        if kind == "parquet":
            frame.to_parquet(partial, index=False)
        else:
            frame.to_csv(partial, index=False, sep="\t" if kind == "tsv" else ",")
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
