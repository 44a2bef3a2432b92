"""RayExecutor: the Executor protocol on a Ray cluster, one Ray task per trial.

What travels where. The dataset view is put in Ray's object store once, by the driver; every
task gets a reference to it, and each node's workers read it from the node's shared memory. Per
trial the driver ships the spec and, for a warm start, the ``init_from`` model directory packed
as bytes (workers may be on other machines and see none of the driver's files). The task runs
the trial in a temporary directory on its worker and sends back the result and, as bytes,
everything the trial wrote; the driver unpacks that into the spec's ``output_dir`` and points
the result's paths there.

Resources. A task asks for ``spec.n_jobs`` CPUs (at most the largest node's) and, when its
learner uses a GPU and the cluster has one, for one GPU; Ray then sets CUDA_VISIBLE_DEVICES on
the worker. Nothing is retried by Ray: a trial runs at most once.

Deadlines. A trial's clock starts when its worker does (the task's first message says so), not
when it is submitted: time Ray spends finding a node or starting a worker process is not the
trial's. It is killed at the same point as by LocalExecutor, 10% plus KILL_GRACE_S past its
limit; one Ray cannot start for START_GRACE_S more than that is given up as a timeout too.

Failures. A trial's own exception is a FAILED result (``run_trial`` never raises); a worker
process or node that dies mid-trial makes the trial FAILED ("Ray worker died ..."); a trial past
its deadline has its worker killed and becomes TIMEOUT. Nothing a trial does ends the run.

Ray is imported lazily: this module imports without it, and the executor names the extra that
installs it.
"""

from __future__ import annotations

import importlib
import io
import os
import shutil
import socket
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from accelml.core.executor import KILL_GRACE_S
from accelml.core.trial import TrialResult, TrialSpec, TrialStatus
from accelml.errors import ConfigError, MissingDependencyError

#: How long past a trial's kill time Ray may take to start it (schedule it on a node and start a
#: worker process) before the trial counts as timed out without ever running.
START_GRACE_S = 30.0

#: The port of a Ray address given without one (the GCS port `ray start --head` uses).
DEFAULT_GCS_PORT = 6379

#: Seconds to wait for a TCP connection to the cluster address before calling it unreachable.
CONNECT_TIMEOUT_S = 5.0

ADDRESS_FIX = "start a cluster with `ray start --head` or omit --ray-address"


def _ray() -> Any:
    """The ray module, imported on first use so the local backend never needs Ray."""
    try:
        module: ModuleType = importlib.import_module("ray")
    except ImportError:
        raise MissingDependencyError(
            "the ray backend needs Ray: pip install 'accelml[distributed]'") from None
    return module


def cluster_cpus() -> int:
    """CPUs of the whole cluster this process is connected to (create a RayExecutor first)."""
    ray = _ray()
    if not ray.is_initialized():
        raise RuntimeError("Ray is not initialized: create the RayExecutor first")
    return int(ray.cluster_resources().get("CPU", 0))


@dataclass(frozen=True)
class _Started:
    """The first item a trial task yields: the driver starts the trial's clock on it, so time
    spent waiting for a node or a worker process to start never counts against the trial."""

    node_id: str
    pid: int


def _pack(directory: Path) -> bytes | None:
    """A directory as an in-memory tar archive, or None when it does not exist: files cross
    machines as bytes in the object store, because workers share no filesystem with the
    driver."""
    if not directory.is_dir():
        return None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(directory, arcname=".")
    return buffer.getvalue()


def _unpack(data: bytes, directory: Path) -> None:
    """Write an archive made by :func:`_pack` into ``directory`` (created if needed); the
    "data" filter refuses absolute paths, links out of the directory and device files."""
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
        archive.extractall(directory, filter="data")


#: A trial's scratch folder is named after its worker's host and process, so that the
#: folders of workers killed mid-trial (a timeout, a cancel) can be told apart and swept.
SCRATCH_PREFIX = "accelml-trial-"


def scratch_prefix() -> str:
    """The name start of this worker's scratch folders: the prefix, host and process id."""
    return f"{SCRATCH_PREFIX}{socket.gethostname()}-{os.getpid()}-"


def sweep_scratch(root: Path) -> list[Path]:
    """Remove the scratch folders under ``root`` of this host's worker processes that are
    gone, and return them. A worker killed mid-trial never runs its cleanup, so without
    this a node keeps one folder (with the trial's partial files) per killed trial."""
    host = f"{SCRATCH_PREFIX}{socket.gethostname()}-"
    removed = []
    for folder in root.glob(f"{host}*-*"):
        pid = folder.name[len(host):].split("-", 1)[0]
        if pid.isdigit() and folder.is_dir() and not _process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _process_alive(pid: int) -> bool:
    """Whether a process runs under ``pid`` (on Windows, where signal 0 would end it,
    every process counts as alive and nothing is swept)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, owned by another user
        return True
    try:  # a killed worker its parent has not reaped yet is gone too
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _trial_task(view: Any, spec: TrialSpec, init_archive: bytes | None,
                modules: tuple[str, ...]) -> Iterator[Any]:
    """The Ray task of one trial: yield a :class:`_Started`, then ``(result, archive)``.

    The trial runs with its ``output_dir`` and ``init_from`` moved to a temporary directory of
    the worker (the driver's paths may not exist here); ``archive`` holds what it wrote there.
    """
    import ray

    from accelml.core.evaluate import run_trial
    from accelml.core.interrupt import ignore_stop_signals
    from accelml.core.learner import discover

    yield _Started(ray.get_runtime_context().get_node_id(), os.getpid())
    ignore_stop_signals()
    discover(modules)
    sweep_scratch(Path(tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix=scratch_prefix()) as scratch:
        output_dir = Path(scratch, "output") if spec.output_dir is not None else None
        init_from = Path(scratch, "init") if spec.init_from is not None else None
        if init_from is not None and init_archive is not None:
            _unpack(init_archive, init_from)
        result = run_trial(replace(spec, output_dir=output_dir, init_from=init_from), view)
        archive = _pack(output_dir) if output_dir is not None else None
        yield result, archive


def _relocate(result: TrialResult, spec: TrialSpec) -> TrialResult:
    """The result as the driver sees it: the original spec, and paths under its output_dir
    instead of the worker's temporary one."""
    worker_dir, driver_dir = result.spec.output_dir, spec.output_dir

    def moved(path: Path | None) -> Path | None:
        if path is None or worker_dir is None or driver_dir is None:
            return None
        return driver_dir / path.relative_to(worker_dir)

    return replace(result, spec=spec, oof_path=moved(result.oof_path),
                   artifact_dir=moved(result.artifact_dir), bag_dir=moved(result.bag_dir))


def _one_line(text: str, limit: int = 300) -> str:
    words = " ".join(text.split())
    return words[:limit] if words else "no message"


def _failure(ray: Any, error: Exception) -> tuple[TrialStatus, str]:
    """Status and one-line reason for an error Ray raised instead of returning a result."""
    exceptions = ray.exceptions
    first_line = _one_line(str(error).strip().splitlines()[0] if str(error).strip() else "")
    if isinstance(error, exceptions.OutOfMemoryError):
        return TrialStatus.OUT_OF_MEMORY, f"Ray killed the worker for lack of memory: {first_line}"
    died = tuple(getattr(exceptions, name) for name in (
        "WorkerCrashedError", "NodeDiedError", "LocalRayletDiedError", "ActorDiedError")
        if hasattr(exceptions, name))
    if isinstance(error, died):
        return TrialStatus.FAILED, f"Ray worker died: {type(error).__name__}: {first_line}"
    cause = getattr(error, "cause", None)
    if isinstance(error, exceptions.RayTaskError) and isinstance(cause, BaseException):
        return TrialStatus.FAILED, (
            f"Ray task failed: {type(cause).__name__}: {_one_line(str(cause))}")
    return TrialStatus.FAILED, f"Ray task failed: {type(error).__name__}: {first_line}"


def _check_address(address: str, origin: str) -> None:
    """Fail fast and clearly on an address this executor cannot use: a Ray Client address
    (Ray Client cannot stream a task's items), or one nothing listens at (``ray.init`` would
    wait for minutes)."""
    if address.startswith("ray://"):
        raise ConfigError(
            f"{origin} {address!r} is a Ray Client address, which the ray backend cannot use: "
            f"run accelml on a node of the cluster with {origin} HOST:{DEFAULT_GCS_PORT} (the "
            "address `ray start --head` prints), or submit it with `ray job submit`")
    if address == "auto":
        return  # Ray looks for a cluster started on this machine and fails at once if none
    host, _, port = address.rpartition(":")
    host, port = (host, port) if host and port.isdigit() else (address, str(DEFAULT_GCS_PORT))
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise ConfigError(f"cannot reach a Ray cluster at {origin} {address!r} "
                          f"({error.strerror or error}): {ADDRESS_FIX}") from None


def _connect(ray: Any, address: str | None, num_cpus: int | None) -> bool:
    """Connect to Ray unless already connected; return whether this call started it.

    Without an address (and no RAY_ADDRESS, as ``ray job submit`` sets) a new local instance is
    started, even when another runs on this machine: that is what omitting the address means.
    """
    if ray.is_initialized():
        return False
    origin = "--ray-address" if address else "RAY_ADDRESS"
    target = address or os.environ.get("RAY_ADDRESS")
    quiet: dict[str, Any] = {"log_to_driver": False, "ignore_reinit_error": True}
    try:
        if target:
            _check_address(target, origin)
            ray.init(address=target, **quiet)
        else:
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        where = f"at {origin} {target!r}" if target else "on this machine"
        raise ConfigError(f"cannot start or join a Ray cluster {where} "
                          f"({_one_line(str(error), 200)}): {ADDRESS_FIX}") from None
    return True


@dataclass
class _Task:
    """A trial in flight: its spec, the generator of its task, and its clock."""

    spec: TrialSpec
    ref: Any
    submitted: float
    started: float | None = None

    def kill_at(self) -> float:
        """When to kill it: as LocalExecutor, counted from when the worker started it."""
        window = self.spec.time_limit_s * 1.1 + KILL_GRACE_S
        if self.started is None:
            return self.submitted + window + START_GRACE_S
        return self.started + window


class RayExecutor:
    """Trials as Ray tasks on a cluster (or a local Ray instance), ``n_workers`` at a time.

    Args:
        view_dir: the dataset view the engine saved; loaded once here and put in the store.
        n_workers: trials in flight at once.
        modules: learner modules to import on every worker (and here).
        address: the cluster to join; None starts a local Ray instance.
        num_cpus: CPUs of that local instance (ignored when joining a cluster).
    """

    def __init__(self, view_dir: Path, n_workers: int, modules: Sequence[str] = (),
                 address: str | None = None, num_cpus: int | None = None) -> None:
        from accelml.core.data import DatasetView
        from accelml.core.learner import discover

        self._ray = _ray()
        self._modules = tuple(modules)
        self._n_workers = n_workers
        discover(self._modules)  # the driver needs the learner classes to know who uses a GPU
        self._owns_ray = _connect(self._ray, address, num_cpus)
        try:
            self._has_gpu = self._ray.cluster_resources().get("GPU", 0) > 0
            self._max_cpus = self._largest_node_cpus()
            self._view_ref: Any = self._ray.put(DatasetView.load(view_dir))
        except BaseException:
            self._disconnect()
            raise
        self._remote = self._ray.remote(_trial_task)
        self._tasks: list[_Task] = []

    def _largest_node_cpus(self) -> int:
        """CPUs of the biggest live node: a task asking for more would never be scheduled."""
        cpus = [node["Resources"].get("CPU", 0) for node in self._ray.nodes() if node["Alive"]]
        return max(1, int(max(cpus, default=1)))

    def cluster_cpus(self) -> int:
        """CPUs of the whole cluster (the run's cores, unless it was given n_jobs)."""
        return cluster_cpus()

    def set_slots(self, n_workers: int) -> None:
        """How many trials may be in flight: set once the cluster's size is known."""
        self._n_workers = n_workers

    def warm_up(self) -> None:
        """Nothing to do ahead: Ray starts worker processes as the first tasks need them."""

    def free_slots(self) -> int:
        return self._n_workers - len(self._tasks)

    def running(self) -> int:
        return len(self._tasks)

    def _options(self, spec: TrialSpec) -> dict[str, Any]:
        """The Ray resources of a trial: its threads as CPUs, one GPU if its learner uses one
        and the cluster has one; no retries (a crash is a trial's result, not Ray's to hide)."""
        from accelml.core.learner import registered

        uses_gpu = bool(getattr(registered().get(spec.learner), "uses_gpu", False))
        return {"num_cpus": max(1, min(spec.n_jobs, self._max_cpus)),
                "num_gpus": 1 if uses_gpu and self._has_gpu else 0, "max_retries": 0}

    def submit(self, spec: TrialSpec) -> None:
        if self.free_slots() <= 0:
            raise RuntimeError("no free worker slot; wait for completed() first")
        init_archive = _pack(spec.init_from) if spec.init_from is not None else None
        ref = self._remote.options(**self._options(spec)).remote(
            self._view_ref, spec, init_archive, self._modules)
        self._tasks.append(_Task(spec, ref, time.monotonic()))

    def completed(self, timeout_s: float) -> Iterator[TrialResult]:
        end = time.monotonic() + timeout_s
        while self._tasks:
            finished = False
            for task in self._wait(end):  # each task leaves the list only as it is yielded
                result = self._advance(task)
                if result is not None:
                    self._tasks.remove(task)
                    finished = True
                    yield result
            for task in [task for task in self._tasks if time.monotonic() >= task.kill_at()]:
                finished = True
                yield self._stop(task, TrialStatus.TIMEOUT, self._timeout_reason(task))
            if finished or time.monotonic() >= end:
                return

    def _wait(self, end: float) -> list[_Task]:
        """Tasks with something to read (a start, a result, an error) by ``end``, or sooner
        when a task reaches its kill time."""
        next_kill = min(task.kill_at() for task in self._tasks)
        wait_s = max(0.0, min(end, next_kill) - time.monotonic())
        refs = [task.ref for task in self._tasks]
        ready, _ = self._ray.wait(refs, num_returns=1, timeout=wait_s)
        if ready:
            ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        return [task for task in self._tasks if any(ref is task.ref for ref in ready)]

    def _advance(self, task: _Task) -> TrialResult | None:
        """Read the next item of a ready task: None for its start, else its result."""
        try:
            item = self._ray.get(next(task.ref))
        except StopIteration:
            return self._record(task, TrialStatus.FAILED, "Ray task ended without a result")
        except Exception as error:  # a Ray error is the trial's record, never the run's end
            return self._record(task, *_failure(self._ray, error))
        if isinstance(item, _Started):
            task.started = time.monotonic()
            return None
        result, archive = item
        return self._land(task, result, archive)

    def _land(self, task: _Task, result: TrialResult, archive: bytes | None) -> TrialResult:
        """Unpack what the trial wrote into its output_dir and point the result there."""
        if archive is not None and task.spec.output_dir is not None:
            try:
                _unpack(archive, task.spec.output_dir)
            except (OSError, tarfile.TarError) as error:
                return self._record(task, TrialStatus.FAILED, "cannot write the trial's files "
                                    f"to {task.spec.output_dir}: {error}")
        return _relocate(result, task.spec)

    def _timeout_reason(self, task: _Task) -> str:
        """Why a task past its kill time is killed: it overran, or Ray never started it."""
        now = time.monotonic()
        if task.started is not None:
            return (f"killed after {now - task.started:.1f}s, past its "
                    f"{task.spec.time_limit_s:.1f}s limit")
        options = self._options(task.spec)
        gpu = " and a GPU" if options["num_gpus"] else ""
        return (f"not started after {now - task.submitted:.1f}s: no Ray node had "
                f"{options['num_cpus']} CPU(s){gpu} free")

    def cancel(self, reason: str) -> list[TrialResult]:
        return [self._stop(task, TrialStatus.FAILED, reason) for task in list(self._tasks)]

    def _stop(self, task: _Task, status: TrialStatus, reason: str) -> TrialResult:
        """Kill a task's worker (force: a hung learner never checks for a cancel request)."""
        try:
            self._ray.cancel(task.ref, force=True)
        except Exception:  # already finished, or its node is gone: nothing left to kill
            pass
        self._tasks.remove(task)
        return self._record(task, status, reason)

    def _record(self, task: _Task, status: TrialStatus, reason: str) -> TrialResult:
        clock = task.started if task.started is not None else task.submitted
        return TrialResult(task.spec, status, cost_s=time.monotonic() - clock, error=reason)

    def shutdown(self) -> None:
        self.cancel("the executor was shut down")
        self._view_ref = None
        self._disconnect()

    def _disconnect(self) -> None:
        """Shut Ray down if this executor started it (a caller's connection is the caller's)."""
        if self._owns_ray:
            self._owns_ray = False
            self._ray.shutdown()
