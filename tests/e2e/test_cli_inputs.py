"""Input files a user may really have, through the command line: infinite and huge numbers
(a linear model used to exit 1 with a traceback), a column name written twice, and Parquet
columns holding lists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from accelml.cli import app
from tests.conftest import cancer_frame, split

runner = CliRunner()


def _text(result) -> str:  # noqa: ANN001
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def linear_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linear model trained from a CSV whose header names 'mean_area' twice."""
    folder = tmp_path_factory.mktemp("inputs")
    train, _ = split(cancer_frame())
    path = folder / "train.csv"
    train.insert(3, "again", train["mean_area"] * 2.0)
    train.to_csv(path, index=False)
    path.write_text(path.read_text().replace(",again,", ",mean_area,", 1))
    out = folder / "model"
    result = runner.invoke(app, ["fit", str(path), "-t", "diagnosis", "-o", str(out),
                                 "--learners", "linear", "--max-trials", "1",
                                 "--time-budget", "60", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "warning: column 'mean_area' appears 2 times in 'train.csv': the later one is " \
        "read as 'mean_area.1'; rename the columns in the file to choose the names" in \
        _text(result)
    return out


def test_a_repeated_column_is_kept_under_its_new_name(linear_dir: Path) -> None:
    schema = json.loads((linear_dir / "preprocessor.json").read_text())["columns"]
    names = [column["name"] for column in schema]
    assert names.count("mean_area") == 1 and "mean_area.1" in names


def test_infinite_and_huge_numbers_predict_and_evaluate(linear_dir: Path,
                                                        tmp_path: Path) -> None:
    _, test = split(cancer_frame())
    test = test.reset_index(drop=True)
    test.insert(3, "mean_area.1", test["mean_area"] * 2.0)
    test.loc[0, "mean_radius"] = np.inf
    test.loc[1, "mean_radius"] = -np.inf
    test.loc[2, "mean_texture"] = 1e308
    test.loc[3, "worst_radius"] = -1e308
    source = tmp_path / "odd.csv"
    test.to_csv(source, index=False)
    assert "inf" in source.read_text()
    output = tmp_path / "predicted.csv"
    done = runner.invoke(app, ["predict", str(linear_dir), str(source), "-o", str(output)])
    assert done.exit_code == 0, done.output
    assert "Traceback" not in done.output and "ignored column" not in done.output
    assert "warning: column 'mean_radius': 2 infinite values (inf, -inf or a number beyond " \
        "the float range) read as missing" in _text(done)
    predicted = pd.read_csv(output)
    assert len(predicted) == len(test) and predicted["prediction"].notna().all()
    probabilities = predicted[["proba_benign", "proba_malignant"]].to_numpy()
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    scores = runner.invoke(app, ["evaluate", str(linear_dir), str(source), "--json"])
    assert scores.exit_code == 0, scores.output
    metrics = json.loads(scores.output[scores.output.index("{"):])
    assert metrics["roc_auc"] > 0.9 and all(np.isfinite(list(metrics.values())))


def test_a_parquet_list_column_is_one_error_line(linear_dir: Path, tmp_path: Path) -> None:
    _, test = split(cancer_frame())
    table = pa.Table.from_pandas(test.head(5), preserve_index=False)
    table = table.append_column("tags", pa.array([["a", "b"], [], ["c"], None, ["d"]]))
    source = tmp_path / "nested.parquet"
    pq.write_table(table, source)
    for command in (["predict", str(linear_dir), str(source), "-o", str(tmp_path / "p.csv")],
                    ["evaluate", str(linear_dir), str(source)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert result.output.strip().startswith("error: column 'tags' of ")
        assert "holds nested values (list<" in _text(result) and "Traceback" not in \
            result.output
    assert not (tmp_path / "p.csv").exists()
