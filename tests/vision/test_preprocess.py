"""ImagePreprocessor: fit on an ImageSet, transform any accepted input, JSON round trip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from accelml.errors import ArtifactError, DataError, NotFittedError
from accelml.vision.data import load_training_images
from accelml.vision.preprocess import ImagePreprocessor
from tests.vision.test_data import colour, digits, write_digit_folder


@pytest.fixture()
def fitted(tmp_path: Path) -> tuple[ImagePreprocessor, Path]:
    root = write_digit_folder(tmp_path / "digits")
    return ImagePreprocessor().fit(load_training_images(root)), root


def test_transform_flattens_uint8_rows_with_their_shape(
    fitted: tuple[ImagePreprocessor, Path],
) -> None:
    pre, root = fitted
    features = pre.transform(root)
    assert features.X.shape == (12, 64) and features.X.dtype == np.uint8
    assert features.item_shape == (8, 8, 1)
    files = sorted(root.rglob("*.png"))
    assert pre.last_ids == [str(f) for f in files]
    pixels = np.asarray(Image.open(files[0]))
    np.testing.assert_array_equal(features.X[0].reshape(8, 8), pixels)
    assert pre.classes == ["one", "two", "zero"]
    assert pre.notes == ["images are 8x8 grayscale (12 for training)"]


def test_single_image_equals_its_batch_row(fitted: tuple[ImagePreprocessor, Path]) -> None:
    pre, root = fitted
    batch = pre.transform(root).X
    files = sorted(root.rglob("*.png"))
    for i in (0, 5, 11):
        np.testing.assert_array_equal(pre.transform(files[i]).X[0], batch[i])
        np.testing.assert_array_equal(pre.transform(batch[i : i + 1].reshape(1, 8, 8)).X[0],
                                      batch[i])


def test_training_set_and_arrays_transform_as_files_do(
    fitted: tuple[ImagePreprocessor, Path],
) -> None:
    pre, root = fitted
    image_set = load_training_images(root)
    from_set = pre.transform(image_set)
    assert pre.last_ids == image_set.ids
    np.testing.assert_array_equal(from_set.X, pre.transform(root).X)
    np.testing.assert_array_equal(pre.fit_transform(image_set).X, from_set.X)
    four_d = image_set.images  # already (N, S, S, C): used as it is
    np.testing.assert_array_equal(pre.transform(four_d).X, from_set.X)
    assert pre.last_ids[0] == "row 0"


def test_colour_model_takes_gray_and_resized_input(tmp_path: Path) -> None:
    pixels, labels = digits(2)
    rgb = np.stack([colour(p) for p in pixels])
    pre = ImagePreprocessor().fit(load_training_images((rgb, labels)))
    assert pre.transform(rgb).item_shape == (8, 8, 3)
    gray = pre.transform(pixels).X.reshape(-1, 8, 8, 3)
    np.testing.assert_array_equal(gray[..., 0], pixels)
    Image.fromarray(rgb[0]).resize((24, 24), Image.Resampling.NEAREST).save(tmp_path / "big.png")
    big = pre.transform(tmp_path / "big.png").X.reshape(8, 8, 3).astype(int)
    assert np.abs(big - rgb[0]).mean() < 25  # shrunk back, close to the original


def test_row_ids_decode_nothing(fitted: tuple[ImagePreprocessor, Path]) -> None:
    pre, root = fitted
    (root / "zero" / "zz_broken.png").write_bytes(b"nope")
    ids = pre.row_ids(root)
    assert ids[-1].endswith("zz_broken.png") and len(ids) == 13
    with pytest.raises(DataError, match="cannot read image .*zz_broken.png"):
        pre.transform(root)
    assert pre.row_ids(np.zeros((3, 8, 8), np.uint8)) == ["row 0", "row 1", "row 2"]


def test_to_dict_round_trip_is_json(fitted: tuple[ImagePreprocessor, Path]) -> None:
    pre, root = fitted
    state = json.loads(json.dumps(pre.to_dict()))
    again = ImagePreprocessor.from_dict(state)
    assert again.to_dict() == pre.to_dict()
    assert again.schema == pre.schema
    assert pre.schema["size"] == 8 and pre.schema["channels"] == 1
    assert pre.schema["classes"] == ["one", "two", "zero"]
    assert any("folder" in kind for kind in pre.schema["inputs"])
    np.testing.assert_array_equal(again.transform(root).X, pre.transform(root).X)


def test_damaged_state_and_misuse() -> None:
    with pytest.raises(ArtifactError, match="not a saved image preprocessor"):
        ImagePreprocessor.from_dict({"format": "accelml.tabular.preprocessor/1"})
    with pytest.raises(ArtifactError, match="damaged"):
        ImagePreprocessor.from_dict({"format": "accelml.vision.preprocessor/1", "size": 8})
    with pytest.raises(ArtifactError, match="damaged"):
        ImagePreprocessor.from_dict({"format": "accelml.vision.preprocessor/1", "size": 8,
                                     "channels": 2, "classes": [], "path_column": None,
                                     "notes": []})
    with pytest.raises(NotFittedError, match="call fit"):
        ImagePreprocessor().transform(np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(DataError, match="fit expects the ImageSet"):
        ImagePreprocessor().fit(np.zeros((1, 8, 8), np.uint8))  # type: ignore[arg-type]


def test_vision_loading_does_not_import_torch() -> None:
    code = ("import sys, accelml, accelml.vision.data, accelml.vision.preprocess; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
