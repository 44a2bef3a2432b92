"""ONNX export: raw uint8 pixels in, the same probabilities as PyTorch out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accelml.core.budget import Deadline
from accelml.core.data import Features
from accelml.errors import ConfigError
from accelml.vision.export import check_onnx, export_onnx
from accelml.vision.learners.cnn import CNN
from tests.vision._digits import MULTICLASS, features, labels


def _fit(rows: slice, config: dict, data: Features | None = None):  # noqa: ANN202
    return CNN().fit(data or features(rows), labels(rows), config, task=MULTICLASS, fidelity=1,
                     deadline=Deadline.never(), n_jobs=2, seed=0)


def test_onnx_matches_pytorch_on_raw_pixels(tmp_path: Path) -> None:
    fitted = _fit(slice(0, 300), {"block": "residual", "se": True, "activation": "gelu"})
    path = export_onnx("cnn", fitted, tmp_path / "model.onnx")
    images = features(slice(300, 340)).X.reshape(-1, 8, 8, 1)
    assert path.is_file() and check_onnx(path, fitted, images) < 1e-4
    assert check_onnx(path, fitted, images[:1]) < 1e-4  # dynamic batch axis


def test_resizing_and_colour_happen_inside_the_graph(tmp_path: Path) -> None:
    grey = features(slice(0, 300)).X.reshape(-1, 8, 8, 1)
    big = np.repeat(np.repeat(np.repeat(grey, 2, axis=1), 2, axis=2), 3, axis=3)  # 16x16 RGB
    data = Features(big.reshape(len(big), -1), row_shape=(16, 16, 3))
    fitted = _fit(slice(0, 300), {"resolution": 12, "block": "bottleneck", "norm": "group"},
                  data)
    path = export_onnx("cnn", fitted, tmp_path / "resized.onnx")
    assert check_onnx(path, fitted, big[:20]) < 1e-4


def test_only_trained_networks_export(tmp_path: Path) -> None:
    fitted = _fit(slice(0, 300), {})
    with pytest.raises(ConfigError, match="covers trained cnn and transfer models"):
        export_onnx("lightgbm", fitted, tmp_path / "x.onnx")
