"""Successive halving over a learner's fidelity knob (asynchronous, as in ASHA).

New configurations start at the lowest rung (the cheapest fidelity); whenever a configuration
is in the top 1/eta of the results finished at its rung, it is promoted to the next rung, eta
times the fidelity. Weak configurations are dropped after a cheap look. Any learner with a
Fidelity can be scheduled this way: epochs for networks, trees for boosting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from accelml.core.learner import Config, Fidelity


def rung_levels(fidelity: Fidelity, eta: int, min_level: int | None = None) -> list[int]:
    """Fidelity values of the rungs: low, low*eta, ... up to (and including) high.

    ``min_level`` raises the first rung (never above high), e.g. to the epochs a network needs
    for its first look to mean something."""
    low = min(max(1, min_level or fidelity.low), fidelity.high)
    levels = [low]
    while levels[-1] * eta < fidelity.high:
        levels.append(levels[-1] * eta)
    if levels[-1] < fidelity.high:
        close = fidelity.high / levels[-1] < math.sqrt(eta) and len(levels) > 1
        levels[-1:] = [fidelity.high] if close else [levels[-1], fidelity.high]
    return levels


@dataclass
class _Entry:
    key: int
    learner: str
    config: Config
    losses: dict[int, float] = field(default_factory=dict)  # rung -> loss
    promoted_from: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Promotion:
    """A configuration to rerun at a higher rung."""

    key: int
    learner: str
    config: Config
    rung: int
    fidelity: int


class SuccessiveHalving:
    """Bookkeeping of rungs; the searcher asks it for promotions before new configs."""

    def __init__(self, eta: int = 3) -> None:
        if eta < 2:
            raise ValueError("eta must be >= 2")
        self.eta = eta
        self._entries: dict[int, _Entry] = {}
        self._levels: dict[str, list[int]] = {}

    def add_learner(self, learner: str, fidelity: Fidelity, min_level: int | None = None) -> None:
        """Schedule ``learner`` over its fidelity."""
        self._levels[learner] = rung_levels(fidelity, self.eta, min_level)

    def schedules(self, learner: str) -> bool:
        """True when ``learner`` runs through the rungs."""
        return learner in self._levels

    def start(self, key: int, learner: str, config: Config) -> int:
        """Register a new configuration; return the fidelity of its first rung."""
        self._entries[key] = _Entry(key, learner, dict(config))
        return self._levels[learner][0]

    def replay(self, key: int, learner: str, config: Config, rung: int) -> None:
        """Take in a configuration that ran at ``rung`` before (a resumed run): registered
        at its first rung, marked promoted to the rungs above; :meth:`record` gives its loss."""
        entry = self._entries.setdefault(key, _Entry(key, learner, dict(config)))
        if rung > 0:
            entry.promoted_from.add(rung - 1)

    def record(self, key: int, rung: int, loss: float | None) -> None:
        """The loss of ``key`` at ``rung`` (None = failed: never promoted)."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.losses[rung] = math.inf if loss is None else loss

    def next_promotion(self) -> Promotion | None:
        """The best configuration that earned a promotion and has not had it yet."""
        for learner, levels in self._levels.items():
            for rung in range(len(levels) - 2, -1, -1):  # higher rungs first
                found = self._promotable(learner, rung)
                if found is not None:
                    found.promoted_from.add(rung)
                    return Promotion(found.key, learner, found.config, rung + 1,
                                     levels[rung + 1])
        return None

    def _promotable(self, learner: str, rung: int) -> _Entry | None:
        done = [e for e in self._entries.values()
                if e.learner == learner and rung in e.losses]
        quota = len(done) // self.eta
        if quota == 0:
            return None
        ranked = sorted(done, key=lambda e: e.losses[rung])[:quota]
        for entry in ranked:
            if rung not in entry.promoted_from and math.isfinite(entry.losses[rung]):
                return entry
        return None

    def rung_of(self, learner: str, fidelity: int) -> int:
        """Index of the rung with this fidelity."""
        return self._levels[learner].index(fidelity)

    def level_share(self, learner: str, fidelity: int) -> float:
        """How far up ``learner``'s rungs ``fidelity`` is: 0.0 at the first, 1.0 at the top."""
        levels = self._levels[learner]
        if fidelity not in levels:
            return min(1.0, fidelity / levels[-1])
        return levels.index(fidelity) / (len(levels) - 1) if len(levels) > 1 else 1.0

    def top_fidelity(self, learner: str) -> int:
        """The highest rung's fidelity."""
        return self._levels[learner][-1]
