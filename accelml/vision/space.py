"""The image search space: a flat dict of Optuna distributions, where a config IS an architecture.

Flat keys let generic samplers (random, TPE, an evolution sampler mutating one key at a time)
work without knowing what a network is; the builder (:mod:`accelml.vision.network`) ignores
keys a config does not use (``depth_3`` when ``n_stages`` is 3). No torch here: the engine
builds spaces in processes that never train.

Learning-rate and weight-decay keys are optimizer-relative so that one range suits SGD and
AdamW alike: ``lr_scale`` multiplies the optimizer's usual peak (SGD 0.1, AdamW 2e-3) and
``weight_decay`` is the per-step decay in SGD terms (AdamW gets the equivalent value).
"""

from __future__ import annotations

import math
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from accelml.errors import DataError

MAX_STAGES = 4
WIDTH_LOW, WIDTH_HIGH, WIDTH_STEP = 16, 128, 8
ImageShape = tuple[int, int, int]


def image_shape_from(n_features: int, item_shape: tuple[int, ...] | None = None) -> ImageShape:
    """(H, W, C) from ``item_shape``, else a square RGB or grey image of ``n_features`` pixels.

    ``3 k^2 == m^2`` has no integer solution, so the RGB and grey readings never both fit.
    """
    if item_shape:
        if len(item_shape) == 2:
            return int(item_shape[0]), int(item_shape[1]), 1
        if len(item_shape) == 3:
            return int(item_shape[0]), int(item_shape[1]), int(item_shape[2])
        raise DataError(f"image rows need a (height, width, channels) shape, got {item_shape}")
    for channels in (3, 1):
        side = math.isqrt(n_features // channels)
        if n_features % channels == 0 and side * side * channels == n_features:
            return side, side, channels
    raise DataError(
        f"{n_features} pixel values per row are not a square RGB or grey image; "
        "pass Features.item_shape = (height, width, channels)"
    )


def resolutions(image_shape: ImageShape) -> tuple[int, ...]:
    """Training sizes to choose from, ascending, the data's own (shorter) side last.

    Smaller sizes make a trial cheaper (cost ~ size^2) at some loss of detail; below 8 pixels
    nothing useful survives, so tiny images keep their size.
    """
    side = min(image_shape[0], image_shape[1])
    if side < 16:
        return (side,)
    return tuple(sorted({max(8, round(side * f)) for f in (0.5, 0.75)} | {side}))


def image_space(n_rows: int, image_shape: ImageShape) -> dict[str, BaseDistribution]:
    """Architecture and training hyperparameters for a CNN on images of ``image_shape``."""
    space: dict[str, BaseDistribution] = {"n_stages": IntDistribution(2, MAX_STAGES)}
    for i in range(MAX_STAGES):
        space[f"depth_{i}"] = IntDistribution(1, 3)
        space[f"width_{i}"] = IntDistribution(WIDTH_LOW, WIDTH_HIGH, step=WIDTH_STEP)
    space.update(
        kernel=CategoricalDistribution((3, 5)),
        block=CategoricalDistribution(("plain", "residual", "bottleneck")),
        se=CategoricalDistribution((False, True)),
        norm=CategoricalDistribution(("batch", "group", "none")),
        activation=CategoricalDistribution(("relu", "silu", "gelu")),
        stem=CategoricalDistribution(("conv3", "conv3x2", "patch2")),
        downsample=CategoricalDistribution(("stride", "maxpool", "avgpool")),
        dropout=FloatDistribution(0.0, 0.5),
        resolution=CategoricalDistribution(resolutions(image_shape)),
    )
    space.update(training_space())
    return space


def training_space() -> dict[str, BaseDistribution]:
    """The optimisation and augmentation knobs (shared by the cnn and transfer learners)."""
    return {
        "lr_scale": FloatDistribution(0.1, 3.0, log=True),
        "weight_decay": FloatDistribution(1e-6, 5e-3, log=True),
        "batch_size": CategoricalDistribution((32, 64, 128, 256)),
        "label_smoothing": FloatDistribution(0.0, 0.2),
        "aug_strength": FloatDistribution(0.0, 1.0),
        "flip": CategoricalDistribution((False, True)),
        "mixup": FloatDistribution(0.0, 0.4),
        "optimizer": CategoricalDistribution(("sgd", "adamw")),
    }


_TRAIN = {"lr_scale": 1.0, "weight_decay": 5e-4, "batch_size": 128, "label_smoothing": 0.1,
          "aug_strength": 0.5, "flip": False, "mixup": 0.0, "optimizer": "sgd"}
_UNUSED = {"depth_2": 1, "depth_3": 1, "width_2": 128, "width_3": 128}


def _seed(**values: Any) -> dict[str, Any]:
    """A complete config: unused stage keys get harmless values so every key is present."""
    base = {"kernel": 3, "block": "residual", "se": False, "norm": "batch",
            "activation": "relu", "stem": "conv3", "downsample": "stride", "dropout": 0.1}
    return {**_UNUSED, **base, **_TRAIN, **values}


def _resnet() -> dict[str, Any]:
    """A small 3-stage ResNet (2 blocks per stage), SGD + nesterov: the dependable default."""
    return _seed(n_stages=3, depth_0=2, depth_1=2, depth_2=2, width_0=32, width_1=64,
                 width_2=128)


def _vgg() -> dict[str, Any]:
    """A fast plain VGG-ish net (one conv per stage, max-pooling), AdamW: cheap first answer."""
    return _seed(n_stages=3, depth_0=1, depth_1=1, depth_2=1, width_0=32, width_1=64,
                 width_2=128, block="plain", downsample="maxpool", optimizer="adamw",
                 dropout=0.2, aug_strength=0.3)


def _wide() -> dict[str, Any]:
    """A wide shallow residual net with squeeze-excitation and SiLU."""
    return _seed(n_stages=2, depth_0=2, depth_1=2, width_0=64, width_1=128, se=True,
                 activation="silu", optimizer="adamw", lr_scale=1.5, flip=True)


def _tiny() -> dict[str, Any]:
    """Tuned for tiny (8x8 to 16x16) images: no early downsampling, light augmentation."""
    return _seed(n_stages=2, depth_0=1, depth_1=2, width_0=32, width_1=64, block="plain",
                 downsample="maxpool", optimizer="adamw", aug_strength=0.2, dropout=0.2,
                 label_smoothing=0.05)


def seed_architectures(image_shape: ImageShape | None = None) -> list[dict[str, Any]]:
    """3-4 hand-designed configs, best first, each complete within :func:`image_space`.

    Without a shape the ``resolution`` key is left out (the learner trains at the data's
    size); large images get a stride-2 stem and the 0.75 resolution to stay affordable.
    """
    seeds = [_resnet(), _vgg(), _wide()]
    if image_shape is None:
        return seeds
    side = min(image_shape[0], image_shape[1])
    if side <= 16:
        seeds = [_tiny(), *seeds]
    sizes = resolutions(image_shape)
    for config in seeds:
        config["resolution"] = sizes[-1]
        if side >= 64:
            config["stem"] = "conv3x2"
            config["resolution"] = sizes[-2]
    return seeds
