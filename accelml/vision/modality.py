"""Images as a modality: a folder of class sub-folders, an ``.npz`` of arrays, ``(x, y)``
arrays, or a table of image paths (``task="image"``); decoded once into a uint8 cache, searched
with the vision defaults (evolution + successive halving over epochs, one worker using every
core, a holdout split). This module loads no torch: the learners and the network code import
it when they run."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from accelml.config import RunConfig
from accelml.core.modality import (
    Modality,
    OnProgress,
    Prepared,
    ReportSection,
    ServeInput,
    register_modality,
)
from accelml.core.task import encode_target, infer_task
from accelml.errors import AccelMLError, ConfigError, DataError

if TYPE_CHECKING:
    from accelml.core.data import Features
    from accelml.core.predictor import Predictor, Preprocessor

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".json", ".txt")
ZERO_COST_PROXIES = (None, "naswot")
#: Images whose saliency maps the report draws.
REPORT_IMAGES = 6


@dataclass(frozen=True)
class ImageOptions:
    """The options only image runs read.

    Attributes:
        backbone: a local checkpoint to fine-tune from.
        max_params: the largest network (in parameters) a search may return.
        max_latency_ms: the slowest single-image prediction (ms, on the search's device and
            threads) a search may return. Either constraint serves one network, since a
            blend costs the sum of its members.
        zero_cost_proxy: "naswot" scores each new candidate network on one batch before any
            training and drops hopeless ones (evolution sampler).
    """

    backbone: str | None = None
    max_params: int | None = None
    max_latency_ms: float | None = None
    zero_cost_proxy: str | None = None

    def __post_init__(self) -> None:
        if self.max_params is not None and self.max_params < 1:
            raise ConfigError(f"max_params must be >= 1, got {self.max_params}")
        if self.max_latency_ms is not None and not self.max_latency_ms > 0:
            raise ConfigError(f"max_latency_ms must be > 0, got {self.max_latency_ms}")
        if self.zero_cost_proxy not in ZERO_COST_PROXIES:
            raise ConfigError(f"unknown zero_cost_proxy {self.zero_cost_proxy!r}; use "
                              f"{' or '.join(p for p in ZERO_COST_PROXIES if p)} (or none)")


@register_modality
class ImageModality(Modality):
    """Image classification by network search and fine-tuning."""

    name = "image"
    learner_modules = ("accelml.vision.learners",)
    learner_names = ("cnn", "transfer")
    option_type = ImageOptions
    input_hint = "pass a folder of class sub-folders or an .npz file"
    defaults = {
        "sampler": "evolution",
        "multi_fidelity": True,
        "holdout_min_rows": 0,
        "holdout_fraction": 0.15,
        "n_workers": 1,
        "max_trial_fraction": 0.2,
        "final_train_fraction": 0.35,
        "stacking": False,  # networks are exported and served as a weighted blend
    }
    priority = 10

    def detect(self, data: Any, task: str | None) -> bool:
        """A folder, an .npz file or an (x, y) tuple."""
        if isinstance(data, tuple):
            return True
        if isinstance(data, str | Path):
            path = Path(data)
            return path.is_dir() or path.suffix.lower() == ".npz"
        return False

    def prepare(self, data: Any, target: str | None, config: RunConfig,
                options: Any = None) -> Prepared:
        import accelml.vision.evolution  # noqa: F401  (registers the "evolution" sampler)
        from accelml.vision.data import load_training_images
        from accelml.vision.preprocess import ImagePreprocessor

        if config.task == "regression":
            raise ConfigError("image models classify; regression on images is not supported: "
                              "use --task image (or binary / multiclass)")
        options = options or ImageOptions()
        source = _source(data)
        if isinstance(source, pd.DataFrame) and target is not None:
            images = load_training_images(source, label_column=target)
        else:
            images = load_training_images(source)
        labels = pd.Series(images.labels)
        task = infer_task(labels, target or "label",
                          config.task or ("binary" if labels.nunique() == 2 else "multiclass"),
                          config.metric or "log_loss", config.positive_class)
        preprocessor = ImagePreprocessor().fit(images)
        features = preprocessor.transform(images)
        learners = config.learners
        if learners is None:  # fine-tuning needs a checkpoint: without one only networks
            learners = ("cnn", "transfer") if options.backbone is not None else ("cnn",)
        changes: dict[str, Any] = {"learners": tuple(learners)}
        if options.max_params is not None or options.max_latency_ms is not None:
            changes["ensemble_size"] = 1  # a blend costs the sum of its networks
        config = config.with_changes(**changes)
        return Prepared(features, encode_target(labels, task), task, preprocessor, config,
                        list(preprocessor.notes), fixed=_fixed_params(options),
                        sampler_options=_sampler_options(config, options, features,
                                                         task.n_classes))

    def preprocessor_from_dict(self, state: dict[str, Any]) -> Preprocessor:
        from accelml.vision.preprocess import ImagePreprocessor

        return ImagePreprocessor.from_dict(state)

    def read_labelled(self, source: Path) -> Any:
        return source  # the preprocessor reads the labels from the class sub-folders

    def predict_file(self, predictor: Predictor, source: Path, output: Path, *, proba: bool,
                     batch_rows: int, on_progress: OnProgress | None = None) -> int:
        from accelml.io import write_table

        labels, probabilities = predictor.predict_with_proba(str(source))
        result = pd.DataFrame({"id": getattr(predictor.preprocessor, "row_ids")(str(source)),  # noqa: B009
                               "prediction": labels})
        if proba and probabilities is not None:
            for index, label in enumerate(predictor.classes):
                result[f"proba_{label}"] = probabilities[:, index]
        write_table(result, output)
        if on_progress is not None:
            on_progress(len(result), len(result))
        return len(result)

    def explain(self, predictor: Predictor, data: Any, *, top: int, max_rows: int) -> Any:
        """The answers with an occlusion saliency map per image (column ``saliency``)."""
        from accelml.explain.saliency import saliency

        table, maps = saliency(predictor, data, max_rows=max_rows)
        table["saliency"] = list(maps)
        return table

    def report_sections(self, predictor: Predictor, data: Any) -> list[ReportSection]:
        """Occlusion saliency maps of the first images given."""
        from accelml.explain.saliency import saliency, saliency_figure

        if data is None:
            return [ReportSection("Saliency", ["Pass --data images to see which pixels the "
                                               "answers lean on."])]
        features = predictor._features(data)
        rows = np.arange(min(REPORT_IMAGES, len(features)))
        images = features.X[rows].reshape(len(rows), *features.item_shape)
        table, maps = saliency(predictor, images)
        titles = [f"{label} ({p:.0%})" for label, p in
                  zip(table["prediction"], table["probability"], strict=True)]
        return [ReportSection("Saliency", [
            "Where a grey patch lowers the predicted class's probability most (red), the "
            f"answer leans on those pixels; the first {len(rows)} images given, with the "
            "predicted class."], figures=[saliency_figure(images, maps, titles)])]

    def export_onnx(self, predictor: Predictor, output: Path, check_data: Any) -> float:
        """The final network (or blend of networks), compared with PyTorch on random
        images."""
        from accelml.vision.export import check_onnx, export_onnx

        members = [(m.learner, m.fitted, m.weight) for m in predictor.members]
        export_onnx(members, output)
        size, channels = _input_shape(predictor)
        images = np.random.default_rng(0).integers(0, 256, (8, size, size, channels),
                                                   dtype=np.uint8)
        return float(check_onnx(output, members, images))

    def serve_input(self, predictor: Predictor, max_rows: int) -> ServeInput:
        size, channels = _input_shape(predictor)

        def decode(images: list[Any]) -> np.ndarray:
            return np.stack([_decode(index, text, size, channels)
                             for index, text in enumerate(images)])

        return ServeInput(
            field="images", item_type=str, decode=decode,
            schema={"input": "images: image files (PNG, JPEG, ...) base64-encoded, any size; "
                             f"each is brought to {size}x{size} with {channels} channel(s)",
                    "classes": [str(c) for c in predictor.classes]},
            example="<base64 of a PNG file>",
            warm=np.zeros((1, size, size, channels), dtype=np.uint8))


def _input_shape(predictor: Predictor) -> tuple[int, int]:
    """(size, channels) of the images the model takes."""
    return (int(getattr(predictor.preprocessor, "size")),  # noqa: B009  (not in the protocol)
            int(getattr(predictor.preprocessor, "channels")))  # noqa: B009


def _decode(index: int, text: str, size: int, channels: int) -> np.ndarray:
    """One base64-encoded image file of a request as uint8 pixels; DataError naming it."""
    from accelml.vision.data import decode_image_bytes

    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DataError(f"images[{index}] is not base64 text; send each image file's bytes "
                        "base64-encoded") from None
    try:
        return decode_image_bytes(data, size, channels)
    except AccelMLError as error:
        raise DataError(f"images[{index}] is {error}") from None


def _source(data: Any) -> Any:
    if isinstance(data, str | Path) and Path(data).suffix.lower() in TABLE_SUFFIXES:
        from accelml.io import read_table

        return read_table(data)
    return data


def _fixed_params(options: ImageOptions) -> dict[str, dict[str, Any]]:
    limits = {key: value for key, value in (("max_params", options.max_params),
                                            ("max_latency_ms", options.max_latency_ms))
              if value is not None}
    fixed: dict[str, dict[str, Any]] = {"cnn": dict(limits), "transfer": dict(limits)}
    if options.backbone is not None:
        from accelml.vision.learners.transfer import backbone_record

        backbone_record(options.backbone)  # a missing or wrong checkpoint fails before any work
        fixed["transfer"]["backbone"] = str(Path(options.backbone).resolve())
    return fixed


def _sampler_options(config: RunConfig, options: ImageOptions, features: Features,
                     n_classes: int) -> dict[str, dict[str, Any]]:
    """The zero-cost screen for the cnn learner's evolution sampler, when asked for."""
    if options.zero_cost_proxy is None:
        return {}
    if config.sampler != "evolution":
        raise ConfigError(f"--zero-cost-proxy screens the evolution sampler's candidates, but "
                          f"the sampler is {config.sampler!r}; use --sampler evolution")
    from accelml.vision.learners.cnn import images_of
    from accelml.vision.proxy import NaswotScreen

    return {"cnn": {"screen": NaswotScreen(images_of(features), n_classes, config.seed)}}
