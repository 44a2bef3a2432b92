"""Regularized evolution (Real et al., 2019) over a flat space of Optuna distributions.

The population is the most recent finished configurations (aging: old ones drop out however
good they were, which keeps the search from settling on one lucky early network). Each new
config mutates one key of the best of a few randomly drawn members. Mutation starts as soon as
a tournament's worth of configs has finished (the hand-designed seeds, usually), not once the
population is full: a short run (a few trials on a CPU) would otherwise be random search after
the seeds. Until the population is full, every other new config is still a random one.
Registered as the "evolution" sampler; successive halving in the core decides how many
epochs each config gets. An optional zero-cost screen (:mod:`accelml.vision.proxy`) redraws
candidates it finds hopeless before any training is spent on them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from accelml.core.learner import Config
from accelml.core.samplers import register_sampler

POPULATION = 12
SAMPLE_SIZE = 4
#: With a zero-cost screen: candidates drawn at most per ask, and the share of the scores seen
#: so far below which a candidate counts as hopeless.
SCREEN_DRAWS = 4
HOPELESS_QUANTILE = 0.25
#: Scores needed before the screen rejects anything.
SCREEN_WARMUP = 4

Screen = Callable[[Config], float]


def random_value(distribution: BaseDistribution, rng: np.random.Generator) -> Any:
    """A uniform draw (log-uniform for log distributions)."""
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[int(rng.integers(len(distribution.choices)))]
    if isinstance(distribution, IntDistribution):
        if distribution.log:
            value = math.exp(rng.uniform(math.log(distribution.low), math.log(distribution.high)))
            return int(min(distribution.high, max(distribution.low, round(value))))
        steps = (distribution.high - distribution.low) // distribution.step
        return int(distribution.low + distribution.step * rng.integers(steps + 1))
    if isinstance(distribution, FloatDistribution):
        if distribution.log:
            return float(math.exp(rng.uniform(math.log(distribution.low),
                                              math.log(distribution.high))))
        return float(rng.uniform(distribution.low, distribution.high))
    raise TypeError(f"unsupported distribution {distribution!r}")


def mutate_value(value: Any, distribution: BaseDistribution, rng: np.random.Generator) -> Any:
    """A nearby value: the next ordered choice, one step, or a multiplicative jitter."""
    if isinstance(distribution, CategoricalDistribution):
        choices = list(distribution.choices)
        ordered = all(isinstance(c, int | float) and not isinstance(c, bool) for c in choices)
        if ordered and value in choices and len(choices) > 1:
            index = choices.index(value) + int(rng.choice([-1, 1]))
            return choices[min(len(choices) - 1, max(0, index))]
        others = [c for c in choices if c != value] or choices
        return others[int(rng.integers(len(others)))]
    if isinstance(distribution, IntDistribution):
        if distribution.log:
            moved = round(value * 2.0 ** rng.choice([-0.5, 0.5]))
            moved = moved if moved != value else value + int(rng.choice([-1, 1]))
        else:
            moved = value + distribution.step * int(rng.choice([-1, 1]))
        return int(min(distribution.high, max(distribution.low, moved)))
    if isinstance(distribution, FloatDistribution):
        if distribution.log:
            moved = value * math.exp(rng.normal(0.0, 0.5))
        else:
            moved = value + rng.normal(0.0, 0.15 * (distribution.high - distribution.low))
        return float(min(distribution.high, max(distribution.low, moved)))
    raise TypeError(f"unsupported distribution {distribution!r}")


def mutate(config: Config, space: Mapping[str, BaseDistribution],
           rng: np.random.Generator) -> Config:
    """A copy of ``config`` with one key moved to a nearby value."""
    keys = sorted(space)
    key = keys[int(rng.integers(len(keys)))]
    child = dict(config)
    child[key] = mutate_value(config.get(key, random_value(space[key], rng)), space[key], rng)
    return child


class RegularizedEvolution:
    """Ask/tell sampler: random configs until the population is full, then mutation of
    tournament winners among the most recent ``population`` results."""

    def __init__(self, space: Mapping[str, BaseDistribution], seed: int,
                 population: int = POPULATION, sample_size: int = SAMPLE_SIZE,
                 screen: Screen | None = None) -> None:
        self._space = dict(space)
        self._screen = screen
        self.proxy_scores: list[float] = []
        self.rejected = 0
        self._rng = np.random.default_rng(seed)
        self._population = population
        self._sample_size = sample_size
        self._asked: dict[int, Config] = {}
        self._history: list[tuple[Config, float]] = []
        self._seen: set[str] = set()
        self._next = 0

    def ask(self, enqueue: Config | None = None) -> tuple[int, Config]:
        if enqueue is not None:
            config = {**self._random_config(), **enqueue}
            if self._screen is not None:  # hand-designed seeds set the scale, never rejected
                self.proxy_scores.append(self._screen(config))
        elif self._explore():
            config = self._screened(self._random_config)
        else:
            config = self._screened(self._child)
        handle = self._next
        self._next += 1
        self._asked[handle] = config
        self._seen.add(json.dumps(config, sort_keys=True, default=str))
        return handle, dict(config)

    def _screened(self, draw: Callable[[], Config]) -> Config:
        """``draw()``, redrawn (up to SCREEN_DRAWS times) while the zero-cost screen finds it
        hopeless; the best-scoring draw when all of them are."""
        if self._screen is None:
            return draw()
        drawn: list[tuple[float, Config]] = []
        for _ in range(SCREEN_DRAWS):
            config = draw()
            score = self._screen(config)
            threshold = self._hopeless_below()
            self.proxy_scores.append(score)
            if score > threshold:
                return config
            drawn.append((score, config))
            self.rejected += 1
        return max(drawn, key=lambda pair: pair[0])[1]

    def _hopeless_below(self) -> float:
        finite = [s for s in self.proxy_scores if math.isfinite(s)]
        if len(finite) < SCREEN_WARMUP:
            return -math.inf
        return float(np.quantile(finite, HOPELESS_QUANTILE))

    def _explore(self) -> bool:
        """Whether the next config is a random one: always before a tournament's worth of
        results, every other time until the population is full, then never."""
        finished = len(self._history)
        if finished < min(self._sample_size, self._population):
            return True
        return finished < self._population and self._next % 2 == 1

    def _random_config(self) -> Config:
        return {key: random_value(d, self._rng) for key, d in sorted(self._space.items())}

    def _child(self) -> Config:
        recent = self._history[-self._population:]
        size = min(self._sample_size, len(recent))
        drawn = self._rng.choice(len(recent), size=size, replace=False)
        parent = min((recent[i] for i in drawn), key=lambda pair: pair[1])[0]
        child = mutate(parent, self._space, self._rng)
        for _ in range(5):  # avoid re-running a config already tried
            if json.dumps(child, sort_keys=True, default=str) not in self._seen:
                break
            child = mutate(child, self._space, self._rng)
        return child

    def tell(self, handle: int, loss: float | None) -> None:
        config = self._asked.pop(handle)
        self._history.append((config, math.inf if loss is None else loss))


def _factory(space: Mapping[str, BaseDistribution], seed: int,
             screen: Screen | None = None) -> RegularizedEvolution:
    return RegularizedEvolution(space, seed, screen=screen)


register_sampler("evolution", _factory)
