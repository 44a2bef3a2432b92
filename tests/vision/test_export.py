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
    path = export_onnx([("cnn", fitted, 1.0)], tmp_path / "model.onnx")
    images = features(slice(300, 340)).X.reshape(-1, 8, 8, 1)
    assert path.is_file() and check_onnx(path, [("cnn", fitted, 1.0)], images) < 1e-4
    assert check_onnx(path, [("cnn", fitted, 1.0)], images[:1]) < 1e-4  # dynamic batch axis


def test_a_blend_is_one_graph_over_all_the_classes(tmp_path: Path) -> None:
    first = _fit(slice(0, 300), {"block": "plain"})
    rows = slice(300, 600)
    keep = labels(rows) != 9  # the second member never saw class 9: its column gets 0
    second = CNN().fit(features(rows).take(np.flatnonzero(keep)), labels(rows)[keep],
                       {"width_0": 16}, task=MULTICLASS, fidelity=1,
                       deadline=Deadline.never(), n_jobs=2, seed=1)
    members = [("cnn", first, 3.0), ("cnn", second, 1.0)]
    path = export_onnx(members, tmp_path / "blend.onnx")
    images = features(slice(600, 640)).X.reshape(-1, 8, 8, 1)
    assert check_onnx(path, members, images) < 1e-4
    with pytest.raises(ConfigError, match="not 'lightgbm'"):
        export_onnx([*members, ("lightgbm", first, 1.0)], tmp_path / "x.onnx")


def test_resizing_and_colour_happen_inside_the_graph(tmp_path: Path) -> None:
    grey = features(slice(0, 300)).X.reshape(-1, 8, 8, 1)
    big = np.repeat(np.repeat(np.repeat(grey, 2, axis=1), 2, axis=2), 3, axis=3)  # 16x16 RGB
    data = Features(big.reshape(len(big), -1), item_shape=(16, 16, 3))
    fitted = _fit(slice(0, 300), {"resolution": 12, "block": "bottleneck", "norm": "group"},
                  data)
    path = export_onnx([("cnn", fitted, 1.0)], tmp_path / "resized.onnx")
    assert check_onnx(path, [("cnn", fitted, 1.0)], big[:20]) < 1e-4


def test_only_trained_networks_export(tmp_path: Path) -> None:
    fitted = _fit(slice(0, 300), {})
    with pytest.raises(ConfigError, match="covers trained cnn and transfer models"):
        export_onnx([("lightgbm", fitted, 1.0)], tmp_path / "x.onnx")
