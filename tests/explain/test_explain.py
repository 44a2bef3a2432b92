"""Explanations through the Python API, the command line and the server: permutation
importance, partial dependence, per-row reasons, and every bad input they handle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import accelml
from accelml.cli import app
from accelml.errors import ConfigError, SchemaError, TargetError
from accelml.explain.dependence import partial_dependence
from accelml.explain.importance import permutation_importance
from tests.explain.conftest import FittedCase

runner = CliRunner()


def planted(rows: int, seed: int) -> pd.DataFrame:
    """A target decided by ``signal`` alone, beside noise columns (one categorical)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"noise_{i}": rng.normal(size=rows) for i in range(4)})
    frame["signal"] = rng.normal(size=rows)
    frame["colour"] = rng.choice(["red", "green", "blue"], rows)
    frame["label"] = np.where(frame["signal"] + 0.3 * rng.normal(size=rows) > 0, "yes", "no")
    return frame


def test_permutation_importance_ranks_the_planted_feature_first() -> None:
    predictor = accelml.fit(planted(400, 0), "label", time_budget=30, learners=["lightgbm"],
                            max_trials=1, seed=0, quiet=True)
    table = permutation_importance(predictor, planted(300, 1), n_repeats=3)
    assert list(table.columns) == ["feature", "importance", "std"]
    assert table["feature"].iloc[0] == "signal"
    assert table["importance"].iloc[0] > 0.2  # ROC AUC falls from ~0.97 towards 0.5
    assert table["importance"].iloc[1:].abs().max() < 0.05


def test_partial_dependence_rises_with_the_strongest_column(cancer_case: FittedCase) -> None:
    predictor = accelml.load(cancer_case.model_dir)
    curves = partial_dependence(predictor, cancer_case.test,
                                ["worst_concave_points", "size_band"], grid_points=10)
    numeric, categorical = curves
    assert numeric.kind == "numeric" and len(numeric.grid) == 10
    assert numeric.output == "P(malignant)"
    assert numeric.individual.shape == (len(cancer_case.test), 10)
    assert numeric.average[-1] > numeric.average[0] + 0.1  # more concavity: malignant
    np.testing.assert_allclose(numeric.individual.mean(axis=0), numeric.average)
    assert categorical.kind == "categorical"
    assert set(categorical.grid) == {"small", "medium", "large"}
    whole = cancer_case.test.assign(mean_area=cancer_case.test["mean_area"].round().astype(int))
    (area,) = partial_dependence(predictor, whole, ["mean_area"], grid_points=5)
    assert len(area.grid) == 5  # integer columns take the grid's fractional values


def test_predictor_explain_gives_each_answer_its_reasons(cancer_case: FittedCase) -> None:
    predictor = accelml.load(cancer_case.model_dir)
    table = predictor.explain(cancer_case.test.head(5), top=2)
    assert list(table.columns) == ["prediction", "probability", "reason_1", "reason_2"]
    assert list(table["prediction"]) == list(predictor.predict(cancer_case.test.head(5)))
    assert table["reason_1"].str.fullmatch(r"\w+=\S+ \([+-][0-9.e+-]+\)").all()
    assert "model-agnostic" in table.attrs["method"]  # a stacked model: said


def test_explaining_data_without_a_training_column_names_it(cancer_case: FittedCase) -> None:
    predictor = accelml.load(cancer_case.model_dir)
    rows = cancer_case.test.drop(columns=["worst_radius"])
    with pytest.raises(SchemaError, match="lacks training column.*'worst_radius'"):
        predictor.explain(rows)
    with pytest.raises(SchemaError, match="'worst_radius'"):
        permutation_importance(predictor, rows)


def test_importance_needs_labelled_rows(cancer_case: FittedCase) -> None:
    predictor = accelml.load(cancer_case.model_dir)
    with pytest.raises(TargetError, match="labelled rows.*'diagnosis'"):
        permutation_importance(predictor, cancer_case.test.drop(columns=["diagnosis"]))


def test_more_rows_than_allowed_are_refused_by_name(cancer_case: FittedCase) -> None:
    predictor = accelml.load(cancer_case.model_dir)
    with pytest.raises(ConfigError, match="100 rows to explain is more than max_rows=10"):
        predictor.explain(cancer_case.test, max_rows=10)


def _files(case: FittedCase, tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "test.csv"
    case.test.to_csv(data, index=False)
    return case.model_dir, data


def test_the_cli_writes_an_explanation_folder(cancer_case: FittedCase, tmp_path: Path) -> None:
    model, data = _files(cancer_case, tmp_path)
    out = tmp_path / "explain"
    result = runner.invoke(app, ["explain", str(model), str(data), "-o", str(out),
                                 "--max-rows", "40"])
    assert result.exit_code == 0, result.output
    assert "explained a random sample of 40 of 100 rows" in result.output
    assert {p.name for p in out.iterdir()} == {
        "reasons.csv", "contributions.csv", "importance.csv", "dependence.csv",
        "dependence.png", "summary.json"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["explained_rows"] == 40 and summary["exact"] is False
    contributions = pd.read_csv(out / "contributions.csv")
    assert len(contributions) == 40 and "base_value" in contributions
    importance = pd.read_csv(out / "importance.csv")
    assert importance["feature"].iloc[0] in {"worst_concave_points", "worst_perimeter",
                                             "worst_radius", "mean_concave_points"}
    again = runner.invoke(app, ["explain", str(model), str(data), "-o", str(out)])
    assert again.exit_code == 0, again.output  # an earlier explanation is replaced


def test_the_cli_refuses_a_folder_it_did_not_write(cancer_case: FittedCase,
                                                    tmp_path: Path) -> None:
    model, data = _files(cancer_case, tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = runner.invoke(app, ["explain", str(model), str(data), "-o", str(mine)])
    assert result.exit_code == 2
    assert "not an earlier `accelml explain` output" in result.output
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_predict_explain_adds_reasons_and_refuses_too_many_rows(
        cancer_case: FittedCase, tmp_path: Path) -> None:
    model, data = _files(cancer_case, tmp_path)
    out = tmp_path / "predictions.csv"
    refused = runner.invoke(app, ["predict", str(model), str(data), "--explain",
                                  "--max-rows", "50", "-o", str(out)])
    assert refused.exit_code == 2
    assert "100 rows to explain is more than max_rows=50" in " ".join(refused.output.split())
    assert not out.exists()
    result = runner.invoke(app, ["predict", str(model), str(data), "--explain", "--top", "2",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert {"prediction", "proba_malignant", "reason_1", "reason_2"} <= set(written)
    assert len(written) == 100 and written["reason_2"].notna().all()


def test_explain_without_a_training_column_fails_in_the_cli(cancer_case: FittedCase,
                                                             tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    cancer_case.test.drop(columns=["mean_area"]).to_csv(data, index=False)
    out = tmp_path / "explain"
    result = runner.invoke(app, ["explain", str(cancer_case.model_dir), str(data),
                                 "-o", str(out)])
    assert result.exit_code == 2
    assert "'mean_area'" in result.output and "Traceback" not in result.output
    assert not out.exists()
    assert not list(tmp_path.glob(".explain-*"))  # no staging folder left behind


def test_the_server_explains_rows(cancer_case: FittedCase) -> None:
    from fastapi.testclient import TestClient

    from accelml.serve.app import ServeSettings, create_app

    client = TestClient(create_app(ServeSettings(str(cancer_case.model_dir))))
    rows = cancer_case.test.drop(columns=["diagnosis"]).head(2).to_dict("records")
    answer = client.post("/v1/explain", json={"rows": rows}, params={"top": 2})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["predictions"]) == 2 and len(body["explanations"]) == 2
    reasons = body["explanations"][0]["reasons"]
    assert [set(r) for r in reasons] == [{"feature", "value", "contribution"}] * 2
    assert body["output"] == "P(malignant)" and body["exact"] is False
    missing = client.post("/v1/explain", json={"rows": [{"mean_radius": 1.0}]})
    assert missing.status_code == 422


def test_the_cli_audit_names_a_leaking_column_and_a_missing_target(tmp_path: Path) -> None:
    frame = planted(300, 2)
    frame["label_copy"] = frame["label"].map({"yes": "Y", "no": "N"})
    data = tmp_path / "train.csv"
    frame.to_csv(data, index=False)
    result = runner.invoke(app, ["audit", str(data), "--target", "label", "--json"])
    assert result.exit_code == 0, result.output
    findings = json.loads(result.output)
    leaks = [f["column"] for f in findings
             if f["check"] == "target_leakage" and f["severity"] == "high"]
    assert leaks == ["label_copy"]
    table = runner.invoke(app, ["audit", str(data), "--target", "label"])
    assert table.exit_code == 0 and "label_copy" in table.output
    wrong = runner.invoke(app, ["audit", str(data), "--target", "lable"])
    assert wrong.exit_code == 2
    assert "'label'" in wrong.output and "Traceback" not in wrong.output


def test_the_cli_writes_a_report_and_refuses_an_unknown_slice(cancer_case: FittedCase,
                                                               tmp_path: Path) -> None:
    model, data = _files(cancer_case, tmp_path)
    page = tmp_path / "report.html"
    wrong = runner.invoke(app, ["report", str(model), "--data", str(data), "--slice-by",
                                "size_bnd", "-o", str(page)])
    assert wrong.exit_code == 2 and "size_band" in wrong.output
    assert not page.exists()
    result = runner.invoke(app, ["report", str(model), "--data", str(data), "--slice-by",
                                 "size_band", "-o", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "Fairness slices" in text
    assert "size_band = " in text  # the largest gap, named
