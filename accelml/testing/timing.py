"""Timing checks that hold on a busy machine.

A test that bounds how long some work took must not fail because another job shares the
cores: that job stretches the wall clock, not the work. :class:`Stopwatch` reports the lesser
of the wall-clock seconds and the process's CPU seconds. Another process's load inflates the
first; this process's own threads add up in the second; work that really overran (a learner
that ignored its deadline) shows in both.
"""

from __future__ import annotations

import time
from types import TracebackType


class Stopwatch:
    """``with Stopwatch() as watch: ...``, then ``watch.seconds``; usable while running."""

    def __enter__(self) -> Stopwatch:
        self._wall = time.monotonic()
        self._cpu = time.process_time()
        self._stopped: float | None = None
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stopped = self.seconds

    @property
    def seconds(self) -> float:
        """Busy seconds so far (the final figure once the block has ended)."""
        if self._stopped is not None:
            return self._stopped
        return min(time.monotonic() - self._wall, time.process_time() - self._cpu)
