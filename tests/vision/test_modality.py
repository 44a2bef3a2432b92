"""The image modality's own options: checked where they are declared, refused for tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelml.errors import ConfigError
from accelml.vision.modality import ImageModality, ImageOptions


def test_image_constraints_and_proxy_are_checked() -> None:
    with pytest.raises(ConfigError, match="max_latency_ms must be > 0, got 0"):
        ImageOptions(max_latency_ms=0)
    with pytest.raises(ConfigError, match="unknown zero_cost_proxy 'synflow'; use naswot"):
        ImageOptions(zero_cost_proxy="synflow")
    with pytest.raises(ConfigError, match="max_params must be >= 1, got 0"):
        ImageOptions(max_params=0)


def test_images_are_detected_from_folders_npz_files_and_arrays(tmp_path: Path) -> None:
    modality = ImageModality()
    assert modality.detect(tmp_path, None)
    assert modality.detect(tmp_path / "digits.npz", None)
    assert modality.detect(([[0]], [1]), None)
    assert not modality.detect(tmp_path / "table.csv", None)
