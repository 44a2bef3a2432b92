"""Explanations of text and image models: the words that moved each answer, occlusion
saliency per image, and their sections of the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import accelml
from accelml.cli import app
from accelml.errors import ConfigError
from accelml.explain.report import build_report
from accelml.testing.text_corpus import reviews

runner = CliRunner()


@pytest.fixture(scope="module")
def text_model() -> accelml.core.predictor.Predictor:
    return accelml.fit(reviews(150)[["text", "sentiment"]], "sentiment", time_budget=20,
                       max_trials=2, learners=("text_logreg",), embeddings="off", quiet=True,
                       seed=0)


def test_a_text_answer_is_explained_by_its_words(text_model: accelml.core.predictor.Predictor
                                                 ) -> None:
    rows = pd.DataFrame({"text": ["the soup was superb and the staff kind",
                                  "this phone broke at once, awful"]})
    table = text_model.explain(rows, top=2)
    assert list(table["prediction"]) == ["positive", "negative"]
    assert table.attrs["method"] == "each word left out in turn"
    first, second = table["reason_1"]
    assert first.split()[0] in {"superb", "kind"} and "(+" in first
    assert second.split()[0] in {"broke", "awful"} and "(+" in second
    page = build_report(text_model, pd.concat([rows, reviews(20, seed=3)[["text"]]]))
    assert "<h2>Words behind the answers</h2>" in page and "superb" in page


@pytest.fixture(scope="module")
def image_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    from tests.vision._digits import digits

    pixels, target = digits()
    keep = np.isin(target, [0, 1])
    images = pixels[keep][:80].reshape(-1, 8, 8)
    data = tmp_path_factory.mktemp("digits") / "digits.npz"
    np.savez(data, x=images, y=target[keep][:80])
    out = data.parent / "model"
    accelml.fit(data, time_budget=20, max_trials=1, learners=["cnn"], quiet=True, out=out)
    return out, images


def test_image_answers_get_a_saliency_map_each(image_model: tuple[Path, np.ndarray],
                                               tmp_path: Path) -> None:
    model_dir, images = image_model
    predictor = accelml.load(model_dir)
    table = predictor.explain(images[:3])
    assert list(table.columns) == ["prediction", "probability", "saliency"]
    assert table["saliency"][0].shape == (8, 8) and np.isfinite(table["saliency"][0]).all()
    with pytest.raises(ConfigError, match="3 rows to explain is more than max_rows=2"):
        predictor.explain(images[:3], max_rows=2)
    np.savez(tmp_path / "few.npz", x=images[:4], y=np.zeros(4, dtype=np.int64))
    out = tmp_path / "explain"
    result = runner.invoke(app, ["explain", str(model_dir), str(tmp_path / "few.npz"),
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(list((out / "saliency").glob("*.png"))) == 4
    assert len(pd.read_csv(out / "answers.csv")) == 4
    page = build_report(predictor, images[:4])
    assert "<h2>Saliency</h2>" in page
    refused = runner.invoke(app, ["predict", str(model_dir), str(tmp_path / "few.npz"),
                                  "--explain", "-o", str(tmp_path / "p.csv")])
    assert refused.exit_code == 2 and "saliency maps" in refused.output
