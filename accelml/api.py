"""The Python API: ``accelml.fit``, ``accelml.resume`` and ``accelml.load``.

``fit`` picks the modality (named by ``modality=`` or a ``task`` naming one, else the first
whose ``detect`` recognises the data: images for a folder, an ``.npz`` or ``(x, y)`` arrays,
tables for the rest), lets it prepare the data (target check, task inference, preprocessing),
hands the rest to the engine and saves, all inside the one time budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

import accelml.recsys.modality  # noqa: F401
import accelml.tabular.modality  # noqa: F401  (registers the built-in modalities)
import accelml.text.modality  # noqa: F401
import accelml.timeseries.modality  # noqa: F401
import accelml.vision.modality  # noqa: F401
from accelml.config import DEFAULT_PRESET, DEFAULT_TIME_BUDGET, RunConfig
from accelml.core.artifacts import update_run_record
from accelml.core.budget import Budget
from accelml.core.engine import build_view, fit_predictor
from accelml.core.modality import check_learners, get_modality, pick_modality, split_options
from accelml.core.outputs import check_model_output, check_output_file
from accelml.core.predictor import Predictor
from accelml.core.report import RunReport
from accelml.core.store import RunStore, check_no_unfinished_run, save_and_finish, stored_run
from accelml.errors import ConfigError
from accelml.explain.audit import audit
from accelml.tabular.modality import split_target

__all__ = ["audit", "export_model", "fit", "load", "resume", "split_target"]


#: The share of the budget a modality's finishing step (precomputing what serving looks up)
#: may run past it: well inside the 10 % a run may overrun.
FINISH_GRACE = 0.04


def fit(
    data: Any,
    target: str | None = None,
    time_budget: float = DEFAULT_TIME_BUDGET,
    *,
    task: str | None = None,
    metric: str | None = None,
    preset: str = DEFAULT_PRESET,
    out: str | Path | None = None,
    overwrite: bool = False,
    **options: Any,
) -> Predictor:
    """Find, tune and refit the best model for ``target`` within ``time_budget`` seconds.

    Args:
        data: a DataFrame, the path of a CSV / Parquet file; for images a folder of class
            sub-folders, an ``.npz`` file with ``x`` and ``y``, or a tuple ``(x, y)``.
        target: the column to predict (tables; for images the label column of a DataFrame
            of image paths).
        time_budget: seconds for the whole run, saving included.
        task: "binary", "multiclass", "regression", or a modality's name ("image");
            inferred when None.
        metric: the metric to optimise; the task's default when None.
        preset: "medium" (default), "fast" or "best".
        out: when given, the model directory to save into: new, empty, or (with
            ``overwrite``) an earlier AccelML model. Checked before any work starts.
        overwrite: replace the AccelML model already in ``out``; files AccelML did not write
            are never replaced.
        **options: any other :class:`accelml.RunConfig` field (seed, n_jobs, learners...),
            and ``modality``: a registered modality's name ("tabular", "image", ...) when
            the data's own kind should not decide.
    """
    if out is not None:
        check_no_unfinished_run(Path(out))
        check_model_output(out, overwrite)
    return _fit(data, target, time_budget, task, metric, preset, out, resumed=None,
                options=options)


def resume(directory: str | Path, data: Any = None) -> Predictor:
    """Continue the interrupted run saved in ``directory`` (its ``fit(out=...)``): the trials
    it finished are kept, only the rest of its budget is spent, then the model is saved there.

    Args:
        directory: the model directory the run was saving into.
        data: the training data again, when the run was started from a DataFrame or arrays
            (a file path is remembered).
    """
    store = RunStore.open(Path(directory))
    start = store.meta["start"]
    source = data if data is not None else start.get("data")
    if source is None:
        raise ConfigError(f"the run in {directory} was started from data in memory; pass the "
                          "same data again: accelml.resume(directory, data=...)")
    return _fit(source, start["target"], float(start["time_budget"]), start["task"],
                start["metric"], start["preset"], directory, resumed=store,
                options=dict(start["options"]))


def _start_record(data: Any, target: str | None, time_budget: float, task: str | None,
                  metric: str | None, preset: str, options: dict[str, Any]) -> dict[str, Any]:
    """How the run was asked for, kept in its store so that a resume starts it the same way."""
    path = str(Path(data).resolve()) if isinstance(data, str | Path) else None
    return {"data": path, "target": target, "time_budget": time_budget, "task": task,
            "metric": metric, "preset": preset,
            "options": {k: list(v) if isinstance(v, tuple) else v
                        for k, v in options.items() if v is not None}}


def _fit(data: Any, target: str | None, time_budget: float, task: str | None,
         metric: str | None, preset: str, out: str | Path | None, *,
         resumed: RunStore | None, options: dict[str, Any]) -> Predictor:
    out_dir = None if out is None else Path(out)
    start = _start_record(data, target, time_budget, task, metric, preset, options)
    explicit = {k: v for k, v in options.items() if v is not None}
    modality = pick_modality(data, task, explicit.pop("modality", None), explicit)
    if task == modality.name or task in modality.aliases:
        task = None
    settings, own_options = split_options(modality, explicit)
    config = RunConfig.from_options(preset, time_budget=time_budget, task=task, metric=metric,
                                    **{**modality.defaults, **settings})
    check_learners(modality, config.learners or ())
    budget = Budget.resumed(config.time_budget, resumed.spent_before_s if resumed else 0.0)
    prepared = modality.prepare(data, target, config, own_options)
    config = prepared.config
    view = build_view(prepared.features, prepared.y, prepared.task, config,
                      modality.splitter(config, prepared))
    with stored_run(out_dir, start, config.storage, config.study_name, resumed) as store:
        predictor = fit_predictor(view, prepared.preprocessor, config, budget,
                                  modality.learner_modules, prepared.notes, prepared.fixed,
                                  prepared.sampler_options, store=store, lead=prepared.lead,
                                  latency=prepared.latency)
        modality.finish(predictor, prepared,  # within the budget's promised tolerance
                        budget.deadline(reserve_s=-FINISH_GRACE * budget.total_s))
        predictor.info.update(RunReport(audit=prepared.audit, data_profile=prepared.profile))
        save_and_finish(predictor, out_dir, store)
    finished = RunReport(fit_wall_s=round(budget.elapsed(), 3),
                         budget_overrun=round(budget.overrun(), 4))
    predictor.info.update(finished)
    if out_dir is not None:  # the saved record gets them too (they include the save)
        update_run_record(out_dir, finished)
    return predictor


def load(directory: str | Path) -> Predictor:
    """Load a model directory saved by ``fit(out=...)``, ``Predictor.save`` or the CLI."""
    return Predictor.load(directory)


def export_model(directory: str | Path, output: str | Path, fmt: str = "onnx",
                 check_data: str | Path | pd.DataFrame | None = None) -> float:
    """Export a saved model (its blend of members) to ONNX; return the largest difference
    from the native models' outputs on check inputs: ``check_data`` rows for tabular models
    (synthetic rows when None), random images for image models."""
    if fmt != "onnx":
        raise ConfigError(f"unknown export format {fmt!r}; available: onnx")
    check_output_file(output)
    predictor = load(directory)
    modality = get_modality(predictor.preprocessor.kind)
    return modality.export_onnx(predictor, Path(output), check_data)
