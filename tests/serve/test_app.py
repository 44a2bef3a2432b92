"""The prediction API: answers equal to the batch path, the schema and metadata, and every
kind of bad request."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import accelml
from accelml.errors import ArtifactError, ConfigError
from accelml.serve.app import ServeSettings, create_app
from tests.serve.conftest import request_rows

KEY = "k" * 24


@pytest.fixture(scope="module")
def client(served_model: Path) -> TestClient:
    return TestClient(create_app(ServeSettings(str(served_model), max_rows=50,
                                               max_body_bytes=64 * 1024)))


def _detail(response) -> str:  # noqa: ANN001
    return json.dumps(response.json()["detail"])


def test_answers_equal_the_batch_path(client: TestClient, served_model: Path) -> None:
    rows = request_rows(20)
    response = client.post("/v1/predict", json={"rows": rows})
    assert response.status_code == 200, response.text
    body = response.json()
    predictor = accelml.load(served_model)
    frame = pd.DataFrame(rows)
    assert body["predictions"] == predictor.predict(frame).tolist()
    expected = predictor.predict_proba(frame)
    got = pd.DataFrame(body["probabilities"])[[str(c) for c in expected.columns]]
    assert np.abs(got.to_numpy() - expected.to_numpy()).max() < 1e-6
    one = client.post("/v1/predict", json={"rows": rows[:1]}).json()
    assert one["predictions"] == body["predictions"][:1]


def test_schema_example_and_openapi_come_from_the_model(client: TestClient) -> None:
    schema = client.get("/v1/schema").json()
    names = [c["name"] for c in schema["columns"]]
    assert "size_band" in names and schema["target"] == "diagnosis"
    example = client.post("/v1/predict", json=schema["example_request"])
    assert example.status_code == 200, example.text
    openapi = client.get("/openapi.json").json()
    row = openapi["components"]["schemas"]["Row"]
    assert set(row["required"]) >= {"mean_radius", "size_band", "screened", "visit"}
    assert row["properties"]["size_band"]["x-categories"] == ["medium", "small", "large"] or \
        set(row["properties"]["size_band"]["x-categories"]) == {"small", "medium", "large"}
    assert row["additionalProperties"] is False


def test_metadata_health_and_readiness(client: TestClient) -> None:
    meta = client.get("/v1/metadata").json()
    assert meta["task"] == "binary" and meta["metric"] == "roc_auc"
    assert meta["members"][0]["learner"] == "lightgbm" and "lightgbm" in meta["trained_with"]
    assert meta["leaderboard_top"] and meta["format_version"] == 1
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"ready": True}


def test_unknown_categories_and_missing_values_are_handled_as_in_training(
        client: TestClient, served_model: Path) -> None:
    rows = request_rows(3)
    rows[0]["size_band"] = "gigantic"
    rows[1]["mean_radius"] = None
    rows[2]["screened"] = "yes"
    response = client.post("/v1/predict", json={"rows": rows})
    assert response.status_code == 200, response.text
    rows[2]["screened"] = True  # what pydantic made of "yes"
    expected = accelml.load(served_model).predict_proba(pd.DataFrame(rows))
    got = pd.DataFrame(response.json()["probabilities"])[[str(c) for c in expected.columns]]
    assert np.abs(got.to_numpy() - expected.to_numpy()).max() < 1e-6


@pytest.mark.parametrize(("change", "field", "message"), [
    (lambda r: r.update(mean_radius="wide"), "mean_radius", "valid number"),
    (lambda r: r.pop("size_band"), "size_band", "Field required"),
    (lambda r: r.update(colour="red"), "colour", "Extra inputs are not permitted"),
    (lambda r: r.update(screened="perhaps"), "screened", "valid boolean"),
], ids=["wrong-type", "missing-field", "unknown-field", "bad-boolean"])
def test_bad_rows_are_422_naming_the_field(client: TestClient, change, field: str,  # noqa: ANN001
                                          message: str) -> None:
    row = request_rows(1)[0]
    change(row)
    response = client.post("/v1/predict", json={"rows": [row]})
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"][-1] == field and message in error["msg"]


def test_malformed_json_empty_and_too_many_rows(client: TestClient) -> None:
    broken = client.post("/v1/predict", content=b'{"rows": [', headers={
        "content-type": "application/json"})
    assert broken.status_code == 422 and "json_invalid" in broken.text
    empty = client.post("/v1/predict", json={"rows": []})
    assert empty.status_code == 422 and "at least 1 item" in _detail(empty)
    many = client.post("/v1/predict", json={"rows": request_rows(1) * 51})
    assert many.status_code == 422 and "at most 50 items" in _detail(many)
    huge = client.post("/v1/predict", json={"rows": request_rows(1) * 100_000})
    assert huge.status_code == 413 and "fewer rows per request" in _detail(huge)
    assert client.get("/healthz").status_code == 200  # still serving


def test_api_key_is_required_when_set(served_model: Path) -> None:
    guarded = TestClient(create_app(ServeSettings(str(served_model), api_key=KEY)))
    body = {"rows": request_rows(1)}
    assert guarded.post("/v1/predict", json=body).status_code == 401
    wrong = guarded.post("/v1/predict", json=body, headers={"x-api-key": KEY + "x"})
    assert wrong.status_code == 401 and "wrong API key" in wrong.text
    assert guarded.post("/v1/predict", json=body, headers={"x-api-key": KEY}).status_code == 200
    bearer = guarded.get("/v1/schema", headers={"authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 200
    assert guarded.get("/healthz").status_code == 200  # probes need no key
    with pytest.raises(ConfigError, match="at least 16 characters"):
        ServeSettings(str(served_model), api_key="short")


def test_api_docs_need_the_key_and_can_be_turned_off(served_model: Path) -> None:
    guarded = TestClient(create_app(ServeSettings(str(served_model), api_key=KEY)))
    for path in ("/openapi.json", "/docs", "/redoc"):
        refused = guarded.get(path)
        assert refused.status_code == 401, path
        assert "size_band" not in refused.text and "wrong API key" in refused.text
        allowed = guarded.get(path, headers={"x-api-key": KEY})
        assert allowed.status_code == 200, path
    document = guarded.get("/openapi.json", headers={"x-api-key": KEY}).json()
    assert "size_band" in document["components"]["schemas"]["Row"]["properties"]
    assert guarded.get("/healthz").status_code == 200
    assert guarded.get("/readyz").status_code == 200
    off = TestClient(create_app(ServeSettings(str(served_model), api_key=KEY, docs=False)))
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert off.get(path, headers={"x-api-key": KEY}).status_code == 404, path
    assert off.post("/v1/predict", json={"rows": request_rows(1)},
                    headers={"x-api-key": KEY}).status_code == 200


def test_a_422_does_not_echo_the_request(served_model: Path) -> None:
    client = TestClient(create_app(ServeSettings(str(served_model), max_rows=50)))
    rows = request_rows(1) * 2000  # about 1 MB of JSON
    many = client.post("/v1/predict", json={"rows": rows})
    assert many.status_code == 422 and "at most 50 items" in many.text
    assert len(many.content) < 1000 and "mean_radius" not in many.text
    bad = [dict(row, mean_radius="wide") for row in request_rows(30)]
    errors = client.post("/v1/predict", json={"rows": bad}).json()
    assert len(errors["detail"]) == 20 and errors["more_errors"] == 10
    first = errors["detail"][0]
    assert first["loc"] == ["body", "rows", 0, "mean_radius"] and first["input"] == "wide"
    long_text = client.post("/v1/predict", json={"rows": [dict(bad[0], mean_radius="x" * 5000)]})
    assert long_text.status_code == 422 and "x" * 200 not in long_text.text
    missing = client.post("/v1/predict", json={"rows": [{"mean_radius": 1.0}]}).json()
    assert all("input" not in error for error in missing["detail"])  # the row is not echoed


def test_a_newer_or_tampered_model_directory_is_refused(served_model: Path,
                                                        tmp_path: Path) -> None:
    newer = tmp_path / "newer"
    shutil.copytree(served_model, newer)
    manifest = json.loads((newer / "manifest.json").read_text())
    manifest["format_version"] = 99
    (newer / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="newer"):
        create_app(ServeSettings(str(newer)))
    tampered = tmp_path / "tampered"
    shutil.copytree(served_model, tampered)
    (tampered / "preprocessor.json").write_text("{}")
    with pytest.raises(ArtifactError, match="preprocessor.json"):
        create_app(ServeSettings(str(tampered)))


def test_an_answer_says_the_models_warnings_but_not_the_garbage_collectors(
        served_model: Path) -> None:
    import warnings

    from accelml.serve.app import _answer

    predictor = accelml.load(served_model)
    original = predictor.predict_with_proba

    def noisy(data):  # noqa: ANN001, ANN202
        warnings.warn("an infinite value was read as missing", UserWarning, stacklevel=1)
        warnings.warn("<Connection> was deleted while still open", ResourceWarning,
                      stacklevel=1)
        return original(data)

    predictor.predict_with_proba = noisy  # type: ignore[method-assign]
    answer = _answer(predictor, request_rows(1))
    assert answer["warnings"] == ["an infinite value was read as missing"]
