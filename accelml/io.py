"""Reading tables from disk: CSV, TSV, Parquet, JSON lines; every failure is a DataError.

Columns that share a name are renamed ``name.1``, ``name.2``... (as pandas names them in a CSV)
with a warning that says so, in every format. Columns holding lists, structs or maps
(Parquet, JSON lines) are refused by name: AccelML learns from flat columns.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
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
    except DataError:
        raise
    except Exception as error:  # every parser failure becomes one clear line
        detail = " ".join(str(error).split())[:200]
        raise DataError(f"cannot read {str(path)!r} as {kind}: {detail}") from None
    if frame.empty:
        raise DataError(f"data file {str(path)!r} has no rows")
    return frame


def _read(path: Path, kind: str) -> pd.DataFrame:
    if kind == "parquet":
        stored, names = _parquet_names(path)
        if names == stored:
            return pd.read_parquet(path)
        import pyarrow.parquet as pq  # pandas' reader fails on repeated names

        return pq.ParquetFile(path).read().rename_columns(names).to_pandas()
    if kind == "jsonl":
        frame = pd.read_json(path, lines=True)
        _refuse_nested_values(frame, path)
        return frame
    _note_csv_duplicates(path, kind)
    sep = "\t" if kind == "tsv" else ","
    try:
        return pd.read_csv(path, sep=sep, skipinitialspace=True)
    except UnicodeDecodeError:
        frame = pd.read_csv(path, sep=sep, skipinitialspace=True, encoding_errors="replace")
        _warn_replaced(frame, path)
        return frame


#: Rows named in the warning about bytes that are not UTF-8 (the rest are counted).
NAMED_ROWS = 10


def _warn_replaced(frame: pd.DataFrame, path: Path) -> None:
    """Say which rows held bytes that are not UTF-8 (read as U+FFFD)."""
    hit = np.zeros(len(frame), dtype=bool)
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            hit |= values.astype(str).str.contains("\ufffd", regex=False).to_numpy()
    rows = [int(i) + 1 for i in np.flatnonzero(hit)]
    named = ", ".join(map(str, rows[:NAMED_ROWS])) + (
        f" and {len(rows) - NAMED_ROWS} more" if len(rows) > NAMED_ROWS else "")
    warnings.warn(f"{str(path)!r} is not valid UTF-8: {len(rows)} row(s) held other bytes, "
                  f"read with U+FFFD in their place (data rows {named}; 1 = the first row "
                  "after the header). Save the file as UTF-8 to keep those characters",
                  UserWarning, stacklevel=4)


def unique_names(names: Sequence[Any]) -> list[str]:
    """``names`` as text with repeats renamed ``name.1``, ``name.2``..., skipping names the
    table already has: what pandas does to a CSV header."""
    texts = [str(name) for name in names]
    taken, used, out = set(texts), set(), []
    for name in texts:
        new, k = name, 0
        while new in used or (k and new in taken):
            k += 1
            new = f"{name}.{k}"
        used.add(new)
        out.append(new)
    return out


def _warn_renamed(before: Sequence[str], after: Sequence[str], path: Path) -> None:
    """One warning per repeated name, naming what its later copies are read as."""
    renamed: dict[str, list[str]] = {}
    for old, new in zip(before, after, strict=True):
        if old != new:
            renamed.setdefault(old, []).append(new)
    for name, news in renamed.items():
        listed = ", ".join(repr(new) for new in news)
        later = "the later one is" if len(news) == 1 else "the later ones are"
        warnings.warn(f"column {name!r} appears {len(news) + 1} times in {path.name!r}: "
                      f"{later} read as {listed}; rename the columns in the file to choose "
                      "the names", UserWarning, stacklevel=4)


def _note_csv_duplicates(path: Path, kind: str) -> None:
    """pandas renames repeated CSV header names silently; say so (the header is read twice,
    once as text, which costs one line)."""
    header = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", skipinitialspace=True,
                         header=None, nrows=1, dtype=str, keep_default_na=False,
                         encoding_errors="replace")  # (the full read says what it replaced)
    names = [str(name) for name in header.iloc[0]] if len(header) else []
    if len(set(names)) < len(names):
        _warn_renamed(names, unique_names(names), path)


def _parquet_names(path: Path) -> tuple[list[str], list[str]]:
    """The column names of a Parquet file as stored and as read (repeats renamed, with a
    warning), after refusing columns that hold lists, structs or maps."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    for field in schema:
        if pa.types.is_nested(field.type):
            raise DataError(_nested_message(field.name, str(field.type), path))
    stored = list(schema.names)
    names = unique_names(stored)
    if names != stored:
        _warn_renamed(stored, names, path)
    return stored, names


def _refuse_nested_values(frame: pd.DataFrame, path: Path) -> None:
    """JSON lines whose values are objects or arrays make columns of dicts or lists."""
    for name in frame.columns:
        if not pd.api.types.is_object_dtype(frame[name].dtype):
            continue
        nested = frame[name].map(lambda value: isinstance(value, list | dict)).astype(bool)
        if nested.any():
            example = frame[name][nested.to_numpy()].iloc[0]
            raise DataError(_nested_message(str(name), type(example).__name__, path))


def _nested_message(name: str, kind: str, path: Path) -> str:
    return (f"column {name!r} of {str(path)!r} holds nested values ({kind}); AccelML learns "
            "from flat columns of numbers, categories, dates or text: flatten it into one "
            "column per field, join a list into text, or drop the column")


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
            yield from _parquet_chunks(path, rows)
            return
        if kind == "jsonl":
            for chunk in pd.read_json(path, lines=True, chunksize=rows):
                _refuse_nested_values(chunk, path)
                yield chunk
            return
        _note_csv_duplicates(path, kind)
        yield from pd.read_csv(path, sep="\t" if kind == "tsv" else ",",
                               skipinitialspace=True, chunksize=rows)
    except DataError:
        raise
    except (ValueError, OSError, UnicodeDecodeError) as error:
        detail = " ".join(str(error).split())[:200]
        raise DataError(f"cannot read {str(path)!r} as {kind}: {detail}") from None


def _parquet_chunks(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    stored, names = _parquet_names(path)
    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
        if names == stored:
            yield batch.to_pandas()
        else:
            yield pa.Table.from_batches([batch]).rename_columns(names).to_pandas()


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
