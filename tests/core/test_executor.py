"""LocalExecutor: results stream back; a crash, a hang and a dying process are trial records."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from accelml.core.executor import LocalExecutor
from accelml.core.trial import TrialResult, TrialSpec, TrialStatus

MODULES = ("accelml.testing.fake_learners",)


def _spec(trial_id: int, learner: str, limit: float = 5.0) -> TrialSpec:
    return TrialSpec(trial_id, learner, {"shrink": 0.0}, None, limit, 0, 1)


def _drain(executor: LocalExecutor, until_s: float) -> list[TrialResult]:
    results: list[TrialResult] = []
    end = time.monotonic() + until_s
    while executor.running() and time.monotonic() < end:
        results.extend(executor.completed(timeout_s=0.2))
    return results


def test_failures_are_records_and_the_executor_keeps_working(view_dir: Path) -> None:
    executor = LocalExecutor(view_dir, n_workers=2, modules=MODULES)
    try:
        executor.submit(_spec(0, "crashing"))
        executor.submit(_spec(1, "dying"))
        results = {r.spec.trial_id: r for r in _drain(executor, 30)}
        assert results[0].status is TrialStatus.FAILED
        assert "always crashes" in (results[0].error or "")
        assert results[1].status is TrialStatus.FAILED
        assert "worker process died" in (results[1].error or "")
        executor.submit(_spec(2, "prior"))
        (ok,) = _drain(executor, 30)
        assert ok.status is TrialStatus.OK and ok.score is not None
    finally:
        executor.shutdown()


def test_shutdown_ends_a_worker_a_stop_signal_caught_while_it_started(view_dir: Path,
                                                                      monkeypatch) -> None:
    """A second Ctrl-C landing while a worker starts must not leave it running: it ignores
    SIGTERM, and the interpreter's exit would wait on it for ever."""
    executor = LocalExecutor(view_dir, n_workers=1, modules=MODULES)

    def interrupted(self: object) -> None:
        raise KeyboardInterrupt

    from accelml.core import executor as executor_module

    monkeypatch.setattr(executor_module._Slot, "wait_ready", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt) as caught:  # (its traceback holds the pipe open)
            executor.submit(_spec(0, "prior"))
        (worker,) = [p for p in multiprocessing.active_children() if p.daemon]
        assert worker.is_alive()
    finally:
        executor.shutdown()
    assert not worker.is_alive() and caught.value is not None


def test_a_hanging_trial_is_killed_at_its_deadline(view_dir: Path) -> None:
    executor = LocalExecutor(view_dir, n_workers=1, modules=MODULES)
    try:
        executor.warm_up()
        started = time.monotonic()
        executor.submit(_spec(0, "hanging", limit=0.5))
        (result,) = _drain(executor, 30)
        elapsed = time.monotonic() - started
        assert result.status is TrialStatus.TIMEOUT
        assert "limit" in (result.error or "")
        assert elapsed < 0.5 * 1.1 + 2.0 + 1.5
        assert executor.free_slots() == 1
    finally:
        executor.shutdown()


def test_a_trials_limit_starts_once_its_worker_has_started(view_dir: Path) -> None:
    """A worker slow to import its learners does not eat its first trial's time limit."""
    modules = (*MODULES, "tests.core._slow_worker_start")
    executor = LocalExecutor(view_dir, n_workers=1, modules=modules)
    try:
        executor.submit(_spec(0, "prior", limit=1.0))  # no warm_up: the worker starts now
        (result,) = _drain(executor, 30)
        assert result.status is TrialStatus.OK, result.error
    finally:
        executor.shutdown()
