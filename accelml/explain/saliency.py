"""Occlusion saliency for image models: a grey patch slides over each image in a grid, and
the drop of the predicted class's probability where it covers marks the pixels the answer
depends on. It asks only the served model, so any network or blend is covered, and every
patched copy of every image goes through the model in one batch per image."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from accelml.core.predictor import Predictor
from accelml.errors import ConfigError
from accelml.explain.reasons import MAX_ROWS, check_row_count

#: Patches per side: the map's resolution (each patch a 1/GRID of the image's side).
GRID = 8


def saliency(predictor: Predictor, images: Any, *, grid: int = GRID,
             max_rows: int = MAX_ROWS) -> tuple[pd.DataFrame, np.ndarray]:
    """The answers (``prediction``, ``probability``) and one map per image (images x H x W,
    in the model's input size): the predicted class's probability less its probability with
    the patch over each pixel grey (higher: the answer leans on those pixels).

    Raises:
        ConfigError: not an image model, or more images than ``max_rows``.
    """
    shape = getattr(predictor.preprocessor, "kind", "") == "image"
    if not shape:
        raise ConfigError(f"saliency maps are for image models; this is a "
                          f"{predictor.preprocessor.kind} model")
    features = predictor._features(images)
    check_row_count(len(features), max_rows)
    size, _, channels = features.item_shape
    if grid < 1 or grid > size:
        raise ConfigError(f"grid must be between 1 and the image size {size}, got {grid}")
    base = predictor.blend(features)
    chosen = base.argmax(axis=1)
    edges = np.linspace(0, size, grid + 1).astype(int)
    maps = np.zeros((len(features), size, size))
    for index in range(len(features)):
        image = features.X[index].reshape(size, size, channels)
        copies = _occluded(image, edges)
        flat = copies.reshape(len(copies), -1)
        proba = predictor.blend(replace(features, X=flat))[:, chosen[index]]
        drops = (base[index, chosen[index]] - proba).reshape(grid, grid)
        maps[index] = np.repeat(np.repeat(drops, np.diff(edges), axis=0), np.diff(edges), axis=1)
    labels = np.asarray(predictor.classes, dtype=object)[chosen]
    table = pd.DataFrame({"prediction": labels, "probability": base.max(axis=1)})
    table.attrs.update(output="drop of the predicted class's probability under a grey patch",
                       method=f"occlusion on a {grid}x{grid} grid", exact=False)
    return table, maps


def _occluded(image: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """One copy of ``image`` per grid cell, that cell filled with mid grey."""
    cells = len(edges) - 1
    copies = np.repeat(image[None], cells * cells, axis=0)
    for row in range(cells):
        for col in range(cells):
            copies[row * cells + col, edges[row]:edges[row + 1],
                   edges[col]:edges[col + 1]] = 128
    return copies


def saliency_figure(images: np.ndarray, maps: np.ndarray, titles: list[str]) -> Any:
    """Each image above its map overlaid on it, one column per image (a matplotlib Figure
    made without pyplot, so a user's own backend is left alone)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2.2 * len(images), 4.4))
    axes = figure.subplots(2, len(images), squeeze=False)
    for column, (image, heat, title) in enumerate(zip(images, maps, titles, strict=True)):
        grey = image.shape[-1] == 1
        shown = image[..., 0] if grey else image
        for axis in axes[:, column]:
            axis.imshow(shown, cmap="gray" if grey else None)
            axis.axis("off")
        axes[1, column].imshow(heat, cmap="jet", alpha=0.5)
        axes[0, column].set_title(title, fontsize=9)
    figure.tight_layout()
    return figure


def save_maps(images: np.ndarray, maps: np.ndarray, names: list[str], folder: Path) -> list[Path]:
    """Each image above its saliency map, as PNG files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for image, heat, name in zip(images, maps, names, strict=True):
        path = folder / f"{name}.png"
        saliency_figure(image[None], heat[None], [name]).savefig(path, dpi=80,
                                                                  bbox_inches="tight")
        paths.append(path)
    return paths
