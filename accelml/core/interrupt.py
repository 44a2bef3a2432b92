"""Ctrl-C and SIGTERM during a run: the first one ends the search and keeps the best model so
far (refit and saved as usual); a second one interrupts for real and nothing is saved.

A flag set by a signal handler, checked by the search loop between steps, rather than a
KeyboardInterrupt raised wherever the driver happens to be: the searcher's and executor's
state stay consistent, and the run ends through its normal refit-and-save path.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Context manager: while active (in the main thread), the first SIGINT or SIGTERM sets
    :attr:`reason` instead of interrupting; the second raises KeyboardInterrupt."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """True once a stop was asked for."""
        return self.reason is not None

    def request(self, reason: str) -> None:
        """Ask the run to stop searching (what the signal handler does)."""
        self.reason = self.reason or reason

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            self._restore()
            raise KeyboardInterrupt
        self.request(signal.Signals(signum).name)


def ignore_stop_signals() -> None:
    """For worker processes: the driver decides what a Ctrl-C means, and ends the workers."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
