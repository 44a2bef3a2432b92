"""Helpers over Optuna distributions: checking configs against a learner's space."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution

from accelml.errors import ConfigError


def check_config(
    learner: str, config: Mapping[str, Any], space: Mapping[str, BaseDistribution]
) -> None:
    """Raise ConfigError if a config names unknown parameters or leaves their ranges."""
    for name, value in config.items():
        if name not in space:
            raise ConfigError(
                f"learner {learner!r} has no hyperparameter {name!r}; known: {sorted(space)}"
            )
        distribution = space[name]
        if isinstance(distribution, CategoricalDistribution):
            inside = value in distribution.choices
        else:
            inside = distribution._contains(distribution.to_internal_repr(value))
        if not inside:
            raise ConfigError(
                f"{learner}.{name}={value!r} is outside its range {distribution}"
            )
