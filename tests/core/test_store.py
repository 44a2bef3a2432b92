"""The run store: trials written as they finish and read back for a resume; the searcher
replays them; a memory cap turns an allocation past it into an out-of-memory record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from accelml.core.artifacts import write_model_dir
from accelml.core.data import DataShape
from accelml.core.learner import FitFacts, discover, get_learner
from accelml.core.memory import is_out_of_memory, memory_limit
from accelml.core.search import Searcher
from accelml.core.store import (
    RunStore,
    check_no_unfinished_run,
    has_unfinished_run,
    run_dir,
    stored_run,
)
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialResult, TrialSpec, TrialStatus
from accelml.errors import ArtifactError, ConfigError, SearchError

BINARY = Task(TaskKind.BINARY, "y", "roc_auc", ("a", "b"), 1)


def _result(store: RunStore, trial_id: int, status: TrialStatus = TrialStatus.OK,
            score: float | None = 0.9) -> TrialResult:
    out = store.root / "trials" / str(trial_id)
    out.mkdir(parents=True)
    np.save(out / "oof.npy", np.zeros(4))
    spec = TrialSpec(trial_id, "prior", {"shrink": 0.25}, None, 5.0, 0, 1, output_dir=out)
    return TrialResult(spec, status, score, 1.5, out / "oof.npy",
                       error=None if status is TrialStatus.OK else "boom",
                       info={"n_estimators": np.int64(12)},
                       facts=FitFacts(units_trained=12, refit_units=11.5, warm_start_units=2))


def test_trials_round_trip_through_the_optuna_storage(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "model", {"data": "x.csv"})
    store.record(_result(store, 0), -0.9, key=0, source="portfolio")
    store.record(_result(store, 1, TrialStatus.FAILED, None), None, key=1, source="sampler")
    assert has_unfinished_run(tmp_path / "model")
    again = RunStore.open(tmp_path / "model")
    trials = again.own_trials()
    assert [t.result.spec.trial_id for t in trials] == [0, 1]
    first = trials[0]
    assert first.source == "portfolio" and first.result.score == 0.9
    assert first.result.oof_path == store.root / "trials" / "0" / "oof.npy"
    assert first.result.info == {"n_estimators": 12}
    assert first.result.facts == FitFacts(units_trained=12, refit_units=11.5, warm_start_units=2)
    assert trials[1].result.status is TrialStatus.FAILED and trials[1].result.error == "boom"
    assert again.meta["resumed"] == 1
    # the history is a plain Optuna study: values are losses, failures are FAIL
    study = optuna.load_study(study_name=store.meta["study_name"], storage=store.storage_url)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL"]
    assert study.trials[0].value == -0.9


def test_a_stored_path_outside_the_run_directory_is_refused(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "model", {})
    result = _result(store, 0)
    outside = TrialResult(result.spec, result.status, result.score, result.cost_s,
                          tmp_path / "elsewhere.npy")
    store.record(outside, -0.9, key=0, source="sampler")
    with pytest.raises(ArtifactError, match="not a plain relative path inside"):
        RunStore.open(tmp_path / "model").own_trials()


def test_a_trial_whose_files_are_gone_is_run_again(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "model", {})
    store.record(_result(store, 0), -0.9, key=0, source="sampler")
    (store.root / "trials" / "0" / "oof.npy").unlink()
    assert RunStore.open(tmp_path / "model").own_trials() == []


def test_resume_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds no run to resume"):
        RunStore.open(tmp_path / "nothing")
    store = RunStore.create(tmp_path / "model", {})
    with pytest.raises(ConfigError, match="holds an unfinished run; continue it with "
                       "`accelml fit --resume"):
        check_no_unfinished_run(tmp_path / "model")
    store.finish()
    assert not (store.root / "trials").exists() and (store.root / "trials.db").is_file()
    with pytest.raises(ConfigError, match="already finished"):
        RunStore.open(tmp_path / "model")
    check_no_unfinished_run(tmp_path / "model")  # a finished run may be replaced


def test_a_bad_storage_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open the trial storage 'nosuchdb://x'"):
        RunStore.create(tmp_path / "model", {}, storage="nosuchdb://x")
    assert not (tmp_path / "model").exists()


def test_a_new_run_that_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    model = tmp_path / "model"
    with pytest.raises(SearchError), stored_run(model, {}, None, None):
        raise SearchError("all trials failed")
    assert not model.exists()
    with pytest.raises(ConfigError, match="pass --out"), stored_run(None, {}, "sqlite://", None):
        pass


def test_saving_the_model_keeps_the_run_store(tmp_path: Path) -> None:
    model = tmp_path / "model"
    store = RunStore.create(model, {})

    def write(staging: Path) -> dict[str, object]:
        (staging / "weights.txt").write_text("w")
        return {}

    write_model_dir(model, write)
    assert (model / "weights.txt").is_file() and (run_dir(model) / "run.json").is_file()
    manifest = json.loads((model / "manifest.json").read_text())
    assert list(manifest["files"]) == ["weights.txt"]  # the store is not part of the model
    assert RunStore.open(model).run_id == store.run_id


def test_replayed_trials_are_not_asked_again_and_ids_continue() -> None:
    discover(("accelml.testing.fake_learners",))
    learners = [get_learner("prior")]
    spaces = {"prior": dict(learners[0].space(BINARY, DataShape(10, 2)))}
    first = Searcher(learners, BINARY, spaces, seed=0)
    proposal = first.ask()
    assert proposal is not None and proposal.source == "portfolio"
    spec = TrialSpec(proposal.trial_id, "prior", proposal.config, None, 5.0, 0, 1)
    done = TrialResult(spec, TrialStatus.OK, 0.8, 1.0)

    second = Searcher(learners, BINARY, spaces, seed=0)
    second.replay(done, proposal.key, proposal.source)
    following = second.ask()
    assert following is not None
    assert following.source == "sampler" and following.trial_id == proposal.trial_id + 1
    assert second.stats["prior"].ok == 1 and second.stats["prior"].best_loss == -0.8


def test_a_memory_cap_turns_a_big_allocation_into_memory_error() -> None:
    with pytest.raises(MemoryError) as caught, memory_limit(64):
        np.ones(512 * 1024 * 1024 // 8)  # 512 MB
    assert is_out_of_memory(caught.value)
    assert np.ones(512 * 1024 * 1024 // 8).nbytes == 512 * 1024 * 1024  # the cap is lifted
    assert is_out_of_memory(RuntimeError("std::bad_alloc"))
    assert not is_out_of_memory(ValueError("bad input"))
