"""The fine-tuned transformer learner on a toy sentiment set written here: it learns, warm
starts continue (or keep their starting weights when the restart hurt), the deadline and
out-of-reach rules hold, and the conformance suite passes. One thread: a thread on a busy
core stalls torch's others."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from accelml.core.budget import Deadline
from accelml.core.data import Features
from accelml.core.learner import FidelityOutOfReach, Fitted
from accelml.core.task import Task, TaskKind
from accelml.errors import ArtifactError
from accelml.text.encoder import unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=f"{unavailable()}")

GOOD = ["a wonderful film", "great acting and a lovely story", "i loved every minute",
        "brilliant and moving", "a joy to watch", "funny , warm and smart",
        "the best movie this year", "superb direction", "a delight from start to finish",
        "beautifully shot and acted", "charming and clever", "an excellent cast",
        "heartfelt and uplifting", "a real pleasure", "i would watch it again",
        "fresh , lively and fun", "a triumph", "gripping and rewarding",
        "the music is lovely", "pure entertainment"]
BAD = ["a dull mess", "boring and far too long", "i hated it", "terrible acting",
       "a waste of time", "clumsy , flat and tedious", "the worst film this year",
       "awful script", "a painful bore", "badly shot and badly acted", "stupid and lazy",
       "a weak cast", "cold and depressing", "a real chore", "i walked out",
       "stale , lifeless and dull", "a disaster", "confusing and pointless",
       "the music is grating", "pure tedium"]
BINARY = Task(TaskKind.BINARY, "sentiment", "log_loss", (0, 1), 1)
FAST = {"lr": 1e-4, "schedule": "cosine", "batch_size": 16, "max_length": 64}


def text_features(texts: list[str]) -> Features:
    block = np.empty(len(texts), dtype=object)
    block[:] = texts
    return Features(np.empty((len(texts), 0)), blocks={"text": block})


SENTIMENT = text_features(GOOD + BAD)
LABELS = np.array([1] * len(GOOD) + [0] * len(BAD))


def learner():  # type: ignore[no-untyped-def]
    from accelml.text.learners.transformer import TextTransformer

    return TextTransformer()


def fit(steps: int, config: dict | None = None, **kwargs) -> Fitted:  # type: ignore[type-arg]
    settings = {"task": BINARY, "deadline": Deadline.never(), "n_jobs": 1, "seed": 0,
                **kwargs}
    return learner().fit(SENTIMENT, LABELS, {**FAST, **(config or {})}, fidelity=steps,
                         **settings)


def log_loss(fitted: Fitted) -> float:
    proba = learner().predict(fitted, SENTIMENT)
    return float(-np.mean(np.log(proba[np.arange(len(LABELS)), LABELS])))


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> tuple[Fitted, Path]:
    """Five steps of fine-tuning, saved: the start of the continuations below."""
    fitted = fit(5)
    directory = tmp_path_factory.mktemp("parent")
    learner().save(fitted, directory)
    return fitted, directory


def test_import_loads_no_torch() -> None:
    code = ("import sys, accelml.text.learners; from accelml.core.learner import registered; "
            "assert 'text_transformer' in registered(); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_learns_toy_sentiment() -> None:
    fitted = fit(10)
    proba = learner().predict(fitted, SENTIMENT)
    assert proba.shape == (len(LABELS), 2) and proba.dtype == np.float64
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert np.mean(proba.argmax(axis=1) == LABELS) >= 0.9
    assert log_loss(fitted) < 0.5  # chance is 0.69
    assert fitted.facts.units_trained == 10 and fitted.info["steps"] == 10
    assert fitted.info["final_lr_share"] < 0.1  # the decay ran to its end


def test_warm_start_continues(parent: tuple[Fitted, Path]) -> None:
    start, directory = parent
    continued = fit(10, init_from=directory, valid=(SENTIMENT, LABELS))
    assert continued.facts.units_trained == 10 and continued.facts.warm_start_units == 5
    assert continued.info["warm_start_steps"] == 5
    assert "kept_start_weights" not in continued.info
    assert log_loss(continued) < log_loss(start)


def test_warm_start_from_another_config_starts_afresh(parent: tuple[Fitted, Path]) -> None:
    _, directory = parent
    fresh = fit(2, {"max_length": 128}, init_from=directory)
    assert fresh.facts.units_trained == 2 and fresh.facts.warm_start_units == 0


def test_continuation_that_hurts_keeps_its_start(parent: tuple[Fitted, Path]) -> None:
    start, directory = parent
    flipped = (SENTIMENT, 1 - LABELS)  # learning the labels worsens this "validation"
    kept = fit(10, init_from=directory, valid=flipped)
    assert kept.info["kept_start_weights"] is True
    assert kept.facts.units_trained == 5 and kept.info["steps"] == 5
    assert np.allclose(learner().predict(kept, SENTIMENT),
                       learner().predict(start, SENTIMENT), rtol=0, atol=1e-6)


def test_save_load_round_trip_and_refusals(parent: tuple[Fitted, Path]) -> None:
    start, directory = parent
    assert sorted(p.name for p in directory.iterdir()) == ["info.json", "model.safetensors"]
    loaded = learner().load(directory, BINARY)
    assert np.allclose(learner().predict(loaded, SENTIMENT),
                       learner().predict(start, SENTIMENT), rtol=0, atol=1e-12)
    regression = Task(TaskKind.REGRESSION, "score", "rmse")
    with pytest.raises(ArtifactError, match="not a 'text_transformer' model for a regression"):
        learner().load(directory, regression)
    with pytest.raises(ArtifactError, match="is missing"):
        learner().load(directory / "nothing", BINARY)


def test_one_row_predicts_as_in_the_batch(parent: tuple[Fitted, Path]) -> None:
    start, _ = parent
    batch = learner().predict(start, SENTIMENT)
    for row in (0, 7, len(LABELS) - 1):
        single = learner().predict(start, SENTIMENT.take(np.array([row])))
        assert np.allclose(single[0], batch[row], rtol=0, atol=1e-6)


def test_deadline_stops_training_at_a_low_rate() -> None:
    fitted = fit(1000, deadline=Deadline.in_seconds(3.0))
    assert 1 <= fitted.facts.units_trained < 1000
    assert fitted.info["deadline_hit"] is True
    assert fitted.info["final_lr_share"] < 0.5  # the decay was planned on the steps that fit


def test_out_of_reach_gives_up_after_a_few_steps() -> None:
    with pytest.raises(FidelityOutOfReach, match="out of reach: 3000 steps"):
        fit(3000, deadline=Deadline.in_seconds(4.0), reach_fidelity=True)


def test_regression_on_values() -> None:
    task = Task(TaskKind.REGRESSION, "score", "rmse")
    values = LABELS * 4.0 + 1.0
    fitted = learner().fit(SENTIMENT, values, FAST, task=task, fidelity=3,
                           deadline=Deadline.never(), n_jobs=1, seed=0)
    prediction = learner().predict(fitted, SENTIMENT)
    assert prediction.shape == (len(values),) and np.isfinite(prediction).all()
    assert fitted.info["target_mean"] == pytest.approx(3.0)
