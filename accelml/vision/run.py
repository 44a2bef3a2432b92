"""One image run: load and cache the images, infer the task, fit the image preprocessor and
hand the rest to the engine with the vision defaults (evolution + successive halving over
epochs, one worker using every core, a holdout split)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from accelml.config import RunConfig
from accelml.core.budget import Budget
from accelml.core.engine import build_view, fit_predictor
from accelml.core.predictor import Predictor
from accelml.core.store import RunStore, save_and_finish, stored_run
from accelml.core.task import encode_target, infer_task
from accelml.errors import ConfigError

#: Modules whose import registers the image learners (workers import them too).
VISION_MODULES = ("accelml.vision.learners",)
#: Their names, known without importing them (they load torch).
IMAGE_LEARNERS = ("cnn", "transfer")
#: Vision defaults, under the preset and the caller's explicit options.
VISION_DEFAULTS: dict[str, Any] = {
    "sampler": "evolution",
    "multi_fidelity": True,
    "holdout_min_rows": 0,
    "holdout_fraction": 0.15,
    "n_workers": 1,
    "max_trial_fraction": 0.2,
    "final_train_fraction": 0.35,
    "stacking": False,  # networks are exported and served as a weighted blend
}
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".json", ".txt")


def _source(data: Any) -> Any:
    if isinstance(data, str | Path) and Path(data).suffix.lower() in TABLE_SUFFIXES:
        from accelml.io import read_table

        return read_table(data)
    return data


def _config(time_budget: float, task: str | None, metric: str | None, preset: str,
            options: dict[str, Any]) -> RunConfig:
    if task == "regression":
        raise ConfigError("image models classify; regression on images is not supported: use "
                          "--task image (or binary / multiclass)")
    merged = {**VISION_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    if merged.get("max_params") is not None or merged.get("max_latency_ms") is not None:
        merged["ensemble_size"] = 1  # a blend costs the sum of its networks
    return RunConfig.from_options(preset, time_budget=time_budget, task=task, metric=metric,
                                  **merged)


def fit_images(data: Any, target: str | None, time_budget: float, *, task: str | None,
               metric: str | None, preset: str, out: str | Path | None,
               start: dict[str, Any] | None = None, resumed: RunStore | None = None,
               **options: Any) -> Predictor:
    """Search networks for the images in ``data`` within ``time_budget`` seconds; ``start``
    (how the run was asked for) goes to its run store, ``resumed`` continues a stored run."""
    import accelml.vision.evolution  # noqa: F401  (registers the "evolution" sampler)
    from accelml.vision.data import load_training_images
    from accelml.vision.preprocess import ImagePreprocessor

    config = _config(time_budget, task, metric, preset, options)
    budget = Budget.resumed(config.time_budget, resumed.spent_before_s if resumed else 0.0)
    source = _source(data)
    if isinstance(source, pd.DataFrame) and target is not None:
        images = load_training_images(source, label_column=target)
    else:
        images = load_training_images(source)
    labels = pd.Series(images.labels)
    task_ = infer_task(labels, target or "label",
                       config.task or ("binary" if labels.nunique() == 2 else "multiclass"),
                       config.metric or "log_loss", config.positive_class)
    preprocessor = ImagePreprocessor().fit(images)
    features = preprocessor.transform(images)
    view = build_view(features, encode_target(labels, task_), task_, config)
    fixed = _fixed_params(config)
    learners = config.learners
    if learners is None:  # fine-tuning needs a checkpoint: without one only networks searched
        learners = ("cnn", "transfer") if config.backbone is not None else ("cnn",)
    config = config.with_changes(learners=tuple(learners))
    options_ = _sampler_options(config, features, task_.n_classes)
    out_dir = None if out is None else Path(out)
    with stored_run(out_dir, start or {}, config.storage, config.study_name, resumed) as store:
        predictor = fit_predictor(view, preprocessor, config, budget, VISION_MODULES,
                                  preprocessor.notes, fixed, options_, store=store)
        save_and_finish(predictor, out_dir, store)
    predictor.info["fit_wall_s"] = round(budget.elapsed(), 3)
    predictor.info["budget_overrun"] = round(budget.overrun(), 4)
    return predictor


def _fixed_params(config: RunConfig) -> dict[str, dict[str, Any]]:
    limits = {key: value for key, value in (("max_params", config.max_params),
                                            ("max_latency_ms", config.max_latency_ms))
              if value is not None}
    fixed: dict[str, dict[str, Any]] = {"cnn": dict(limits), "transfer": dict(limits)}
    if config.backbone is not None:
        from accelml.vision.learners.transfer import backbone_record

        backbone_record(config.backbone)  # a missing or wrong checkpoint fails before any work
        fixed["transfer"]["backbone"] = str(Path(config.backbone).resolve())
    return fixed


def _sampler_options(config: RunConfig, features: Any, n_classes: int
                     ) -> dict[str, dict[str, Any]]:
    """The zero-cost screen for the cnn learner's evolution sampler, when asked for."""
    if config.zero_cost_proxy is None:
        return {}
    if config.sampler != "evolution":
        raise ConfigError(f"--zero-cost-proxy screens the evolution sampler's candidates, but "
                          f"the sampler is {config.sampler!r}; use --sampler evolution")
    from accelml.vision.learners.cnn import images_of
    from accelml.vision.proxy import NaswotScreen

    return {"cnn": {"screen": NaswotScreen(images_of(features), n_classes, config.seed)}}


def image_preprocessor(state: dict[str, Any]) -> Any:
    """Rebuild an image preprocessor from its saved JSON (for Predictor.load)."""
    from accelml.vision.preprocess import ImagePreprocessor

    return ImagePreprocessor.from_dict(state)


def export_onnx_checked(predictor: Predictor, output: Path) -> float:
    """Write the final network (or blend of networks) as ONNX and compare it with PyTorch on
    check images."""
    from accelml.vision.export import check_onnx, export_onnx

    members = [(m.learner, m.fitted, m.weight) for m in predictor.members]
    export_onnx(members, output)
    shape = getattr(predictor.preprocessor, "schema", {})
    size, channels = int(shape["size"]), int(shape["channels"])
    images = np.random.default_rng(0).integers(0, 256, (8, size, size, channels), dtype=np.uint8)
    return float(check_onnx(output, members, images))
