"""A learner whose trials gain nothing beyond noise is sampled no more (the settle rule), and
the judge of a gain: paired out-of-fold predictions against the bootstrap's error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from accelml.config import RunConfig
from accelml.core import noise
from accelml.core.budget import Budget
from accelml.core.data import DataShape, Features
from accelml.core.engine import build_view, fit_predictor
from accelml.core.learner import discover, get_learner
from accelml.core.metrics import get_metric
from accelml.core.search import SETTLE_TRIALS, Proposal, Searcher
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialResult, TrialSpec, TrialStatus

MODULES = ("accelml.testing.fake_learners",)
BINARY = Task(TaskKind.BINARY, "y", "roc_auc", ("a", "b"), 1)
REGRESSION = Task(TaskKind.REGRESSION, "y", "rmse", (), None)


def _result(proposal: Proposal, score: float, oof_path: Path | None = None) -> TrialResult:
    spec = TrialSpec(proposal.trial_id, proposal.learner, proposal.config, None, 1, 0, 1)
    return TrialResult(spec, TrialStatus.OK, score=score, cost_s=0.1, oof_path=oof_path)


def _searcher(beyond_noise: object) -> Searcher:
    discover(MODULES)
    learners = [get_learner("prior"), get_learner("warm")]
    spaces = {learner.name: dict(learner.space(BINARY, DataShape(100, 2)))
              for learner in learners}
    return Searcher(learners, BINARY, spaces, seed=0, portfolios={"prior": [], "warm": []},
                    beyond_noise=beyond_noise)  # type: ignore[arg-type]


def test_a_learner_without_a_gain_beyond_noise_settles_and_the_search_turns_away() -> None:
    searcher = _searcher(lambda earlier, later: False)  # every gain is noise
    told: list[str] = []
    score = {"prior": 0.80, "warm": 0.70}
    while (proposal := searcher.ask()) is not None:
        told.append(proposal.learner)
        score[proposal.learner] += 1e-4  # a gain each trial, all within noise
        searcher.tell(_result(proposal, score[proposal.learner]))
        assert len(told) < 4 * SETTLE_TRIALS, "the search never settled"
    assert searcher.settled == ["prior", "warm"]
    # each learner: its first trial (the reference) and SETTLE_TRIALS without a gain
    assert told.count("prior") == told.count("warm") == SETTLE_TRIALS + 1
    # the learner tried first was sampled until it settled, then the other took over
    assert told == ["prior"] * (SETTLE_TRIALS + 1) + ["warm"] * (SETTLE_TRIALS + 1)


def test_gains_beyond_noise_keep_a_learner_searched() -> None:
    searcher = _searcher(lambda earlier, later: True)
    for step in range(3 * SETTLE_TRIALS):
        proposal = searcher.ask()
        assert proposal is not None
        searcher.tell(_result(proposal, 0.5 + step * 1e-3))  # every trial a real gain
    assert searcher.settled == []


def test_small_gains_add_up_to_a_real_gain_over_the_reference() -> None:
    """The count restarts when the best so far beats the trial of the last real gain by
    more than noise, not only the best before it: many small steps add up."""
    judged: list[tuple[float, float]] = []

    def beyond_noise(earlier: TrialResult, later: TrialResult) -> bool:
        judged.append((earlier.score, later.score))  # type: ignore[arg-type]
        return later.score - earlier.score > 0.01  # type: ignore[operator]

    searcher = _searcher(beyond_noise)
    for step in range(SETTLE_TRIALS * 2):
        proposal = searcher.ask()
        assert proposal is not None
        searcher.tell(_result(proposal, 0.5 + step * 0.002))
    assert searcher.settled == []
    assert all(abs(earlier - 0.5) < 1e-9 or earlier > 0.5 for earlier, _ in judged)
    assert any(later - earlier > 0.01 for earlier, later in judged)


def _oof(tmp_path: Path, name: str, values: np.ndarray) -> Path:
    path = tmp_path / f"{name}.npy"
    np.save(path, values)
    return path


def _judge_regression(y: np.ndarray) -> Callable[[TrialResult, TrialResult], bool]:
    metric = get_metric("rmse")
    return noise.gain_judge(y, lambda t, p: metric.loss(t, p, REGRESSION), REGRESSION)


def _trial(trial_id: int, score: float, oof_path: Path | None) -> TrialResult:
    spec = TrialSpec(trial_id, "prior", {}, None, 1, 0, 1)
    return TrialResult(spec, TrialStatus.OK, score=score, oof_path=oof_path)


def test_the_judge_tells_a_real_gain_from_noise(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y, error = rng.normal(size=400), rng.normal(size=400)
    shaken = error * (1 + 0.3 * rng.normal(size=400))  # other errors row by row...
    shaken *= 0.995 * np.sqrt(np.mean(error**2) / np.mean(shaken**2))  # ...0.5 % fewer in all
    judge = _judge_regression(y)
    earlier = _trial(0, 1.0, _oof(tmp_path, "rough", y + error))
    assert judge(earlier, _trial(1, 0.6, _oof(tmp_path, "better", y + 0.6 * error)))
    assert not judge(earlier, _trial(2, 0.995, _oof(tmp_path, "hair", y + shaken)))
    assert judge(earlier, _trial(3, 0.9, None))  # nothing to compare: any gain counts


def test_the_judge_of_a_large_table_bootstraps_a_sample_and_scales_its_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On more rows than GAIN_ROWS the bootstrap runs on GAIN_ROWS of them and its error is
    scaled to all the rows (the error of a mean falls as the square root of the rows)."""
    rows_compared: list[int] = []

    def fixed_gap(loss: object, y: np.ndarray, *args: object) -> tuple[float, float]:
        rows_compared.append(len(y))
        return 0.01, 0.02  # half a standard error on the rows compared

    monkeypatch.setattr(noise, "paired_gap", fixed_gap)
    monkeypatch.setattr(noise, "GAIN_ROWS", 400)
    for rows, real in ((400, False), (4000, True)):  # 0.02 * sqrt(400 / 4000) = 0.0063
        y = np.zeros(rows)
        earlier = _trial(0, 1.0, _oof(tmp_path, f"earlier{rows}", y + 1))
        later = _trial(1, 0.99, _oof(tmp_path, f"later{rows}", y + 0.99))
        assert _judge_regression(y)(earlier, later) is real
    assert rows_compared == [400, 400]


def test_a_search_whose_every_learner_settles_ends_early_and_says_why() -> None:
    """A class prior scores the same ROC AUC whatever its config: after its reference and
    SETTLE_TRIALS trials the search ends, long before its budget."""
    discover(MODULES)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 2))
    features, y = Features(X), (X[:, 0] > 0).astype(np.int64)
    config = RunConfig(time_budget=120, learners=("prior",), cv_folds=4, quiet=True,
                       n_workers=1)  # (with two, a trial is in flight when the last is told)
    predictor = fit_predictor(build_view(features, y, BINARY, config), _Identity(), config,
                              Budget(config.time_budget), MODULES)
    assert predictor.info["search_ended_by"] == "learners_settled"
    assert predictor.info["trials"] == SETTLE_TRIALS + 1


class _Identity:
    kind = "tabular"
    schema = None

    def transform(self, data: object) -> Features:
        raise NotImplementedError

    def to_dict(self) -> dict[str, object]:
        return {}
