"""Executors run trials and hand back results as they finish.

:class:`LocalExecutor` keeps one worker process per slot. Each worker reads the dataset view
from disk once, then runs trial after trial; a trial past its time limit gets its worker killed
(and a fresh one started for the next trial), a worker that dies turns its trial into a FAILED
result. Nothing a learner does can end the run.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Protocol

from accelml.core.trial import TrialResult, TrialSpec, TrialStatus

#: A trial may run this long past its limit (learners stop themselves; this is the backstop).
KILL_GRACE_S = 2.0
#: What a worker sends once it has imported its learners and loaded the view, and how long
#: it may take (a first import of torch takes seconds, more on a busy machine).
READY = "ready"
WORKER_START_S = 300.0
#: How often a worker checks that its driver still runs.
DRIVER_CHECK_S = 1.0


class Executor(Protocol):
    """Runs trials; RayExecutor implements the same protocol on a cluster."""

    def warm_up(self) -> None:
        """Get the workers ready now, so the first trials don't pay for their start."""
        ...

    def submit(self, spec: TrialSpec) -> None:
        """Start a trial on a free slot."""
        ...

    def completed(self, timeout_s: float) -> Iterator[TrialResult]:
        """Yield results of trials that finished within ``timeout_s`` seconds."""
        ...

    def free_slots(self) -> int:
        """How many more trials may be submitted now."""
        ...

    def running(self) -> int:
        """How many trials are in flight."""
        ...

    def cancel(self, reason: str) -> list[TrialResult]:
        """Stop every trial in flight; each becomes a FAILED result with ``reason``."""
        ...

    def shutdown(self) -> None:
        """Stop every worker."""
        ...


def _worker_main(conn: Connection, view_dir: str, modules: Sequence[str],
                 driver_pid: int) -> None:
    """Worker loop: load the view once, then run each spec received until told to stop."""
    from accelml.core.data import DatasetView
    from accelml.core.evaluate import run_trial
    from accelml.core.interrupt import ignore_stop_signals
    from accelml.core.learner import discover

    ignore_stop_signals()
    _die_with_driver(driver_pid)
    discover(modules)
    view = DatasetView.load(Path(view_dir))
    try:
        conn.send(READY)
    except OSError:  # the driver is gone
        return
    while True:
        try:
            spec = conn.recv()
        except (EOFError, OSError):  # the driver closed the pipe or is gone: nothing to do
            return
        if spec is None:
            return
        result = run_trial(spec, view)
        try:
            conn.send(result)
        except OSError:  # the driver stopped waiting (a stop, or it died)
            return


def _die_with_driver(driver_pid: int) -> None:
    """End this worker soon after its driver is gone (even killed with SIGKILL), so no trial
    runs on for a run that no longer exists. A thread checks every DRIVER_CHECK_S; the
    forkserver cannot tell, since every worker it forks keeps it alive."""

    def watch() -> None:
        while True:
            time.sleep(DRIVER_CHECK_S)
            try:
                os.kill(driver_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # the pid belongs to another user's process now
                os._exit(1)

    threading.Thread(target=watch, name="accelml-driver-watch", daemon=True).start()


def _death_reason(code: int | None) -> str:
    """Why a worker ended mid-trial, with the likely cause of a SIGKILL."""
    if code == -signal.SIGKILL:
        return ("worker process died (killed by SIGKILL: by hand, or by the kernel's "
                "out-of-memory killer; --max-trial-memory caps a trial's memory)")
    return f"worker process died (exit code {code})"


@dataclass
class _Slot:
    process: BaseProcess
    conn: Connection
    spec: TrialSpec | None = None
    started: float = 0.0
    ready: bool = False

    def wait_ready(self) -> _Slot:
        """Wait until the worker has started (imported its learners, loaded the view), so a
        trial's time limit starts with the trial, not with the worker. A worker that died or
        hung while starting is left as it is: its trial then fails as "worker process died"."""
        if not self.ready and self.conn.poll(WORKER_START_S):
            try:
                self.ready = self.conn.recv() == READY
            except (EOFError, OSError):
                pass
        return self

    def kill_at(self) -> float:
        assert self.spec is not None
        return self.started + self.spec.time_limit_s * 1.1 + KILL_GRACE_S


class LocalExecutor:
    """Worker processes on this machine, ``n_workers`` trials at a time."""

    def __init__(self, view_dir: Path, n_workers: int, modules: Sequence[str] = ()) -> None:
        self._view_dir = str(view_dir)
        self._modules = tuple(modules)
        self._n_workers = n_workers
        self._context = mp.get_context("forkserver")
        self._context.set_forkserver_preload(
            ["accelml.core.forkserver_exit", "accelml.core.evaluate", *self._modules])
        self._idle: list[_Slot] = []
        self._busy: list[_Slot] = []
        #: Every worker started, tracked before it starts: a stop signal that lands while a
        #: worker starts (or waits to be ready) must not leave it running untracked, since a
        #: worker ignores SIGTERM and the interpreter's exit would wait on it for ever.
        self._started: list[BaseProcess] = []

    def _start_slot(self) -> _Slot:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(child, self._view_dir, self._modules, os.getpid()),
            daemon=True)
        self._started = [p for p in self._started if p.exitcode is None]  # (the living)
        self._started.append(process)
        process.start()
        child.close()
        return _Slot(process, parent)

    def warm_up(self) -> None:
        """Start every worker now, so the first trials don't pay for it."""
        while len(self._idle) + len(self._busy) < self._n_workers:
            self._idle.append(self._start_slot())
        for slot in self._idle:
            slot.wait_ready()

    def free_slots(self) -> int:
        return self._n_workers - len(self._busy)

    def running(self) -> int:
        return len(self._busy)

    def submit(self, spec: TrialSpec) -> None:
        if self.free_slots() <= 0:
            raise RuntimeError("no free worker slot; wait for completed() first")
        slot = (self._idle.pop() if self._idle else self._start_slot()).wait_ready()
        slot.spec, slot.started = spec, time.monotonic()
        try:
            slot.conn.send(spec)
        except (BrokenPipeError, OSError):
            slot.process.kill()
            slot = self._start_slot().wait_ready()
            slot.spec, slot.started = spec, time.monotonic()
            slot.conn.send(spec)
        self._busy.append(slot)

    def completed(self, timeout_s: float) -> Iterator[TrialResult]:
        if not self._busy:
            return
        next_kill = min(slot.kill_at() for slot in self._busy)
        wait_s = max(0.0, min(timeout_s, next_kill - time.monotonic()))
        ready = wait([slot.conn for slot in self._busy], timeout=wait_s)
        for slot in list(self._busy):
            if slot.conn in ready:
                yield self._collect(slot)
            elif time.monotonic() >= slot.kill_at():
                yield self._kill(slot, TrialStatus.TIMEOUT,
                                 f"killed after {time.monotonic() - slot.started:.1f}s, past its "
                                 f"{slot.spec.time_limit_s:.1f}s limit" if slot.spec else "")

    def cancel(self, reason: str) -> list[TrialResult]:
        return [self._kill(slot, TrialStatus.FAILED, reason) for slot in list(self._busy)]

    def _collect(self, slot: _Slot) -> TrialResult:
        assert slot.spec is not None
        try:
            result: TrialResult = slot.conn.recv()
        except (EOFError, OSError):
            slot.process.join(timeout=1.0)
            code = slot.process.exitcode
            return self._kill(slot, TrialStatus.FAILED, _death_reason(code))
        self._busy.remove(slot)
        slot.spec = None
        self._idle.append(slot)
        return result

    def _kill(self, slot: _Slot, status: TrialStatus, reason: str) -> TrialResult:
        assert slot.spec is not None
        spec, cost = slot.spec, time.monotonic() - slot.started
        slot.process.kill()
        slot.process.join(timeout=5.0)
        slot.conn.close()
        self._busy.remove(slot)
        return TrialResult(spec, status, cost_s=cost, error=reason)

    def shutdown(self) -> None:
        for slot in self._idle:
            try:
                slot.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for slot in [*self._idle, *self._busy]:
            slot.process.join(timeout=0.5)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout=2.0)
            slot.conn.close()
        for process in self._started:  # (any a signal caught between start and tracking)
            if process.is_alive():
                process.kill()
                process.join(timeout=2.0)
        self._idle, self._busy, self._started = [], [], []
