"""The fallback rule: a run that finished a trial always returns a model (the next best's
refit, or a trial's kept models, when the best's refit fails or cannot fit), a run with no
trial in time serves the constant model (unless strict), and the manifest says which."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import accelml.api  # noqa: F401  (registers the tabular preprocessor)
from accelml.config import RunConfig
from accelml.core.budget import Budget, busy_cores, mark_command_start, process_start
from accelml.core.constant import CONSTANT
from accelml.core.data import DatasetView, Features
from accelml.core.engine import build_view, fit_predictor
from accelml.core.learner import FitFacts, get_learner, learners_for
from accelml.core.memory import is_out_of_memory
from accelml.core.predictor import Predictor
from accelml.core.refit import no_model_message
from accelml.core.reserve import refit_reserve
from accelml.core.runner import SearchLoop
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialResult, TrialSpec, TrialStatus
from accelml.errors import ConfigError, SearchError
from accelml.tabular.preprocess import TabularPreprocessor

MODULES = ("accelml.testing.fake_learners", "tests.core._refit_faults")
BINARY = Task(TaskKind.BINARY, "y", "roc_auc", ("a", "b"), 1)


class _Identity:
    kind = "tabular"  # the engine searches the learners of this modality (the fake ones)
    schema = None

    def to_dict(self) -> dict[str, object]:
        return {}


def _view(config: RunConfig, rows: int = 80) -> DatasetView:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(rows, 2))
    return build_view(Features(X), (X[:, 0] > 0).astype(np.int64), BINARY, config)


def _run(budget: float, **options: Any) -> Predictor:
    config = RunConfig(time_budget=budget, quiet=True, n_jobs=1, n_workers=1, ensemble_size=1,
                       **options)
    return fit_predictor(_view(config), _Identity(), config, Budget(budget), MODULES)


# --- the best trial's refit fails: the next best is served, and the manifest says so ---


@pytest.mark.parametrize(("learner", "cap", "cause"), [
    ("refit_crashing", None, "RuntimeError: this refit always crashes"),
    ("refit_hungry", 64.0, "needed more than the 64 MB --max-trial-memory allows"),
])
def test_a_failed_refit_of_the_best_serves_the_next_best(learner: str, cap: float | None,
                                                         cause: str) -> None:
    config = RunConfig(time_budget=10, quiet=True, n_jobs=1, n_workers=1, ensemble_size=1,
                       learners=(learner, "prior"), max_trials=2, max_trial_memory_mb=cap)
    predictor = fit_predictor(_view(config), _Identity(), config, Budget(10), MODULES,
                              fixed={learner: {"megabytes": 512}})
    fallback = predictor.info["fallback"]
    assert fallback["served"] == "next_best_refit" and fallback["learner"] == "prior"
    assert "the refit of trial" in fallback["why"] and f"({learner})" in fallback["why"]
    assert cause in fallback["why"]
    assert predictor.info["final_learner"] == "prior"
    assert [m.learner for m in predictor.members] == ["prior"]
    board = predictor.leaderboard()
    assert board.loc[board["final"], "learner"].tolist() == ["prior"]


def test_every_refit_failing_serves_the_constant_model_and_strict_refuses() -> None:
    options = {"learners": ("refit_crashing",), "max_trials": 1}
    predictor = _run(8, **options)
    fallback = predictor.info["fallback"]
    assert fallback["served"] == CONSTANT
    assert "no final model: the refit of trial 0 (refit_crashing) failed: RuntimeError: this " \
           "refit always crashes" in fallback["why"]
    assert "exclude the failing learner" in fallback["why"]
    with pytest.raises(SearchError, match=r"refit always crashes.*without --strict"):
        _run(8, strict=True, **options)


def test_a_refit_that_hangs_is_killed_and_a_model_still_served() -> None:
    predictor = _run(6, learners=("refit_hanging",), max_trials=1)
    fallback = predictor.info["fallback"]
    assert fallback["served"] == CONSTANT
    assert "(refit_hanging) timed out: killed after" in fallback["why"]
    assert "raise --time-budget" in fallback["why"]


def test_a_deterministic_run_whose_refit_the_clock_killed_says_it_may_not_repeat() -> None:
    predictor = _run(6, learners=("refit_hanging",), max_trials=1, deterministic=True)
    assert predictor.info["search_ended_by"] == "max_trials"  # the search was not cut ...
    assert predictor.info["deterministic_clock_cuts"] == ["trial 0 (refit_hanging)"]
    assert predictor.info["deterministic_cut_by_clock"] is True  # ... its final fit was
    assert predictor.info["fallback"]["served"] == CONSTANT


class _Searcher:
    """What refit_best reads of a searcher: the loss and no fidelity rungs."""

    fidelity_share = None

    @staticmethod
    def loss(score: float) -> float:
        return -score


def test_a_refit_that_cannot_fit_in_the_time_left_serves_the_kept_models(tmp_path: Path) -> None:
    config = RunConfig(time_budget=10, quiet=True, n_jobs=1)
    view = _view(config)
    kept = TrialResult(TrialSpec(0, "prior", {}, None, 5, 0, 1), TrialStatus.OK, score=0.9,
                       cost_s=500.0, artifact_dir=tmp_path)  # its refit: far past the budget
    other = TrialResult(TrialSpec(1, "prior", {}, None, 5, 0, 1), TrialStatus.OK, score=0.8,
                        cost_s=400.0)
    loop = SearchLoop(view, config, Budget(10), None, _Searcher(), tmp_path)  # type: ignore[arg-type]
    loop.outcome.results += [kept, other]
    outcome = loop.fits.refit_best(loop.ranked(), lambda stage: None)
    assert outcome.refit is kept and outcome.chosen is kept and not outcome.refit_attempts
    assert outcome.fallback is not None and outcome.fallback["served"] == "kept_models"
    assert "the refit of trial 0 (prior), about" in outcome.fallback["why"]
    assert "did not fit in the" in outcome.fallback["why"]


class _Refitting:
    """An executor that finishes each refit at once, and records what it was given."""

    def __init__(self) -> None:
        self.specs: list[TrialSpec] = []

    def free_slots(self) -> int:
        return 1

    def submit(self, spec: TrialSpec) -> None:
        self.specs.append(spec)

    def completed(self, timeout_s: float) -> list[TrialResult]:
        spec = self.specs[-1]
        return [TrialResult(spec, TrialStatus.OK, cost_s=0.1, artifact_dir=spec.output_dir)]


def test_when_no_refit_fits_the_cheapest_gets_the_time_left(tmp_path: Path) -> None:
    config = RunConfig(time_budget=10, quiet=True, n_jobs=1)
    best = TrialResult(TrialSpec(0, "prior", {}, None, 5, 0, 1), TrialStatus.OK, score=0.9,
                       cost_s=500.0)
    cheaper = TrialResult(TrialSpec(1, "prior", {}, None, 5, 0, 1), TrialStatus.OK, score=0.8,
                          cost_s=300.0)
    executor = _Refitting()
    loop = SearchLoop(_view(config), config, Budget(10), executor,  # type: ignore[arg-type]
                      _Searcher(), tmp_path)  # type: ignore[arg-type]
    loop.outcome.results += [best, cheaper]
    outcome = loop.fits.refit_best(loop.ranked(), lambda stage: None)
    assert [spec.trial_id for spec in executor.specs] == [1_000_001]  # only the cheaper one
    assert outcome.chosen is cheaper and outcome.fallback is not None
    assert outcome.fallback["served"] == "next_best_refit" and outcome.fallback["trial"] == 1
    assert outcome.fallback["why"].count("did not fit in the") == 2


class _ShortRefits(_Refitting):
    """Refits that end OK having trained ``units[trial]`` units (rounds, epochs) each."""

    def __init__(self, units: dict[int, float]) -> None:
        super().__init__()
        self.units = units

    def completed(self, timeout_s: float) -> list[TrialResult]:
        spec = self.specs[-1]
        trained = self.units[spec.trial_id - 1_000_000]
        return [TrialResult(spec, TrialStatus.OK, cost_s=0.1, artifact_dir=spec.output_dir,
                            facts=FitFacts(units_trained=trained))]


def _validated(trial: int, score: float, units: int) -> TrialResult:
    return TrialResult(TrialSpec(trial, "prior", {}, None, 5, 0, 1), TrialStatus.OK,
                       score=score, cost_s=0.1, facts=FitFacts(units_trained=units,
                                                               refit_units=units))


def _fits(tmp_path: Path, units: dict[int, float], *trials: TrialResult
          ) -> tuple[SearchLoop, _ShortRefits]:
    config = RunConfig(time_budget=30, quiet=True, n_jobs=1)
    executor = _ShortRefits(units)
    loop = SearchLoop(_view(config), config, Budget(30), executor,  # type: ignore[arg-type]
                      _Searcher(), tmp_path)  # type: ignore[arg-type]
    loop.outcome.results += list(trials)
    return loop, executor


def test_a_refit_cut_short_by_its_deadline_gives_way_to_the_next_best(tmp_path: Path) -> None:
    best, second = _validated(0, 0.9, 40), _validated(1, 0.8, 40)
    loop, executor = _fits(tmp_path, {0: 1, 1: 40}, best, second)
    outcome = loop.fits.refit_best(loop.ranked(), lambda stage: None)
    assert [spec.trial_id for spec in executor.specs] == [1_000_000, 1_000_001]
    assert outcome.chosen is second and outcome.fallback is not None
    assert outcome.fallback["served"] == "next_best_refit"
    assert "the refit of trial 0 (prior) was cut short by its deadline after 1 of 40 units" \
        in outcome.fallback["why"]


def test_when_every_refit_is_cut_short_the_best_one_is_served_and_said(tmp_path: Path) -> None:
    best, second = _validated(0, 0.9, 40), _validated(1, 0.8, 40)
    loop, _ = _fits(tmp_path, {0: 19, 1: 3}, best, second)
    outcome = loop.fits.refit_best(loop.ranked(), lambda stage: None)
    assert outcome.chosen is best and outcome.refit is not None
    assert outcome.refit.facts.units_trained == 19  # not the constant model
    assert outcome.fallback is not None and outcome.fallback["served"] == "cut_short_refit"


def test_a_member_refit_cut_short_is_left_out_of_the_blend(tmp_path: Path) -> None:
    full, short = _validated(0, 0.9, 40), _validated(1, 0.8, 40)
    loop, _ = _fits(tmp_path, {0: 20, 1: 19}, full, short)
    assert loop.fits.refit_member(full, lambda stage: None) is not None  # half is enough
    assert loop.fits.refit_member(short, lambda stage: None) is None
    assert len(loop.outcome.member_refits) == 2  # both on the record


# --- no trial finished by the deadline: the constant model, marked, savable and servable ---


def _table(rows: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=rows), "c": rng.choice(["u", "v"], rows)})
    return frame, pd.Series(np.where(frame["x"] > 0, "yes", "no"), name="y")


def test_no_trial_in_time_serves_the_constant_model(tmp_path: Path) -> None:
    frame, labels = _table()
    task = Task(TaskKind.BINARY, "y", "roc_auc", ("no", "yes"), 1)
    preprocessor = TabularPreprocessor().fit(frame)
    config = RunConfig(time_budget=4, quiet=True, learners=("hanging",), n_jobs=1)
    view = build_view(preprocessor.transform(frame), (labels == "yes").to_numpy(np.int64),
                      task, config)
    predictor = fit_predictor(view, preprocessor, config, Budget(4), MODULES)
    assert predictor.info["fallback"]["served"] == CONSTANT
    assert predictor.info["final_learner"] == CONSTANT
    board = predictor.leaderboard()
    top = board.iloc[0]
    assert top["learner"] == CONSTANT and top["status"] == "fallback" and bool(top["final"])
    assert "raise --time-budget" in top["error"]
    assert set(board["status"]) - {"fallback"} <= {"timeout"}
    assert predictor.info["trials"] == len(board) - 1  # the search's, not the constant model
    prior = predictor.predict_proba(frame).to_numpy()
    assert np.allclose(prior, [np.mean(labels == "no"), np.mean(labels == "yes")])
    predictor.save(tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["run"]["fallback"]["served"] == CONSTANT
    loaded = Predictor.load(tmp_path / "model")
    assert np.allclose(loaded.predict_proba(frame.head(3)).to_numpy(), prior[:3])
    majority = labels.value_counts().idxmax()
    assert set(loaded.predict(frame)) == {majority}
    from accelml.api import export_model

    pytest.importorskip("onnx")
    with pytest.raises(ConfigError, match="'constant' is a constant model"):
        export_model(tmp_path / "model", tmp_path / "model.onnx")


def test_with_strict_no_trial_in_time_is_an_error() -> None:
    config = RunConfig(time_budget=4, quiet=True, learners=("hanging",), n_jobs=1, strict=True)
    with pytest.raises(SearchError, match=r"(no trial finished|raise --time-budget).*strict"):
        fit_predictor(_view(config), _Identity(), config, Budget(4), MODULES)


def test_trials_that_all_fail_on_their_own_remain_an_error() -> None:
    config = RunConfig(time_budget=6, quiet=True, learners=("crashing",), n_jobs=1)
    with pytest.raises(SearchError, match="fix the data, or exclude the failing learners"):
        fit_predictor(_view(config), _Identity(), config, Budget(6), MODULES)


def test_every_trial_out_of_memory_names_the_cap() -> None:
    spec = TrialSpec(0, "hungry", {}, None, 5, 0, 1, max_memory_mb=16)
    failed = TrialResult(spec, TrialStatus.OUT_OF_MEMORY, error="needed more than the 16 MB")
    assert "raise --max-trial-memory" in no_model_message([failed], Budget(10))
    timed_out = TrialResult(spec, TrialStatus.TIMEOUT, error="killed after 3.0s")
    both = no_model_message([failed, failed, timed_out], Budget(10))
    assert "all 3 trials failed (2 out_of_memory, 1 timeout: " in both
    assert both.endswith("raise --max-trial-memory (or leave it out); raise --time-budget")
    assert is_out_of_memory(ImportError("_catboost.so: failed to map segment from shared "
                                        "object"))


def test_the_cli_saves_the_constant_model_unless_strict(tmp_path: Path) -> None:
    frame, labels = _table(40)
    frame["y"] = labels
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "accelml.cli", "fit", str(data), "--target", "y",
            "--time-budget", "0.5", "-q"]
    strict = subprocess.run([*base, "--out", str(tmp_path / "strict"), "--strict"],
                            capture_output=True, text=True, env=env)
    assert strict.returncode == 2 and "Traceback" not in strict.stderr
    assert "error:" in strict.stderr and "--strict" in strict.stderr
    assert not (tmp_path / "strict").exists()
    served = subprocess.run([*base, "--out", str(tmp_path / "model")], capture_output=True,
                            text=True, env=env)
    assert served.returncode == 0, served.stderr
    assert "warning:" in served.stderr and "constant model" in served.stderr
    assert "fallback: constant" in served.stderr
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["run"]["fallback"]["served"] == CONSTANT
    assert [m["learner"] for m in manifest["members"]] == [CONSTANT]
    endless = subprocess.run([*base[:-2], "inf", "-q", "--out", str(tmp_path / "inf")],
                             capture_output=True, text=True, env=env)
    assert endless.returncode == 2 and "time_budget must be a number of seconds > 0 and finite, " \
        "got inf" in endless.stderr


# --- the constant learner, the budget clock, the configuration ---


def test_the_constant_learner_is_never_searched() -> None:
    import accelml.tabular.learners  # noqa: F401

    assert get_learner(CONSTANT).name == CONSTANT
    assert CONSTANT not in {learner.name for learner in learners_for(TaskKind.BINARY)}
    with pytest.raises(ConfigError, match="'constant' is for fallback data"):
        learners_for(TaskKind.BINARY, include=[CONSTANT])


def test_the_budget_starts_when_the_command_started() -> None:
    assert process_start() <= time.monotonic()
    mark_command_start(time.monotonic() - 5.0)
    budget = Budget.resumed(60.0, spent_s=1.0)
    assert budget.elapsed() >= 6.0
    assert Budget.resumed(60.0, spent_s=0.0).elapsed() < 5.0  # the mark is used once


def test_saving_and_loading_are_priced_for_a_busy_machine() -> None:
    config = RunConfig(time_budget=100, cv_folds=4)
    view = _view(config, 100)
    trial = TrialResult(TrialSpec(0, "prior", {}, None, 5, 0, 1), TrialStatus.OK, score=0.9,
                        cost_s=4.0)
    idle = refit_reserve([trial], view, Budget(100), lambda s: -s)
    busy = refit_reserve([trial], view, Budget(100), lambda s: -s, slowness=2.0)
    assert busy > idle
    assert 0.0 <= busy_cores(0.05) <= (os.cpu_count() or 1)


def test_trials_and_final_fits_use_only_the_cores_other_work_leaves_free(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from accelml.core import refit, reserve

    monkeypatch.setattr(reserve.os, "cpu_count", lambda: 2)
    config = RunConfig(time_budget=10, n_jobs=2, n_workers=1)
    execution = config.execution
    assert reserve.trial_threads(execution, busy_elsewhere=0.2) == 2
    assert reserve.trial_threads(execution, busy_elsewhere=1.0) == 1
    assert reserve.trial_threads(execution, busy_elsewhere=7.0) == 1
    assert reserve.final_fit_threads(execution, 2, busy_now=1.0, fixed_layout=False) == 1
    assert reserve.final_fit_threads(execution, 2, busy_now=1.0, fixed_layout=True) == 2
    monkeypatch.setattr(refit, "busy_cores", lambda: 1.0)
    loop = SearchLoop(_view(config), config, Budget(10), None, None,  # type: ignore[arg-type]
                      tmp_path, busy_elsewhere=0.0)
    assert loop.threads == 2 and loop.fits.threads() == 1
    capped = config.with_changes(max_trial_memory_mb=64, n_workers=2)
    loop = SearchLoop(_view(capped), capped, Budget(10), None, None,  # type: ignore[arg-type]
                      tmp_path)
    assert loop.fits.threads() == loop.threads == 1  # the threads the cap held with
