"""Every run setting is declared once: the CLI's options agree with RunConfig and the
modalities' own options (names, defaults), and every setting is documented where declared."""

from __future__ import annotations

import inspect
from dataclasses import MISSING, fields

import pytest

from accelml import api
from accelml.cli import fit as fit_command
from accelml.config import DEFAULT_PRESET, DEFAULT_TIME_BUDGET, RunConfig
from accelml.core.modality import option_names, registered_modalities

#: CLI options whose name differs from the setting they set.
RENAMED = {"exclude": "exclude_learners", "max_trial_memory": "max_trial_memory_mb"}
#: CLI options that are not run settings (where to save, how to start, what to fit).
NOT_SETTINGS = {"data", "target", "out", "overwrite", "resume", "preset"}
#: Settings the CLI leaves to the Python API (values that are not plain flags).
API_ONLY = {"positive_class", "cv_folds", "holdout_min_rows", "holdout_fraction",
            "max_trial_fraction", "final_train_fraction", "eta", "ensemble_size"}


def _cli_options() -> dict[str, inspect.Parameter]:
    return {RENAMED.get(name, name): parameter for name, parameter in
            inspect.signature(fit_command).parameters.items() if name not in NOT_SETTINGS}


def _modality_options() -> dict[str, object]:
    defaults: dict[str, object] = {}
    for modality in registered_modalities().values():
        if modality.option_type is not None:
            for field in fields(modality.option_type):
                defaults[field.name] = field.default
    return defaults


def test_every_cli_option_sets_a_declared_setting_with_its_default() -> None:
    declared = {f.name: f.default for f in fields(RunConfig)}
    declared.update(_modality_options())
    for name, parameter in _cli_options().items():
        assert name in declared, f"--{name} sets no RunConfig field or modality option"
        default = parameter.default
        # None and False mean "not given": the declared default (or the preset) applies
        assert default in (None, False) or default == declared[name], (name, default)


def test_every_setting_is_a_cli_option_or_api_only_and_documented() -> None:
    cli = _cli_options()
    doc = inspect.getdoc(RunConfig) or ""
    for field in fields(RunConfig):
        assert field.name in cli or field.name in API_ONLY, f"{field.name} has no CLI option"
        assert f"{field.name}:" in doc, f"RunConfig's docstring does not explain {field.name}"
        assert field.default is not MISSING or field.default_factory is not MISSING
    for modality in registered_modalities().values():
        for name in option_names(modality):
            assert name in cli, f"{modality.name} option {name} has no CLI option"
            assert f"{name}:" in (inspect.getdoc(modality.option_type) or "")


@pytest.mark.parametrize("function", [api.fit, fit_command])
def test_the_budget_and_preset_defaults_come_from_one_place(function: object) -> None:
    parameters = inspect.signature(function).parameters  # type: ignore[arg-type]
    assert parameters["time_budget"].default == DEFAULT_TIME_BUDGET == RunConfig().time_budget
    assert parameters["preset"].default == DEFAULT_PRESET
