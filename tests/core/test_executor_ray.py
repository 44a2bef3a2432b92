"""RayExecutor on a real two-node Ray cluster (two raylets on this machine, one CPU each).

Results and the files trials write come back to the driver; a crash, a dying worker, a worker
killed with SIGKILL and a hang past the deadline are trial records; the two nodes run trials at
once; a bad address is a ConfigError.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accelml.core import executor_ray
from accelml.core.executor_ray import RayExecutor, cluster_cpus
from accelml.core.trial import TrialKind, TrialResult, TrialSpec, TrialStatus
from accelml.errors import ConfigError, MissingDependencyError

ray = pytest.importorskip("ray")

MODULES = ("accelml.testing.fake_learners",)


@pytest.fixture(scope="module")
def cluster(ray_nodes: Any) -> str:
    """The address of the module's cluster."""
    return str(ray_nodes.address)


@pytest.fixture
def executor(cluster: str, view_dir: Path) -> Iterator[RayExecutor]:
    executor = RayExecutor(view_dir, n_workers=2, modules=MODULES, address=cluster)
    try:
        yield executor
    finally:
        executor.shutdown()
    assert not ray.is_initialized()  # it connected, so it disconnects


def _spec(trial_id: int, learner: str, limit: float = 30.0, **config: object) -> TrialSpec:
    return TrialSpec(trial_id, learner, {"shrink": 0.0, **config}, None, limit, 0, 1)


def _drain(executor: RayExecutor, until_s: float = 60.0) -> list[TrialResult]:
    results: list[TrialResult] = []
    end = time.monotonic() + until_s
    while executor.running() and time.monotonic() < end:
        results.extend(executor.completed(timeout_s=0.2))
    return results


def _read_pid(path: Path, timeout_s: float = 30.0) -> int:
    """The pid a sleeping trial wrote, once it has written it."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        text = path.read_text() if path.exists() else ""
        if text.isdigit():
            return int(text)
        time.sleep(0.05)
    raise AssertionError(f"no pid in {path} after {timeout_s}s")


def _gone(pid: int, timeout_s: float = 10.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_results_and_trial_files_come_back_to_the_driver(executor: RayExecutor,
                                                         tmp_path: Path) -> None:
    assert cluster_cpus() == 2
    search = TrialSpec(0, "prior", {"shrink": 0.0}, None, 30.0, 0, 1,
                       output_dir=tmp_path / "t0", keep_folds_at_loss=float("inf"))
    final = TrialSpec(1, "prior", {"shrink": 0.0}, None, 30.0, 0, 1, kind=TrialKind.REFIT,
                      output_dir=tmp_path / "t1")
    executor.submit(search)
    executor.submit(final)
    assert executor.free_slots() == 0
    with pytest.raises(RuntimeError, match="no free worker slot"):
        executor.submit(_spec(2, "prior"))
    results = {r.spec.trial_id: r for r in _drain(executor)}
    assert results[0].status is TrialStatus.OK and results[0].score is not None
    assert results[0].spec == search  # the driver's spec, not the worker's scratch paths
    assert results[0].oof_path == tmp_path / "t0" / "oof.npy"
    assert np.load(results[0].oof_path).shape == (60, 2)
    assert results[0].bag_dir == tmp_path / "t0" / "folds"
    assert (results[0].bag_dir / "1" / "prior.json").is_file()
    assert results[1].status is TrialStatus.OK
    assert results[1].artifact_dir == tmp_path / "t1"
    assert (tmp_path / "t1" / "prior.json").is_file()
    assert (tmp_path / "t1" / "trial.json").is_file()
    assert executor.free_slots() == 2


def test_failures_are_records_and_the_executor_keeps_working(executor: RayExecutor) -> None:
    executor.submit(_spec(0, "crashing"))
    executor.submit(_spec(1, "dying"))
    results = {r.spec.trial_id: r for r in _drain(executor)}
    assert results[0].status is TrialStatus.FAILED
    assert "always crashes" in (results[0].error or "")
    assert results[1].status is TrialStatus.FAILED
    assert (results[1].error or "").startswith("Ray worker died")
    executor.submit(_spec(2, "prior"))
    (ok,) = _drain(executor)
    assert ok.status is TrialStatus.OK and ok.score is not None


def test_a_hanging_trial_is_killed_past_its_deadline(executor: RayExecutor,
                                                     tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    executor.submit(_spec(0, "sleeping", limit=1.0, pid_file=str(pid_file)))
    pid = _read_pid(pid_file)
    started = time.monotonic()  # the trial's clock starts when its worker does
    (result,) = _drain(executor)
    elapsed = time.monotonic() - started
    assert result.status is TrialStatus.TIMEOUT
    assert "past its 1.0s limit" in (result.error or "")
    assert elapsed < 1.0 * 1.1 + 2.0 + 1.5
    assert _gone(pid)
    assert executor.free_slots() == 2


def test_a_worker_killed_mid_trial_fails_that_trial_only(executor: RayExecutor,
                                                         tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    executor.submit(_spec(0, "sleeping", pid_file=str(pid_file)))
    pid = _read_pid(pid_file)
    os.kill(pid, signal.SIGKILL)
    (result,) = _drain(executor)
    assert result.status is TrialStatus.FAILED
    assert (result.error or "").startswith("Ray worker died")
    assert _gone(pid)
    executor.submit(_spec(1, "prior"))
    (ok,) = _drain(executor)
    assert ok.status is TrialStatus.OK
    # the next trial swept the scratch folder the killed worker could not remove
    scratch = f"{executor_ray.SCRATCH_PREFIX}{socket.gethostname()}-{pid}-*"
    assert not list(Path(tempfile.gettempdir()).glob(scratch))


def test_a_node_that_dies_fails_its_trial_only(ray_nodes: Any, view_dir: Path,
                                               tmp_path: Path) -> None:
    # Both nodes busy, so the third trial runs on a node added for it, which then dies.
    executor = RayExecutor(view_dir, n_workers=3, modules=MODULES,
                           address=str(ray_nodes.address))
    doomed = None
    try:
        for trial_id, name in enumerate("ab"):
            executor.submit(_spec(trial_id, "sleeping", pid_file=str(tmp_path / name)))
        for name in "ab":
            _read_pid(tmp_path / name)
        doomed = ray_nodes.add_node(num_cpus=1)
        ray_nodes.wait_for_nodes()
        executor.submit(_spec(2, "sleeping", pid_file=str(tmp_path / "c")))
        _read_pid(tmp_path / "c")
        ray_nodes.remove_node(doomed, allow_graceful=False)  # its raylet and workers are killed
        doomed = None
        (result,) = executor.completed(timeout_s=60.0)
        assert result.spec.trial_id == 2 and result.status is TrialStatus.FAILED
        assert (result.error or "").startswith("Ray worker died: NodeDiedError")
        assert executor.running() == 2
    finally:
        executor.shutdown()
        if doomed is not None:
            ray_nodes.remove_node(doomed)


def test_cancel_stops_trials_in_flight(executor: RayExecutor, tmp_path: Path) -> None:
    executor.submit(_spec(0, "sleeping", pid_file=str(tmp_path / "pid")))
    pid = _read_pid(tmp_path / "pid")
    (result,) = executor.cancel("the budget ran out")
    assert result.status is TrialStatus.FAILED and result.spec.trial_id == 0
    assert result.error == "the budget ran out"
    assert executor.running() == 0 and executor.free_slots() == 2
    assert _gone(pid)
    assert list(executor.completed(timeout_s=0.1)) == []


def test_both_nodes_run_trials_at_once(executor: RayExecutor, tmp_path: Path) -> None:
    # Each node has one CPU and each trial asks for one: both running means both nodes do.
    executor.submit(_spec(0, "sleeping", pid_file=str(tmp_path / "a")))
    executor.submit(_spec(1, "sleeping", pid_file=str(tmp_path / "b")))
    pids = {_read_pid(tmp_path / "a"), _read_pid(tmp_path / "b")}
    assert len(pids) == 2
    assert list(executor.completed(timeout_s=0.1)) == []  # both still sleeping, side by side
    assert len(executor.cancel("done")) == 2


def test_a_trial_ray_cannot_start_times_out_too(cluster: str, view_dir: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Three slots on two CPUs: the third trial waits for a CPU, which the sleepers never free.
    monkeypatch.setattr(executor_ray, "START_GRACE_S", 0.0)
    monkeypatch.setattr(executor_ray, "KILL_GRACE_S", 0.0)  # given up at its 0.1 s limit
    executor = RayExecutor(view_dir, n_workers=3, modules=MODULES, address=cluster)
    try:
        for trial_id, name in enumerate("ab"):
            executor.submit(_spec(trial_id, "sleeping", pid_file=str(tmp_path / name)))
        for name in "ab":
            _read_pid(tmp_path / name)  # both CPUs are taken
        executor.submit(_spec(2, "prior", limit=0.1))
        (queued,) = executor.completed(timeout_s=10.0)
        assert queued.spec.trial_id == 2 and queued.status is TrialStatus.TIMEOUT
        assert "not started after" in (queued.error or "")
        assert executor.running() == 2  # the sleepers, whose clocks started when they did
    finally:
        executor.shutdown()


def test_a_warm_start_directory_reaches_the_worker(executor: RayExecutor,
                                                   tmp_path: Path) -> None:
    init_dir = tmp_path / "model"
    init_dir.mkdir()
    (init_dir / "prior.json").write_text("[0.25, 0.75]")
    warm = TrialSpec(0, "warm", {"shrink": 0.0}, None, 30.0, 0, 1,
                     output_dir=tmp_path / "t0", init_from=init_dir)
    cold = TrialSpec(1, "warm", {"shrink": 0.0}, None, 30.0, 0, 1, output_dir=tmp_path / "t1")
    executor.submit(warm)
    executor.submit(cold)
    results = {r.spec.trial_id: r for r in _drain(executor)}
    assert results[0].status is TrialStatus.OK
    assert results[0].spec.init_from == init_dir
    assert results[0].info["warm_started"] == 1.0
    assert results[0].oof_path is not None
    positive = np.load(results[0].oof_path)[:, 1]
    assert np.allclose(positive[~np.isnan(positive)], 0.75)  # the prior shipped from here
    assert results[1].info["warm_started"] == 0.0


@pytest.mark.parametrize(("address", "message"), [
    ("127.0.0.1:1", r"cannot reach a Ray cluster at --ray-address '127\.0\.0\.1:1'.*ray start"),
    ("ray://127.0.0.1:10001", r"'ray://127\.0\.0\.1:10001' is a Ray Client address"),
])
def test_a_bad_address_is_a_config_error_naming_it(view_dir: Path, address: str,
                                                   message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RayExecutor(view_dir, n_workers=1, modules=MODULES, address=address)
    assert not ray.is_initialized()


def test_without_ray_the_error_names_the_extra(view_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"accelml\[distributed\]"):
        RayExecutor(view_dir, n_workers=1)


def test_without_an_address_it_starts_and_stops_its_own_ray(view_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        cluster_cpus()
    executor = RayExecutor(view_dir, n_workers=1, modules=MODULES, num_cpus=1)
    try:
        assert cluster_cpus() == 1  # a new local instance, not the module's cluster
        executor.submit(_spec(0, "prior"))
        (result,) = _drain(executor)
        assert result.status is TrialStatus.OK
    finally:
        executor.shutdown()
    assert not ray.is_initialized()


def test_scratch_of_gone_workers_on_this_host_is_swept(tmp_path: Path) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # reaped: its pid names no process now
    host = socket.gethostname()
    gone = tmp_path / f"{executor_ray.SCRATCH_PREFIX}{host}-{finished.pid}-abc"
    alive = tmp_path / f"{executor_ray.SCRATCH_PREFIX}{host}-{os.getpid()}-def"
    elsewhere = tmp_path / f"{executor_ray.SCRATCH_PREFIX}other-host-{finished.pid}-ghi"
    for folder in (gone, alive, elsewhere):
        (folder / "output").mkdir(parents=True)
        (folder / "output" / "trial.json").write_text("{}")
    assert executor_ray.sweep_scratch(tmp_path) == [gone]
    assert not gone.exists()
    assert (alive / "output" / "trial.json").exists()  # a running trial keeps its files
    assert (elsewhere / "output" / "trial.json").exists()  # another node's is not ours
