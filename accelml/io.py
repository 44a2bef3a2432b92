"""Reading tables from disk: CSV, TSV, Parquet, JSON lines; every failure is a DataError."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from accelml.errors import DataError

READERS = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "jsonl", ".json": "jsonl"}


def read_table(path: str | Path) -> pd.DataFrame:
    """Load a table; raise DataError for a missing, unreadable, unknown or empty file."""
    path = Path(path)
    kind = _check_source(path)
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


def _check_source(path: Path) -> str:
    """The reader kind of an existing, non-empty data file; DataError otherwise."""
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
    return kind


def count_rows(path: str | Path) -> int | None:
    """Rows of a Parquet file from its footer (no data read); None for other formats."""
    path = Path(path)
    if _check_source(path) != "parquet":
        return None
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception as error:  # a damaged footer
        raise DataError(f"cannot read {str(path)!r} as parquet: {error}") from None


def iter_table(path: str | Path, rows: int) -> Iterator[pd.DataFrame]:
    """The table in chunks of at most ``rows`` rows, read as they are needed, so a file
    larger than memory can be processed (CSV, TSV, JSON lines and Parquet)."""
    path = Path(path)
    kind = _check_source(path)
    if rows < 1:
        raise DataError(f"the batch size must be >= 1 row, got {rows}")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
                yield batch.to_pandas()
            return
        if kind == "jsonl":
            yield from pd.read_json(path, lines=True, chunksize=rows)
            return
        yield from pd.read_csv(path, sep="\t" if kind == "tsv" else ",",
                               skipinitialspace=True, chunksize=rows)
    except DataError:
        raise
    except (ValueError, OSError, UnicodeDecodeError) as error:
        detail = " ".join(str(error).split())[:200]
        raise DataError(f"cannot read {str(path)!r} as {kind}: {detail}") from None


class TableWriter:
    """Appends chunks to a CSV/TSV or Parquet file, through a temporary file that replaces
    the target only when :meth:`close` is reached without error: a failed run leaves nothing
    half-written. Parquet chunks are cast to the first chunk's column types."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.kind = READERS.get(self.path.suffix.lower(), "csv")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        self.rows = 0
        self._parquet: Any = None

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame``."""
        if self.kind == "parquet":
            self._write_parquet(frame)
        else:
            frame.to_csv(self.partial, index=False, sep="\t" if self.kind == "tsv" else ",",
                         mode="w" if self.rows == 0 else "a", header=self.rows == 0)
        self.rows += len(frame)

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.partial, table.schema)
        else:
            try:
                table = table.cast(self._parquet.schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise DataError(f"rows {self.rows}..{self.rows + len(frame)} have other column "
                                f"types than the first ones ({error}); fix the input's column "
                                "types or write CSV") from None
        self._parquet.write_table(table)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if kind is None and self.rows > 0:
            self.partial.replace(self.path)
        else:
            self.partial.unlink(missing_ok=True)
