"""Time accounting on the monotonic clock: the run's budget and each trial's deadline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


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
        """The budget of a resumed run: ``spent_s`` of it went to earlier sessions."""
        return cls(total_s, time.monotonic() - spent_s)

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
