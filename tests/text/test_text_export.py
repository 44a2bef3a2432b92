"""ONNX export of text models: every n-gram learner (word and character n-grams) alone,
blended over two text columns, stacked and as a regressor, matching the native predictor on
new sentences; the refusals, a failed check leaving no file, and the command line."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("onnxruntime", reason="the [export] extra is not installed")

import accelml  # noqa: E402
from accelml.cli import app  # noqa: E402
from accelml.core.budget import Deadline  # noqa: E402
from accelml.core.learner import discover, get_learner  # noqa: E402
from accelml.core.predictor import Member, Predictor  # noqa: E402
from accelml.core.stacking import Stacker  # noqa: E402
from accelml.core.task import encode_target, infer_task  # noqa: E402
from accelml.errors import ConfigError  # noqa: E402
from accelml.testing.text_corpus import reviews  # noqa: E402
from accelml.text.export import export_text_onnx, run_text_onnx  # noqa: E402
from accelml.text.preprocess import TextPreprocessor  # noqa: E402

discover(("accelml.text.learners",))
runner = CliRunner()
#: One member per learner and featurizer shape: character ranges, word orders, plain and
#: sublinear tf, both SGD losses.
SPECS: dict[str, tuple[str, dict[str, Any]]] = {
    "logreg": ("text_logreg", {"char_ngrams": "2-5", "word_ngrams": 2}),
    "svm": ("text_svm", {"char_ngrams": "none", "word_ngrams": 3, "sublinear_tf": False}),
    "sgd_huber": ("text_sgd", {"char_ngrams": "1-5", "loss": "modified_huber"}),
    "sgd_log": ("text_sgd", {"char_ngrams": "3-5", "loss": "log_loss", "min_df": 1}),
    "nb": ("text_nb", {"char_ngrams": "2-4"}),
    "nbsvm": ("nbsvm", {"char_ngrams": "2-4", "word_ngrams": 3, "min_df": 1}),
}
#: New sentences: capitals, punctuation, unknown words, odd spacing, accents, digits, emoji,
#: one-letter words and an empty text.
NEW = pd.DataFrame({
    "text": ["The FILM was wonderful!!!", "this phone broke at once?", "",
             "Zorblax quuxes the gadget, honestly...", "  the   soup\twas\nAWFUL  ",
             "Café crème: 10/10 - naïve? yes!", "battery", "I say a plot was boring 😀",
             "THE SCREEN IS REALLY POOR", "don't buy; it's a DISASTER?!"],
    "title": ["x", "", "My NEW gadget!", "Dinner   out", "", "à la carte", "?",
              "At the cinema", "My new gadget", "Dinner out"],
})
PLACES = {"film": "At the cinema", "food": "Dinner out", "phone": "My new gadget"}


def _training() -> pd.DataFrame:
    frame = reviews(90)
    frame["title"] = frame["topic"].map(PLACES)
    return frame


def _predictor(target: str, specs: Sequence[tuple[str, dict[str, Any], float]],
               columns: Sequence[str] = ("text",), kind: str | None = None,
               side: Sequence[str] = ()) -> Predictor:
    """Members fitted directly on the preprocessor's features (no search: fixed, fast)."""
    frame = _training()[[*columns, *side, target]]
    preprocessor = TextPreprocessor().fit(frame.drop(columns=[target]), list(columns))
    features = preprocessor.training_features(frame.drop(columns=[target]))
    task = infer_task(frame[target], target, kind, None, None)
    y = encode_target(frame[target], task)
    members = []
    for group, (name, config, weight) in enumerate(specs):
        fitted = get_learner(name).fit(features, y, config, task=task, fidelity=None,
                                       deadline=Deadline.in_seconds(60), n_jobs=1, seed=0)
        members.append(Member(name, config, fitted, weight, group))
    return Predictor(task, preprocessor, members)


def _native(predictor: Predictor, frame: pd.DataFrame) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the empty text
        if predictor.task.kind.is_classification:
            return predictor.predict_proba(frame).to_numpy()
        return np.asarray(predictor.predict(frame), dtype=np.float64)


def _onnx(path: Path, frame: pd.DataFrame, columns: Sequence[str]) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {c: np.array(frame[c].tolist(), dtype=object) for c in columns})


@pytest.mark.parametrize("target", ["sentiment", "topic"])
@pytest.mark.parametrize("spec", list(SPECS))
def test_each_learner_exports_and_matches(spec: str, target: str, tmp_path: Path) -> None:
    name, config = SPECS[spec]
    predictor = _predictor(target, [(name, config, 1.0)])
    path = tmp_path / "model.onnx"
    difference = export_text_onnx(predictor, path, None)
    assert difference < 1e-4
    gap = np.abs(run_text_onnx(path, NEW, ["text"]) - _native(predictor, NEW)).max()
    assert gap < 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no staging left


def test_a_weighted_blend_over_two_text_columns(tmp_path: Path) -> None:
    specs = [(*SPECS[key], weight) for key, weight in
             zip(SPECS, [2.0, 1.0, 0.5, 1.0, 1.0, 1.5], strict=True)]
    predictor = _predictor("topic", specs, columns=("text", "title"))
    path = tmp_path / "blend.onnx"
    assert export_text_onnx(predictor, path, NEW.assign(topic="film")) < 1e-4
    probabilities, labels = _onnx(path, NEW, ["text", "title"])
    assert probabilities.shape == (len(NEW), 3)
    assert np.abs(probabilities - _native(predictor, NEW)).max() < 1e-4
    assert list(labels) == list(predictor.predict(NEW))


def test_a_stacked_blend_and_a_regressor(tmp_path: Path) -> None:
    predictor = _predictor("sentiment", [(*SPECS["logreg"], 1.0), (*SPECS["nbsvm"], 1.0),
                                         (*SPECS["nb"], 2.0)])
    predictor.members[2].group = 0  # two members read as one stacker input
    rng = np.random.default_rng(0)
    predictor.stacker = Stacker("logistic", (1, 0), rng.normal(size=(4, 2)),
                                rng.normal(size=2))
    assert export_text_onnx(predictor, tmp_path / "stacked.onnx", NEW) < 1e-4
    regressor = _predictor("stars", [("text_logreg", {"char_ngrams": "2-4"}, 1.0),
                                     ("text_sgd", {"word_ngrams": 1}, 1.0)],
                           kind="regression")
    path = tmp_path / "values.onnx"
    assert export_text_onnx(regressor, path, NEW) < 1e-4
    (values,) = _onnx(path, NEW, ["text"])
    assert values.shape == (len(NEW),)


def test_refused_members_are_named_and_nothing_is_written(tmp_path: Path) -> None:
    logreg, _ = SPECS["logreg"]
    frame = _training()
    task = infer_task(frame["sentiment"], "sentiment", None, None, None)
    preprocessor = TextPreprocessor().fit(frame[["text"]], ["text"])
    features = preprocessor.training_features(frame[["text"]])
    y = encode_target(frame["sentiment"], task)
    trees = get_learner("text_lightgbm").fit(features, y, {}, task=task, fidelity=50,
                                             deadline=Deadline.in_seconds(60), n_jobs=1,
                                             seed=0)
    linear = get_learner(logreg).fit(features, y, {}, task=task, fidelity=None,
                                     deadline=Deadline.in_seconds(60), n_jobs=1, seed=0)
    predictor = Predictor(task, preprocessor, [Member(logreg, {}, linear),
                                               Member("text_lightgbm", {}, trees)])
    path = tmp_path / "out" / "model.onnx"
    with pytest.raises(ConfigError, match=r"member 1 'text_lightgbm'.*--learners text_logreg"):
        export_text_onnx(predictor, path, None)
    assert not path.exists()
    side = _predictor("sentiment", [(logreg, {}, 1.0)], side=("length",))
    with pytest.raises(ConfigError, match=r"non-text column\(s\) 'length'"):
        export_text_onnx(side, path, None)
    embedded = dataclasses.replace(linear, model={**linear.model, "embed": np.array([True])})
    predictor.members[1] = Member(logreg, {}, embedded)
    with pytest.raises(ConfigError, match=r"member 1 'text_logreg'.*--embeddings off"):
        export_text_onnx(predictor, path, None)
    assert list(tmp_path.iterdir()) == []


def test_a_graph_that_differs_from_the_model_is_not_written(tmp_path: Path,
                                                            monkeypatch: Any) -> None:
    predictor = _predictor("sentiment", [(*SPECS["svm"], 1.0)])
    native = predictor.predict_proba
    monkeypatch.setattr(predictor, "predict_proba", lambda frame: native(frame) * 0.9)
    with pytest.raises(ConfigError, match="differs from the native model"):
        export_text_onnx(predictor, tmp_path / "new" / "folder" / "model.onnx", None)
    assert list(tmp_path.iterdir()) == []  # neither the file nor the folders made for it


@pytest.mark.slow
def test_the_command_line_exports_a_fitted_text_model(tmp_path: Path) -> None:
    model = tmp_path / "model"
    accelml.fit(reviews(90)[["text", "sentiment"]], "sentiment", time_budget=15, out=model,
                max_trials=3, learners=("text_logreg", "nbsvm"), embeddings="off", quiet=True,
                seed=0)
    output = tmp_path / "model.onnx"
    done = runner.invoke(app, ["export", str(model), "--format", "onnx", "-o", str(output)])
    assert done.exit_code == 0, done.output
    assert "largest difference" in done.output
    predictor = accelml.load(model)
    (probabilities, _) = _onnx(output, NEW, ["text"])
    assert np.abs(probabilities - _native(predictor, NEW)).max() < 1e-4
