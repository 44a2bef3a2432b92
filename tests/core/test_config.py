"""RunConfig checks and presets."""

from __future__ import annotations

import pytest

from accelml.config import RunConfig
from accelml.errors import ConfigError


@pytest.mark.parametrize("budget", [0, -5, float("nan"), float("inf"), float("-inf")])
def test_budget_must_be_a_finite_positive_number(budget: float) -> None:
    with pytest.raises(ConfigError, match=f"time_budget must be a number of seconds > 0 and "
                                          f"finite, got {budget!r}; pass e.g. --time-budget 60"):
        RunConfig(time_budget=budget)
    with pytest.raises(ConfigError, match=f"got {budget!r}"):
        RunConfig.from_options(time_budget=budget)


@pytest.mark.parametrize(("options", "holdout_from"), [
    ({"time_budget": 60}, 10_000),  # k-fold on more rows would leave too few trials
    ({"time_budget": 149}, 10_000),
    ({"time_budget": 150}, 20_000),
    ({"time_budget": 60, "holdout_min_rows": 30_000}, 30_000),  # as asked
    ({"time_budget": 600, "preset": "fast"}, 5_000),
])
def test_short_budgets_validate_on_a_holdout_from_fewer_rows(options: dict[str, object],
                                                              holdout_from: int) -> None:
    settings = dict(options)
    preset = str(settings.pop("preset", "medium"))
    config = RunConfig.from_options(preset, **settings)
    assert config.validation.holdout_min_rows == holdout_from


def test_presets_merge_under_explicit_values() -> None:
    config = RunConfig.from_options("fast", cv_folds=4, seed=None)
    assert config.cv_folds == 4 and config.seed == 0
    assert RunConfig.from_options("best").cv_folds == 8
    assert RunConfig.from_options("best").bagging and not RunConfig().bagging
    assert not RunConfig.from_options("best", bagging=False).bagging
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        RunConfig.from_options("huge")
    with pytest.raises(ConfigError, match=r"unknown run option\(s\) \['colour'\]"):
        RunConfig.from_options(colour="red")


def test_worker_layout_never_oversubscribes_cores() -> None:
    for cores in (1, 2, 3, 8):
        for workers in (None, 1, 2, 4, 16):
            n, threads = RunConfig(n_jobs=cores, n_workers=workers).worker_layout()
            assert n * threads <= cores and n >= 1 and threads >= 1


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        RunConfig().seed = 3  # type: ignore[misc]


def test_validation_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="cv_repeats must be >= 1, got 0"):
        RunConfig(cv_repeats=0)
    with pytest.raises(ConfigError, match="cv_folds must be >= 2, got 1"):
        RunConfig(cv_folds=1)
