"""Time accounting on the monotonic clock: the run's budget and each trial's deadline, when
the command started, and how busy the machine is with other work."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

#: When the command that runs the next budget started (monotonic), if it said so.
_COMMAND_START: list[float] = []


def process_start() -> float:
    """When this process started, on the monotonic clock (now where /proc cannot tell): the
    user's clock starts there, imports included."""
    try:
        with open("/proc/self/stat") as handle:
            started_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        age = uptime - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic()
    return time.monotonic() - min(max(age, 0.0), 3600.0)


def mark_command_start(at: float | None = None) -> None:
    """Start the next run's budget at ``at`` (monotonic; now by default) instead of when the
    run creates it: the command line marks its process's start, so imports count."""
    _COMMAND_START[:] = [time.monotonic() if at is None else min(at, time.monotonic())]


def _take_command_start() -> float:
    """The marked command start (used once), or now."""
    return _COMMAND_START.pop() if _COMMAND_START else time.monotonic()


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of every CPU since boot, from /proc/stat (None elsewhere)."""
    try:
        with open("/proc/stat") as handle:
            fields_ = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = sum(fields_[3:5])  # idle + iowait
    return sum(fields_[:8]) - idle, sum(fields_[:8])


def busy_cores(sample_s: float = 0.1) -> float:
    """Cores busy over the next ``sample_s`` seconds (0 where /proc/stat is not readable).
    Called while this run's own workers are idle, it is the load of other work."""
    first = cpu_ticks()
    time.sleep(sample_s)
    second = cpu_ticks()
    if first is None or second is None or second[1] <= first[1]:
        return 0.0
    share = (second[0] - first[0]) / (second[1] - first[1])
    return max(0.0, share) * (os.cpu_count() or 1)


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock after which work must stop.

    ``time.monotonic`` is system-wide on Linux, so a deadline made in the driver holds in a
    worker process on the same machine.
    """

    at: float

    @classmethod
    def in_seconds(cls, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(time.monotonic() + seconds)

    @classmethod
    def never(cls) -> Deadline:
        """A deadline that does not expire (for tests and unbounded refits)."""
        return cls(float("inf"))

    def remaining(self) -> float:
        """Seconds left (negative once past)."""
        return self.at - time.monotonic()

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return time.monotonic() >= self.at


@dataclass
class Budget:
    """The run's time budget, started when created."""

    total_s: float
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def resumed(cls, total_s: float, spent_s: float) -> Budget:
        """The budget of a run, started when its command started (see
        :func:`mark_command_start`; else now); ``spent_s`` of it went to earlier sessions."""
        return cls(total_s, _take_command_start() - spent_s)

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    def remaining(self) -> float:
        """Seconds left of the budget (negative once over)."""
        return self.total_s - self.elapsed()

    def deadline(self, reserve_s: float = 0.0) -> Deadline:
        """The deadline of the whole run, less ``reserve_s`` kept for later work."""
        return Deadline(self.started + self.total_s - reserve_s)

    def overrun(self) -> float:
        """Share of the budget spent past it (0.05 = 5 % over; negative when under)."""
        return self.elapsed() / self.total_s - 1.0
