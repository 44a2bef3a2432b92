"""The modality seam, tested the way a third party uses it: a modality defined entirely in
tests/toy_modality.py (sequences of integers, labelled by the parity of their sum) runs
``accelml.fit``, ``predict``, ``evaluate``, save / load, ``accelml predict`` and the server."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import accelml
from accelml.cli import app
from accelml.core.learner import registered
from accelml.core.modality import get_modality
from accelml.core.task import TaskKind
from accelml.testing.conformance import check_registered
from tests.toy_modality import NAME, Sequences, labelled_sequences

fastapi = pytest.importorskip("fastapi")


def _sequences(n: int, seed: int) -> Sequences:
    return labelled_sequences(n, seed)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("toy") / "model"
    accelml.fit(_sequences(200, seed=0), time_budget=20, out=out, quiet=True, max_trials=3)
    return out


def test_fit_predict_evaluate_save_and_load(model_dir: Path) -> None:
    test = _sequences(60, seed=1)
    predictor = accelml.load(model_dir)
    assert predictor.preprocessor.kind == NAME
    assert set(predictor.leaderboard()["learner"]) == {"parity_counts"}
    assert list(predictor.predict(test.items)) == test.labels
    assert predictor.evaluate(test)["accuracy"] == 1.0
    assert predictor.info["search_ended_by"] == "max_trials"


def test_the_cli_predicts_and_evaluates_its_files(model_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "rows.txt"
    source.write_text("1 2\n2 2 2\n7\n")
    output = tmp_path / "predictions.csv"
    result = CliRunner().invoke(app, ["predict", str(model_dir), str(source), "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(output)["prediction"].tolist() == ["odd", "even", "odd"]
    labelled = tmp_path / "labelled.txt"
    labelled.write_text("odd: 1 2\neven: 4\n")
    result = CliRunner().invoke(app, ["evaluate", str(model_dir), str(labelled), "--json"])
    assert result.exit_code == 0 and '"accuracy": 1.0' in result.output, result.output


def test_the_server_takes_sequences(model_dir: Path) -> None:
    from fastapi.testclient import TestClient

    from accelml.serve.app import ServeSettings, create_app

    client = TestClient(create_app(ServeSettings(str(model_dir))))
    answer = client.post("/v1/predict", json={"sequences": [[1, 2], [2, 2]]})
    assert answer.status_code == 200 and answer.json()["predictions"] == ["odd", "even"]
    schema = client.get("/v1/schema").json()
    assert schema["example_request"] == {"sequences": [[1, 2, 3]]}
    refused = client.post("/v1/predict", json={"sequences": [["a"]]})
    assert refused.status_code == 422


def test_its_learner_passes_the_conformance_suite_on_its_registered_data(tmp_path: Path
                                                                        ) -> None:
    check_registered(registered()["parity_counts"], TaskKind.BINARY, tmp_path)


def test_a_modality_is_picked_by_detection_or_by_name() -> None:
    toy = get_modality(NAME)
    assert toy.detect(_sequences(3, seed=2), None)
    assert not toy.detect(pd.DataFrame({"a": [1]}), None)
    with pytest.raises(accelml.errors.ConfigError, match="unknown modality 'sequence'"):
        accelml.fit(_sequences(10, seed=3), modality="sequence", time_budget=5)
