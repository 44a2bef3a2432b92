"""Numbers a JSON client may send that are no ordinary numbers (infinities, NaN, values past
the float range, huge finite values, true/false, numbers written as text), through a linear
model (which used to overflow into a 500) and through LightGBM: the answer is always JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from accelml.serve.app import ServeSettings, create_app
from tests.conftest import diabetes_frame
from tests.serve.conftest import request_rows


@pytest.fixture(scope="module")
def clients(linear_model: Path, served_model: Path) -> dict[str, tuple[TestClient, dict, str]]:
    """Per learner: a client, a valid row, and the numeric field the tests change."""
    linear_row = diabetes_frame().drop(columns=["progression"]).iloc[0].to_dict()
    return {
        "linear": (TestClient(create_app(ServeSettings(str(linear_model))),
                              raise_server_exceptions=False), linear_row, "age"),
        "lightgbm": (TestClient(create_app(ServeSettings(str(served_model))),
                                raise_server_exceptions=False), request_rows(1)[0],
                     "mean_radius"),
    }


def _post(client: TestClient, row: dict, field: str, literal: str):  # noqa: ANN202
    """POST one row whose ``field`` is ``literal`` as written in the JSON text (Infinity,
    1e400...: what a client may send, but json.dumps never writes)."""
    text = json.dumps({"rows": [dict(row, **{field: "@@"})]}).replace('"@@"', literal)
    return client.post("/v1/predict", content=text, headers={"content-type": "application/json"})


def _answer(response) -> dict:  # noqa: ANN001
    assert response.status_code == 200, response.text
    body = json.loads(response.text)  # strict JSON: NaN or Infinity would be refused below
    json.dumps(body, allow_nan=False)
    return body


@pytest.mark.parametrize("learner", ["linear", "lightgbm"])
@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "1e400", '"inf"'])
def test_infinite_values_are_missing_with_a_warning(clients: dict, learner: str,
                                                    literal: str) -> None:
    client, row, field = clients[learner]
    missing = _answer(_post(client, row, field, "null"))
    answer = _answer(_post(client, row, field, literal))
    assert answer["predictions"] == missing["predictions"]
    assert answer.get("probabilities") == missing.get("probabilities")
    assert answer["warnings"] == [
        f"column {field!r}: 1 infinite value (inf, -inf or a number beyond the float range) "
        "read as missing; send finite numbers, or leave the value empty when it is missing"]
    assert "warnings" not in missing


@pytest.mark.parametrize("learner", ["linear", "lightgbm"])
def test_nan_is_a_missing_value(clients: dict, learner: str) -> None:
    client, row, field = clients[learner]
    assert _answer(_post(client, row, field, "NaN")) == _answer(_post(client, row, field,
                                                                      "null"))


@pytest.mark.parametrize("learner", ["linear", "lightgbm"])
@pytest.mark.parametrize(("literal", "end"), [("1e308", 1), ("-1e308", 0), ("1.7e308", 1)])
def test_huge_values_are_clipped_to_the_fitted_range(clients: dict, learner: str,
                                                     literal: str, end: int) -> None:
    client, row, field = clients[learner]
    spec = next(c for c in client.get("/v1/schema").json()["columns"] if c["name"] == field)
    bound = spec["clip"][end]
    assert math.isfinite(bound) and abs(bound) < 1e6  # the training range, widened
    answer = _answer(_post(client, row, field, literal))
    assert all(math.isfinite(value) for value in answer["predictions"]
               if isinstance(value, float))
    assert answer == _answer(_post(client, row, field, repr(bound)))


@pytest.mark.parametrize("learner", ["linear", "lightgbm"])
def test_true_is_refused_and_numbers_as_text_are_read(clients: dict, learner: str) -> None:
    client, row, field = clients[learner]
    for literal in ("true", "false"):
        refused = _post(client, row, field, literal)
        assert refused.status_code == 422, refused.text
        error = refused.json()["detail"][0]
        assert error["loc"][-1] == field and "not true or false" in error["msg"]
    value = row[field]
    assert _answer(_post(client, row, field, json.dumps(str(value)))) == _answer(
        _post(client, row, field, json.dumps(value)))
    wrong = _post(client, row, field, '"forty"')
    assert wrong.status_code == 422 and "valid number" in wrong.text


def test_an_infinite_value_in_a_refused_field_is_a_422(clients: dict) -> None:
    client, row, _ = clients["lightgbm"]
    response = _post(client, row, "screened", "Infinity")  # a boolean field
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["loc"][-1] == "screened" and error["input"] == "inf"
