"""Serving an image model: base64-encoded image files in, the same answers as `predict`."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the [vision] extra is not installed")
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

import accelml  # noqa: E402
from accelml.serve.app import ServeSettings, create_app  # noqa: E402
from tests.vision._digits import digits  # noqa: E402


def _png(pixels: np.ndarray, side: int = 16) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels.reshape(8, 8)).resize((side, side)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def image_client(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, Path]:
    pixels, labels = digits()
    keep = np.isin(labels, (0, 1, 7))
    out = tmp_path_factory.mktemp("served_images") / "model"
    # three trials and a final fit of the epochs its trial validated: a served network is all
    # these tests need, not a run that spends its budget training longer
    accelml.fit((pixels[keep][:150].reshape(-1, 8, 8), labels[keep][:150]), time_budget=20,
                learners=("cnn",), quiet=True, out=out, max_trials=3, final_train_fraction=0.0)
    return TestClient(create_app(ServeSettings(str(out), max_rows=8))), out


def test_images_answer_as_predict_does(image_client: tuple[TestClient, Path]) -> None:
    client, out = image_client
    pixels, _ = digits()
    sample = pixels[150:154]
    response = client.post("/v1/predict", json={"images": [_png(p, 8) for p in sample]})
    assert response.status_code == 200, response.text
    body = response.json()
    predictor = accelml.load(out)
    assert body["predictions"] == predictor.predict(sample.reshape(-1, 8, 8)).tolist()
    expected = predictor.predict_proba(sample.reshape(-1, 8, 8)).to_numpy()
    got = np.array([[row[str(c)] for c in predictor.classes] for row in body["probabilities"]])
    assert np.abs(got - expected).max() < 1e-6
    bigger = client.post("/v1/predict", json={"images": [_png(sample[0], 32)]})
    assert bigger.status_code == 200  # any size is brought to the model's
    schema = client.get("/v1/schema").json()
    assert "base64" in schema["input"] and schema["classes"] == ["0", "1", "7"]


def test_bad_images_are_422_naming_the_image(image_client: tuple[TestClient, Path]) -> None:
    client, _ = image_client
    good = _png(digits()[0][0], 8)
    not_base64 = client.post("/v1/predict", json={"images": [good, "%%%"]})
    assert not_base64.status_code == 422 and "images[1] is not base64" in not_base64.text
    not_image = base64.b64encode(b"hello, not a picture").decode()
    broken = client.post("/v1/predict", json={"images": [not_image]})
    assert broken.status_code == 422 and "images[0] is not a readable image" in broken.text
    many = client.post("/v1/predict", json={"images": [good] * 9})
    assert many.status_code == 422 and "at most 8 items" in many.text
    rows = client.post("/v1/predict", json={"rows": [{"a": 1}]})
    assert rows.status_code == 422
