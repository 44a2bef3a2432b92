"""The searcher: which learner, which config and which fidelity to try next (ask/tell).

Each learner's portfolio of strong configs runs first, interleaved cheapest learner first, so a
good model exists early; a ``lead`` portfolio across learners (the tabular zero-shot portfolio,
learned offline, when asked for) runs before it. After that every learner has its own config
sampler (Optuna TPE by default; random or a modality's own, such as evolution for networks),
and the searcher picks which learner to advance from how well and how cheaply each has done
so far. With successive halving, configs start at a cheap fidelity and the best are promoted
before new ones start.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import BaseDistribution

from accelml.core.data import NO_DATA
from accelml.core.learner import Config, Learner
from accelml.core.metrics import get_metric
from accelml.core.multifidelity import SuccessiveHalving
from accelml.core.samplers import ConfigSampler, make_sampler
from accelml.core.task import Task
from accelml.core.trial import TrialResult, TrialStatus

#: After the portfolio, sampling focuses on this many of the best learners.
TOP_LEARNERS = 3
#: A learner that failed this many times without one success is no longer chosen.
MAX_FAILURES = 2
#: A learner whose trials take more than this share of the budget runs no more of its
#: portfolio once another learner has done better for less (letter at 300 s on a holdout:
#: CatBoost's portfolio configs took 82 and 116 s and lost to a 31 s XGBoost).
SLOW_TRIAL_SHARE = 0.1

Space = dict[str, BaseDistribution]


@dataclass
class LearnerStats:
    """What the searcher knows about one learner."""

    ok: int = 0
    failed: int = 0
    sampled: int = 0
    best_loss: float = math.inf
    #: Trials told since the last gain beyond noise (see :data:`SETTLE_TRIALS`).
    since_gain: int = 0
    costs: list[float] = field(default_factory=list)

    def mean_cost(self) -> float:
        """Mean seconds of a trial (1.0 before any trial ended)."""
        return sum(self.costs) / len(self.costs) if self.costs else 1.0


@dataclass(frozen=True)
class Proposal:
    """A configuration to run, at which fidelity (None: the learner's default), and why."""

    trial_id: int
    learner: str
    config: Config
    source: str  # "portfolio", "sampler" or "promotion"
    fidelity: int | None = None
    resume_from: int | None = None  # a promotion: the trial of the rung below, to continue
    key: int = -1  # the config's identity across successive-halving rungs


@dataclass(frozen=True)
class _Pending:
    learner: str
    handle: int | None  # the sampler's handle; None for promotions
    key: int  # the config's identity across rungs
    fidelity: int | None


#: Proposals in a row that repeat configs already run before a learner counts as exhausted.
MAX_REPEATS = 8
#: Trials of a learner in a row without a gain beyond noise over its reference trial (its
#: trial at its last such gain) before the learner counts as settled and is sampled no more.
#: On a few hundred rows a search of hundreds of near-equal configs of one learner chooses
#: its best by the noise of the validation rows (diabetes_pima at 300 s: 897 trials, the
#: last 800 in one XGBoost region); its time goes to the other learners instead, and the
#: search ends when every learner has settled or is exhausted. Chosen as a round count, not
#: fitted to a dataset: TPE's first 5 configs are random, and a region is well refined well
#: before 40 more have gained nothing.
SETTLE_TRIALS = 40


def _config_key(config: Config) -> str:
    return json.dumps(config, sort_keys=True, default=str)


class Searcher:
    """Ask for the next proposal, tell it the result."""

    def __init__(self, learners: Sequence[Learner], task: Task, spaces: Mapping[str, Space],
                 seed: int, *, sampler: str = "tpe",
                 fixed: Mapping[str, Config] | None = None,
                 halving: SuccessiveHalving | None = None,
                 portfolios: Mapping[str, Sequence[Config]] | None = None,
                 sampler_options: Mapping[str, Mapping[str, Any]] | None = None,
                 lead: Sequence[tuple[str, Config]] = (),
                 slow_trial_s: float = math.inf,
                 beyond_noise: Callable[[TrialResult, TrialResult], bool] | None = None
                 ) -> None:
        self._task = task
        #: Whether the second trial's gain over the first is more than noise (None: any
        #: lower loss is a gain).
        self._beyond_noise = beyond_noise
        #: per learner, its trial at its last gain beyond noise
        self._reference: dict[str, TrialResult] = {}
        self._slow_trial_s = slow_trial_s
        self._order = [learner.name for learner in learners]
        self._spaces = {name: dict(spaces[name]) for name in self._order}
        self._fixed = {name: dict((fixed or {}).get(name, {})) for name in self._order}
        options = sampler_options or {}
        self._samplers: dict[str, ConfigSampler] = {
            name: make_sampler(sampler, self._spaces[name], seed + index, options.get(name))
            for index, name in enumerate(self._order)
        }
        chosen = portfolios or {learner.name: learner.portfolio(task, NO_DATA)  # (no data given)
                                for learner in learners}
        queue = [(name, dict(config)) for name, config in lead if name in self._spaces]
        for name, config in self._portfolio_queue([(n, list(chosen[n])) for n in self._order]):
            if (name, config) not in queue:
                queue.append((name, config))
        self._queue: deque[tuple[str, Config]] = deque(queue)
        self._pending: dict[int, _Pending] = {}
        self._halving = halving
        self.stats = {name: LearnerStats() for name in self._order}
        self._next_id = 0
        self._last_ok: dict[int, int] = {}  # config key -> its latest OK trial
        #: per learner, each config run (without the fixed parameters) -> its best loss
        self._issued: dict[str, dict[str, float | None]] = {name: {} for name in self._order}
        self._exhausted: set[str] = set()

    @property
    def settled(self) -> list[str]:
        """The learners sampled no more: :data:`SETTLE_TRIALS` trials in a row gained
        nothing beyond noise."""
        return [name for name in self._order
                if self.stats[name].since_gain >= SETTLE_TRIALS]

    @staticmethod
    def _portfolio_queue(portfolios: list[tuple[str, list[Config]]]) -> list[tuple[str, Config]]:
        rounds = max((len(p) for _, p in portfolios), default=0)
        return [(name, dict(p[r])) for r in range(rounds) for name, p in portfolios if r < len(p)]

    def ask(self) -> Proposal | None:
        """The next proposal, or None when no learner is left to try."""
        if self._halving is not None:
            promotion = self._halving.next_promotion()
            if promotion is not None:
                return self._issue(promotion.learner, None, promotion.config, "promotion",
                                   promotion.fidelity, promotion.key,
                                   self._last_ok.get(promotion.key))
        queued = self._next_queued()
        if queued is not None:
            return self._new(queued[0], "portfolio", queued[1])
        chosen = self._choose_learner()
        while chosen is not None:
            self.stats[chosen].sampled += 1
            fresh = self._ask_new(chosen)
            if fresh is not None:
                return self._new(chosen, "sampler", None, fresh)
            self._exhausted.add(chosen)  # its sampler repeats what already ran
            chosen = self._choose_learner()
        return None

    def _next_queued(self) -> tuple[str, Config] | None:
        """The next portfolio config to run. Configs of unusable or outclassed learners are
        dropped; those of a learner whose first trial is still running wait behind the other
        learners' configs, so the outclassed rule can judge it before a second slow trial
        starts (segment at 60 s: CatBoost's second config began while its first ran on to
        the trial limit, and both took 24 s of the 100 the two workers had)."""
        while self._queue and not self._runnable(self._queue[0][0]):
            self._queue.popleft()
        if not self._queue:
            return None
        ready = next((item for item in self._queue
                      if self._runnable(item[0]) and not self._first_running(item[0])),
                     self._queue[0])  # (all wait: the first goes, as without the rule)
        self._queue.remove(ready)
        return ready

    def _runnable(self, name: str) -> bool:
        return self._usable(name) and not self._outclassed(name)

    def _first_running(self, name: str) -> bool:
        """Whether ``name``'s first trial has started and not ended."""
        stats = self.stats[name]
        return (stats.ok + stats.failed == 0
                and any(p.learner == name for p in self._pending.values()))

    def _ask_new(self, name: str) -> tuple[int, Config] | None:
        """A config of ``name`` that no trial of this run has had; each repeat the sampler
        proposes is told the loss its first trial got (a deterministic learner would score
        the same again). None when every one of MAX_REPEATS proposals repeats."""
        sampler, issued = self._samplers[name], self._issued[name]
        for _ in range(MAX_REPEATS):
            handle, config = sampler.ask(None)
            key = _config_key(config)
            if key not in issued:
                return handle, config
            sampler.tell(handle, issued[key])
        return None

    def _new(self, name: str, source: str, enqueue: Config | None,
             asked: tuple[int, Config] | None = None) -> Proposal:
        handle, config = asked or self._samplers[name].ask(enqueue)
        self._issued[name].setdefault(_config_key(config), None)
        config = {**config, **self._fixed[name]}
        fidelity = None
        key = self._next_id
        if self._halving is not None and self._halving.schedules(name):
            fidelity = self._halving.start(key, name, config)
        return self._issue(name, handle, config, source, fidelity, key)

    def _issue(self, name: str, handle: int | None, config: Config, source: str,
               fidelity: int | None, key: int, resume_from: int | None = None) -> Proposal:
        trial_id = self._next_id
        self._next_id += 1
        self._pending[trial_id] = _Pending(name, handle, key, fidelity)
        return Proposal(trial_id, name, dict(config), source, fidelity, resume_from, key)

    def _usable(self, name: str) -> bool:
        stats = self.stats[name]
        return stats.ok > 0 or stats.failed < MAX_FAILURES

    def _outclassed(self, name: str) -> bool:
        """Whether a learner's trials are slow (over ``slow_trial_s``) and another learner
        has scored better at a lower cost: its portfolio is then cut short; the cost-aware
        choice after the portfolios may still pick it."""
        stats = self.stats[name]
        if stats.ok == 0 or stats.mean_cost() <= self._slow_trial_s:
            return False
        return any(other.ok > 0 and other.best_loss < stats.best_loss
                   and other.mean_cost() < stats.mean_cost()
                   for other_name, other in self.stats.items() if other_name != name)

    def _choose_learner(self) -> str | None:
        settled = set(self.settled)
        ranked = sorted(
            (name for name in self._order if self.stats[name].ok > 0
             and name not in self._exhausted and name not in settled),
            key=lambda name: self.stats[name].best_loss,
        )[:TOP_LEARNERS]
        if not ranked:
            untried = [name for name in self._order if self._usable(name)
                       and name not in self._exhausted and name not in settled]
            return untried[0] if untried else None
        cheapest = min(self.stats[name].mean_cost() for name in ranked)

        def priority(item: tuple[int, str]) -> float:
            rank, name = item
            stats = self.stats[name]
            return (stats.sampled + 1) * (rank + 1) * math.sqrt(stats.mean_cost() / cheapest)

        return min(enumerate(ranked), key=priority)[1]

    def tell(self, result: TrialResult, cost: float | None = None) -> None:
        """Record a finished trial (any status) with its learner's sampler and rungs;
        ``cost`` replaces its wall seconds in the cost-aware choice (counted work)."""
        self._learn(self._pending.pop(result.spec.trial_id), result, cost)

    def _learn(self, pending: _Pending, result: TrialResult, cost: float | None) -> None:
        stats = self.stats[pending.learner]
        stats.costs.append(result.cost_s if cost is None else cost)
        loss = None
        key = _config_key(self._sampled(pending.learner, result.spec.config))
        if result.status is TrialStatus.OK and result.score is not None:
            loss = self.loss(result.score)
            known = self._issued[pending.learner].get(key)
            self._issued[pending.learner][key] = loss if known is None else min(known, loss)
            if pending.key >= 0:
                self._last_ok[pending.key] = result.spec.trial_id
            stats.ok += 1
            stats.best_loss = min(stats.best_loss, loss)
        else:
            stats.failed += 1
        self._count_gain(pending.learner, result, loss)
        if pending.handle is not None:
            self._samplers[pending.learner].tell(pending.handle, loss)
        if self._halving is not None and pending.fidelity is not None:
            rung = self._halving.rung_of(pending.learner, pending.fidelity)
            self._halving.record(pending.key, rung, loss)

    def _count_gain(self, name: str, result: TrialResult, loss: float | None) -> None:
        """Restart ``name``'s count of trials without a gain when ``result`` gains beyond
        noise over its reference trial (which it then becomes); else count one more."""
        stats, reference = self.stats[name], self._reference.get(name)
        if loss is not None and (reference is None or (
                loss < self.loss(reference.score)  # type: ignore[arg-type]
                and (self._beyond_noise is None or self._beyond_noise(reference, result)))):
            self._reference[name] = result
            stats.since_gain = 0
        else:
            stats.since_gain += 1

    def replay(self, result: TrialResult, key: int, source: str,
               cost: float | None = None) -> None:
        """Learn from a trial that ran before (a resumed run), as if it had been asked for
        and told now: its sampler and rungs know it, its portfolio entry is not run again
        and new trial ids follow it."""
        name = result.spec.learner
        self._next_id = max(self._next_id, result.spec.trial_id + 1)
        if name not in self.stats:
            return
        sampled = self._sampled(name, result.spec.config)
        if source == "portfolio":
            self._drop_from_queue(name, sampled)
        if source == "sampler":
            self.stats[name].sampled += 1
        handle = None if source == "promotion" else self._samplers[name].ask(sampled)[0]
        fidelity = result.spec.fidelity
        if self._halving is not None and fidelity is not None and self._halving.schedules(name):
            self._halving.replay(key, name, result.spec.config,
                                 self._halving.rung_of(name, fidelity))
        self._learn(_Pending(name, handle, key, fidelity), result, cost)

    def observe(self, result: TrialResult) -> None:
        """Learn from another run's trial (a shared study): its learner's sampler and
        statistics take it in; it has no place on this run's rungs."""
        name = result.spec.learner
        if name not in self.stats:
            return
        handle, _ = self._samplers[name].ask(self._sampled(name, result.spec.config))
        self._learn(_Pending(name, handle, -1, None), result, None)

    def _sampled(self, name: str, config: Config) -> Config:
        """The part of a config its sampler chose (without the run's fixed parameters)."""
        return {k: v for k, v in config.items() if k not in self._fixed[name]}

    def _drop_from_queue(self, name: str, config: Config) -> None:
        for index, (queued, entry) in enumerate(self._queue):
            if queued == name and entry == config:
                del self._queue[index]
                return

    def fidelity_share(self, result: TrialResult) -> float:
        """How far up its learner's rungs a trial ran: 1.0 at the top or without halving.

        Successive halving's answer is the best configuration at the highest rung reached:
        a config that ran three times longer is not better just because it scored higher.
        """
        learner, fidelity = result.spec.learner, result.spec.fidelity
        if self._halving is None or fidelity is None or not self._halving.schedules(learner):
            return 1.0
        return self._halving.level_share(learner, fidelity)

    def loss(self, score: float) -> float:
        """The value minimised: the score, negated when greater is better."""
        return get_metric(self._task.metric).as_loss(score)
