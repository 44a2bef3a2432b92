"""The Python API: ``accelml.fit`` and ``accelml.load``.

``fit`` picks the modality from the data (a table, or images: a folder of class sub-folders,
an ``.npz`` of arrays, ``task="image"``), checks the target, infers the task, fits the
modality's preprocessing and hands the rest to the engine, all inside the one time budget.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from accelml.config import RunConfig
from accelml.core.budget import Budget
from accelml.core.engine import build_view, fit_predictor
from accelml.core.learner import discover, learners_for
from accelml.core.outputs import check_model_output, check_output_file
from accelml.core.predictor import Predictor, register_preprocessor
from accelml.core.store import RunStore, check_no_unfinished_run, save_and_finish, stored_run
from accelml.core.task import Task, encode_target, infer_task
from accelml.core.validation import check_target_column
from accelml.errors import ConfigError, DataError, TargetError
from accelml.io import read_table
from accelml.tabular import zeroshot
from accelml.tabular.preprocess import TabularPreprocessor

#: Modules whose import registers the built-in learners (workers import them too).
LEARNER_MODULES = ("accelml.tabular.learners",)

register_preprocessor("tabular", TabularPreprocessor.from_dict, LEARNER_MODULES)
register_preprocessor("image", lambda state: _vision().image_preprocessor(state),
                      ("accelml.vision.learners",))


def _vision() -> Any:
    """The vision modality, imported on first use (it loads torch)."""
    from accelml.vision import run

    return run


def is_image_source(data: object, task: str | None) -> bool:
    """Images when asked for, or when the data is a folder, an .npz file or (x, y) arrays."""
    if task == "image":
        return True
    if isinstance(data, tuple):
        return True
    if isinstance(data, str | Path):
        path = Path(data)
        return path.is_dir() or path.suffix.lower() == ".npz"
    return False


def fit(
    data: Any,
    target: str | None = None,
    time_budget: float = 60.0,
    *,
    task: str | None = None,
    metric: str | None = None,
    preset: str = "medium",
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
        task: "binary", "multiclass", "regression", or "image"; inferred when None.
        metric: the metric to optimise; the task's default when None.
        preset: "medium" (default), "fast" or "best".
        out: when given, the model directory to save into: new, empty, or (with
            ``overwrite``) an earlier AccelML model. Checked before any work starts.
        overwrite: replace the AccelML model already in ``out``; files AccelML did not write
            are never replaced.
        **options: any other :class:`accelml.RunConfig` field (seed, n_jobs, learners...).
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
    if is_image_source(data, task):
        image_task = None if task == "image" else task
        return _vision().fit_images(data, target, time_budget, task=image_task, metric=metric,
                                    preset=preset, out=out_dir, start=start, resumed=resumed,
                                    **options)
    if target is None:
        raise ConfigError("tabular data needs a target: pass the column to predict "
                          "(--target NAME)")
    config = RunConfig.from_options(preset, time_budget=time_budget, task=task, metric=metric,
                                    **options)
    image_only = [flag for flag, value in (
        ("--backbone", config.backbone), ("--max-params", config.max_params),
        ("--max-latency-ms", config.max_latency_ms),
        ("--zero-cost-proxy", config.zero_cost_proxy)) if value is not None]
    if image_only:
        raise ConfigError(f"{', '.join(image_only)} apply to image models; this data is a "
                          "table. For images pass a folder of class sub-folders or an .npz file")
    image_learners = sorted(set(config.learners or ()) & set(_vision().IMAGE_LEARNERS))
    if image_learners:
        raise ConfigError(f"learner {image_learners[0]!r} is for image data, but this data is "
                          "a table; leave it out of --learners (or pass a folder of images)")
    budget = Budget.resumed(config.time_budget, resumed.spent_before_s if resumed else 0.0)
    frame = read_table(data) if isinstance(data, str | Path) else _check_frame(data)
    features_frame, y = split_target(frame, target)
    task_ = infer_task(y, target, config.task, config.metric, config.positive_class)
    preprocessor = TabularPreprocessor().fit(features_frame)
    features = preprocessor.transform(features_frame)
    if features.X.shape[1] == 0:
        raise DataError("no usable feature column is left after dropping ID-like, constant "
                        f"and empty columns ({'; '.join(preprocessor.notes)})")
    view = build_view(features, encode_target(y, task_), task_, config)
    lead, notes = _zero_shot(config, task_, list(features_frame.columns), target)
    with stored_run(out_dir, start, config.storage, config.study_name, resumed) as store:
        predictor = fit_predictor(view, preprocessor, config, budget, LEARNER_MODULES,
                                  [*preprocessor.notes, *notes], store=store, lead=lead)
        save_and_finish(predictor, out_dir, store)
    predictor.info["fit_wall_s"] = round(budget.elapsed(), 3)
    predictor.info["budget_overrun"] = round(budget.overrun(), 4)
    return predictor


def _zero_shot(config: RunConfig, task: Task, columns: list[str], target: str
               ) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The zero-shot portfolio for this data among the run's learners, and a note on what it
    was learned from (never from this data itself)."""
    if not config.zero_shot:
        return [], []
    discover(LEARNER_MODULES)
    names = [learner.name for learner in learners_for(task.kind, config.learners,
                                                      config.exclude_learners, "tabular")]
    lead, learned_from = zeroshot.portfolio(task.kind.value, columns, target, names)
    if not lead:
        return [], []
    return lead, [f"zero-shot portfolio: {len(lead)} configs learned on {len(learned_from)} "
                  "other datasets"]


def _check_frame(data: object) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame or a file path, got "
                        f"{type(data).__name__}")
    if data.empty:
        raise DataError("the training data has no rows")
    return data


def split_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target; rows whose target is missing are dropped with a warning."""
    check_target_column(frame.columns, target)
    y = frame[target]
    missing = int(y.isna().sum())
    if missing == len(y):
        raise TargetError(f"target column {target!r} has no values (all {missing} missing)")
    if missing:
        warnings.warn(f"dropped {missing} rows whose target {target!r} is missing",
                      UserWarning, stacklevel=3)
        frame = frame[y.notna()]
        y = y[y.notna()]
    return frame.drop(columns=[target]), y.reset_index(drop=True)


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
    if predictor.preprocessor.kind == "image":
        return float(_vision().export_onnx_checked(predictor, Path(output)))
    from accelml.tabular.export import export_onnx_checked

    check = read_table(check_data) if isinstance(check_data, str | Path) else check_data
    return export_onnx_checked(predictor, Path(output), check)
