"""Config samplers: what proposes the next configuration of one learner (ask/tell).

Optuna's TPE and random samplers come built in; modalities register their own (the vision
modality adds regularized evolution). The searcher decides which learner and fidelity; a sampler
only knows one learner's space.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import Trial, TrialState

from accelml.core.learner import Config
from accelml.errors import ConfigError


class ConfigSampler(Protocol):
    """Proposes configurations of one learner and learns from their losses."""

    def ask(self, enqueue: Config | None = None) -> tuple[int, Config]:
        """A handle and a config; ``enqueue`` asks for that exact config (a portfolio entry)."""
        ...

    def tell(self, handle: int, loss: float | None) -> None:
        """The loss of an asked config (lower is better), or None when it failed."""
        ...


class OptunaConfigSampler:
    """An Optuna study over one learner's space, driven through ask/tell."""

    def __init__(self, space: Mapping[str, BaseDistribution], sampler: optuna.samplers.BaseSampler
                 ) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._space = dict(space)
        self._study = optuna.create_study(direction="minimize", sampler=sampler)
        self._trials: dict[int, Trial] = {}

    def ask(self, enqueue: Config | None = None) -> tuple[int, Config]:
        if enqueue is not None:
            self._study.enqueue_trial(enqueue, skip_if_exists=False)
        trial = self._study.ask(self._space)
        self._trials[trial.number] = trial
        return trial.number, dict(trial.params)

    def tell(self, handle: int, loss: float | None) -> None:
        trial = self._trials.pop(handle)
        if loss is None:
            self._study.tell(trial, state=TrialState.FAIL)
        else:
            self._study.tell(trial, loss)


#: ``factory(space, seed, **options)``; options are what a modality hands its own sampler
#: (e.g. a zero-cost screen for networks); the built-in samplers take none.
SamplerFactory = Callable[..., ConfigSampler]


def _tpe(space: Mapping[str, BaseDistribution], seed: int) -> ConfigSampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                             n_startup_trials=5)
    return OptunaConfigSampler(space, sampler)


def _random(space: Mapping[str, BaseDistribution], seed: int) -> ConfigSampler:
    return OptunaConfigSampler(space, optuna.samplers.RandomSampler(seed=seed))


_SAMPLERS: dict[str, SamplerFactory] = {"tpe": _tpe, "random": _random}


def register_sampler(name: str, factory: SamplerFactory) -> None:
    """Make a sampler available by name (``RunConfig.sampler``)."""
    _SAMPLERS[name] = factory


def make_sampler(name: str, space: Mapping[str, BaseDistribution], seed: int,
                 options: Mapping[str, Any] | None = None) -> ConfigSampler:
    """A new sampler of kind ``name`` over ``space``, given ``options`` when there are any."""
    try:
        factory = _SAMPLERS[name]
    except KeyError:
        raise ConfigError(f"unknown sampler {name!r}; available: {', '.join(sorted(_SAMPLERS))}"
                          ) from None
    try:
        return factory(space, seed, **dict(options or {}))
    except TypeError as error:
        raise ConfigError(f"sampler {name!r} does not take the options "
                          f"{sorted(options or {})} ({error})") from None
