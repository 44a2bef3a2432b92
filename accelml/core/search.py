"""The searcher: which learner and which config to try next (Optuna ask/tell).

Each learner's portfolio of strong configs runs first, interleaved cheapest learner first, so a
good model exists early. After that, every learner has its own Optuna study (TPE over its own
space), and the searcher picks which learner to advance from how well and how cheaply each has
done so far.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import Trial, TrialState

from accelml.core.learner import Config, Learner
from accelml.core.metrics import get_metric
from accelml.core.task import Task
from accelml.core.trial import TrialResult, TrialStatus

#: After the portfolio, sampling focuses on this many of the best learners.
TOP_LEARNERS = 3
#: A learner that failed this many times without one success is no longer chosen.
MAX_FAILURES = 2


@dataclass
class LearnerStats:
    """What the searcher knows about one learner."""

    ok: int = 0
    failed: int = 0
    sampled: int = 0
    best_loss: float = math.inf
    costs: list[float] = field(default_factory=list)

    def mean_cost(self) -> float:
        """Mean seconds of a trial (1.0 before any trial ended)."""
        return sum(self.costs) / len(self.costs) if self.costs else 1.0


@dataclass(frozen=True)
class Proposal:
    """A configuration to run, with where it came from."""

    trial_id: int
    learner: str
    config: Config
    source: str  # "portfolio" or "sampler"


class Searcher:
    """Ask for the next proposal, tell it the result."""

    def __init__(self, learners: Sequence[Learner], task: Task, n_rows: int, n_features: int,
                 seed: int) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._task = task
        self._order = [learner.name for learner in learners]
        self._spaces: dict[str, dict[str, BaseDistribution]] = {
            learner.name: dict(learner.space(task, n_rows, n_features)) for learner in learners
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._studies = {
                name: optuna.create_study(
                    direction="minimize",
                    sampler=optuna.samplers.TPESampler(
                        seed=seed + index, multivariate=True, constant_liar=True,
                        n_startup_trials=5),
                )
                for index, name in enumerate(self._order)
            }
        self._queue: deque[tuple[str, Config]] = deque(self._portfolio_queue(learners, task))
        self._pending: dict[int, tuple[str, Trial]] = {}
        self.stats = {name: LearnerStats() for name in self._order}
        self._next_id = 0

    @staticmethod
    def _portfolio_queue(learners: Sequence[Learner], task: Task) -> list[tuple[str, Config]]:
        portfolios = [(learner.name, list(learner.portfolio(task))) for learner in learners]
        rounds = max((len(p) for _, p in portfolios), default=0)
        return [(name, dict(p[r])) for r in range(rounds) for name, p in portfolios if r < len(p)]

    def ask(self) -> Proposal | None:
        """The next proposal, or None when no learner is left to try."""
        while self._queue:
            name, config = self._queue.popleft()
            if self._usable(name):
                self._studies[name].enqueue_trial(config, skip_if_exists=True)
                return self._ask_study(name, "portfolio")
        chosen = self._choose_learner()
        if chosen is None:
            return None
        self.stats[chosen].sampled += 1
        return self._ask_study(chosen, "sampler")

    def _ask_study(self, name: str, source: str) -> Proposal:
        trial = self._studies[name].ask(self._spaces[name])
        trial_id = self._next_id
        self._next_id += 1
        self._pending[trial_id] = (name, trial)
        return Proposal(trial_id, name, dict(trial.params), source)

    def _usable(self, name: str) -> bool:
        stats = self.stats[name]
        return stats.ok > 0 or stats.failed < MAX_FAILURES

    def _choose_learner(self) -> str | None:
        ranked = sorted(
            (name for name in self._order if self.stats[name].ok > 0),
            key=lambda name: self.stats[name].best_loss,
        )[:TOP_LEARNERS]
        if not ranked:
            untried = [name for name in self._order if self._usable(name)]
            return untried[0] if untried else None
        cheapest = min(self.stats[name].mean_cost() for name in ranked)

        def priority(item: tuple[int, str]) -> float:
            rank, name = item
            stats = self.stats[name]
            return (stats.sampled + 1) * (rank + 1) * math.sqrt(stats.mean_cost() / cheapest)

        return min(enumerate(ranked), key=priority)[1]

    def tell(self, result: TrialResult) -> None:
        """Record a finished trial (any status) with its learner's study."""
        name, trial = self._pending.pop(result.spec.trial_id)
        stats = self.stats[name]
        stats.costs.append(result.cost_s)
        study = self._studies[name]
        if result.status is TrialStatus.OK and result.score is not None:
            loss = self.loss(result.score)
            stats.ok += 1
            stats.best_loss = min(stats.best_loss, loss)
            study.tell(trial, loss)
        else:
            stats.failed += 1
            study.tell(trial, state=TrialState.FAIL)

    def loss(self, score: float) -> float:
        """The value minimised: the score, negated when greater is better."""
        metric = get_metric(self._task.metric)
        return -score if metric.greater_is_better else score

    def space(self, learner: str) -> dict[str, Any]:
        """The search space of one learner (for reports)."""
        return dict(self._spaces[learner])
