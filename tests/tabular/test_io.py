"""Reading tables: repeated column names are renamed with a warning that says so, in every
format and on both the whole-file and the chunked path; nested columns are refused by name."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from accelml.errors import DataError
from accelml.io import iter_table, read_table, unique_names


def test_unique_names_rename_as_pandas_does() -> None:
    header = ["duration", "duration", "x", "duration.1", "duration", 3]
    assert unique_names(header) == ["duration", "duration.2", "x", "duration.1", "duration.3",
                                    "3"]
    assert unique_names(["a", "b"]) == ["a", "b"]


def test_a_repeated_csv_column_is_renamed_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "trips.csv"
    path.write_text("duration,city,duration\n10,paris,11\n20,rome,21\n")
    with pytest.warns(UserWarning, match=r"column 'duration' appears 2 times in 'trips.csv': "
                      r"the later one is read as 'duration.1'; rename the columns"):
        frame = read_table(path)
    assert list(frame.columns) == ["duration", "city", "duration.1"]
    assert frame["duration.1"].tolist() == [11, 21]  # nothing lost
    with pytest.warns(UserWarning, match="the later one is read as 'duration.1'"):
        chunks = list(iter_table(path, 1))
    assert [list(chunk.columns) for chunk in chunks] == [list(frame.columns)] * 2
    three = tmp_path / "three.tsv"
    three.write_text("a\ta\ta\n1\t2\t3\n")
    with pytest.warns(UserWarning, match="'a' appears 3 times .* the later ones are read as "
                      "'a.1', 'a.2'"):
        assert list(read_table(three).columns) == ["a", "a.1", "a.2"]


def test_unique_csv_names_warn_nothing(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("a,b\n1,2\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(read_table(path).columns) == ["a", "b"]
        assert len(list(iter_table(path, 10))) == 1


def test_a_repeated_parquet_column_is_renamed_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "trips.parquet"
    table = pa.table([pa.array([10, 20]), pa.array(["paris", "rome"]), pa.array([11, 21])],
                     names=["duration", "city", "duration"])
    pq.write_table(table, path)
    with pytest.warns(UserWarning, match="column 'duration' appears 2 times in "
                      "'trips.parquet': the later one is read as 'duration.1'"):
        frame = read_table(path)
    assert list(frame.columns) == ["duration", "city", "duration.1"]
    assert frame["duration.1"].tolist() == [11, 21]
    with pytest.warns(UserWarning, match="read as 'duration.1'"):
        chunks = list(iter_table(path, 1))
    assert pd.concat(chunks, ignore_index=True).equals(frame)


@pytest.mark.parametrize(("column", "kind"), [
    (pa.array([[1, 2], [3]]), "list<"),
    (pa.array([{"a": 1}, {"a": 2}]), "struct<"),
    (pa.array([[("k", 1)], [("k", 2)]], type=pa.map_(pa.string(), pa.int64())), "map<"),
], ids=["list", "struct", "map"])
def test_nested_parquet_columns_are_refused_by_name(tmp_path: Path, column: pa.Array,
                                                    kind: str) -> None:
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table([pa.array([1, 2]), column], names=["x", "tags"]), path)
    for read in (read_table, lambda p: list(iter_table(p, 1))):
        with pytest.raises(DataError, match=rf"column 'tags' of '.*nested.parquet' holds "
                           rf"nested values \({kind}.*flatten it"):
            read(path)


def test_nested_json_lines_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"x": 1, "tags": ["a", "b"]}\n{"x": 2, "tags": ["c"]}\n')
    with pytest.raises(DataError, match="column 'tags' of .* holds nested values \\(list\\)"):
        read_table(path)
    with pytest.raises(DataError, match="column 'tags' of .* holds nested values"):
        list(iter_table(path, 1))
