"""Image loading: every source kind, gray and colour, odd modes and sizes, and bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from accelml.errors import ConfigError, DataError
from accelml.vision.data import (
    ImageSet,
    load_prediction_images,
    load_training_images,
    prediction_ids,
)

N_PER_CLASS = 4


def digits(n_classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Real 8x8 handwritten digits as uint8 (0-255): N_PER_CLASS of each of the first classes."""
    bunch = load_digits()
    rows = np.concatenate([np.flatnonzero(bunch.target == c)[:N_PER_CLASS]
                           for c in range(n_classes)])
    pixels = np.clip(bunch.images[rows] * 16, 0, 255).astype(np.uint8)
    return pixels, bunch.target[rows]


def write_digit_folder(root: Path, n_classes: int = 3, suffix: str = ".png") -> Path:
    """root/<class name>/<i>.png, one grayscale file per digit; class names are words."""
    names = ["zero", "one", "two", "three"]
    pixels, labels = digits(n_classes)
    for i, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        folder = root / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:03d}{suffix}")
    return root


def colour(image: np.ndarray) -> np.ndarray:
    """A gray digit made colour: red strokes on a blue-ish background."""
    return np.stack([image, image // 2, 255 - image], axis=-1)


# --- folders --------------------------------------------------------------------------------


def test_gray_folder_keeps_small_images_exact(tmp_path: Path) -> None:
    root = write_digit_folder(tmp_path / "digits")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_training_images(root)
    pixels, labels = digits()
    assert isinstance(loaded, ImageSet)
    assert loaded.images.shape == (12, 8, 8, 1) and loaded.images.dtype == np.uint8
    assert loaded.classes == ["one", "two", "zero"]
    assert sorted(loaded.labels.tolist()) == sorted(["zero", "one", "two"] * N_PER_CLASS)
    first = loaded.ids.index(str(root / "zero" / "000.png"))
    np.testing.assert_array_equal(loaded.images[first, :, :, 0], pixels[0])
    assert loaded.skipped == [] and loaded.notes == []


def test_colour_jpeg_nested_and_uppercase_extensions(tmp_path: Path) -> None:
    pixels, labels = digits(2)
    for i, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        folder = tmp_path / f"class{label}" / ("nested" if i % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(colour(image)).save(folder / f"{i}.JPG", quality=95, subsampling=0)
    (tmp_path / "class0" / "readme.txt").write_text("not an image")
    loaded = load_training_images(tmp_path)
    assert loaded.images.shape == (8, 8, 8, 3)
    assert loaded.classes == ["class0", "class1"]
    assert sum(Path(name).parent.name == "nested" for name in loaded.ids) == 4
    order = [int(Path(name).stem) for name in loaded.ids]
    error = np.abs(loaded.images.astype(int) - np.stack([colour(pixels[i]) for i in order]))
    assert error.mean() < 8  # JPEG is lossy, not wrong


def test_mixed_sizes_resize_to_the_median_without_warning(tmp_path: Path) -> None:
    pixels, _ = digits(2)
    for i, image in enumerate(pixels):
        side = (8, 16, 16, 12)[i % 4]
        folder = tmp_path / ("a" if i < N_PER_CLASS else "b")
        folder.mkdir(exist_ok=True)
        Image.fromarray(image).resize((side, side + i % 2)).save(folder / f"{i}.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_training_images(tmp_path)
    assert loaded.images.shape == (8, 14, 14, 1)  # median longer side of 8,17,16,13,...
    assert any(note.startswith("resized 8 of 8 images to 14x14") for note in loaded.notes)
    capped = load_training_images(tmp_path, max_side=10)
    assert capped.images.shape[1:] == (10, 10, 1)


def test_gray_and_colour_mix_becomes_rgb(tmp_path: Path) -> None:
    pixels, _ = digits(2)
    for i, image in enumerate(pixels):
        folder = tmp_path / ("a" if i < N_PER_CLASS else "b")
        folder.mkdir(exist_ok=True)
        Image.fromarray(colour(image) if i == 0 else image).save(folder / f"{i}.png")
    loaded = load_training_images(tmp_path)
    assert loaded.images.shape == (8, 8, 8, 3)
    gray = loaded.images[1]
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    np.testing.assert_array_equal(gray[..., 0], pixels[1])
    assert "converted 7 grayscale images to RGB, as the others are colour" in loaded.notes


def test_rgba_palette_and_16_bit_files(tmp_path: Path) -> None:
    pixels, _ = digits(2)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rgba = np.dstack([colour(pixels[0]), np.where(pixels[0] > 0, 255, 0).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a" / "rgba.png")
    Image.fromarray(colour(pixels[1])).convert("P").save(tmp_path / "a" / "palette.gif")
    wide = pixels[2].astype(np.uint16) * 257
    Image.fromarray(wide).save(tmp_path / "b" / "wide.png")
    Image.fromarray(colour(pixels[3])).save(tmp_path / "b" / "plain.webp", lossless=True)
    loaded = load_training_images(tmp_path)
    assert loaded.images.shape == (4, 8, 8, 3)
    by_name = {Path(name).name: image for name, image in zip(loaded.ids, loaded.images,
                                                            strict=True)}
    transparent = pixels[0] == 0
    assert (by_name["rgba.png"][transparent] == 255).all()  # transparency shows as white
    np.testing.assert_array_equal(by_name["rgba.png"][~transparent],
                                  colour(pixels[0])[~transparent])
    np.testing.assert_array_equal(by_name["wide.png"][..., 1], pixels[2])  # 16 -> 8 bits
    np.testing.assert_array_equal(by_name["plain.webp"], colour(pixels[3]))
    assert "flattened onto white: 1 transparent images" in loaded.notes
    assert "reduced to 8 bits: 1 16-bit images" in loaded.notes


def test_unreadable_files_are_skipped_with_a_warning(tmp_path: Path) -> None:
    root = write_digit_folder(tmp_path)
    (root / "one" / "broken.png").write_bytes(b"not a png")
    good = (root / "two" / "008.png").read_bytes()
    (root / "two" / "truncated.png").write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable images: .*broken\.png, "
                                         r".*truncated\.png"):
        loaded = load_training_images(root)
    assert len(loaded) == 12
    assert [Path(name).name for name in loaded.skipped] == ["broken.png", "truncated.png"]
    assert any(note.startswith("skipped 2 unreadable images") for note in loaded.notes)


def test_every_file_unreadable_is_an_error(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="none of the 2 image files could be read"):
        load_training_images(tmp_path)


@pytest.mark.parametrize(
    ("layout", "match"),
    [
        ({}, "has no class sub-folders; put each class's images in a sub-folder"),
        ({"loose.png": True}, r"holds 1 images but no sub-folder"),
        ({"cat/1.png": True, "dog/notes.txt": False},
         "class folder 'dog' has no images .*; add images or remove the folder"),
        ({"cat/1.png": True, "cat/2.png": True}, "single class folder 'cat'.*at least two"),
    ],
)
def test_bad_folders(tmp_path: Path, layout: dict[str, bool], match: str) -> None:
    pixels, _ = digits(1)
    for name, is_image in layout.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if is_image:
            Image.fromarray(pixels[0]).save(path)
        else:
            path.write_text("text")
    with pytest.raises(DataError, match=match):
        load_training_images(tmp_path)


def test_missing_source_and_unknown_kinds(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere does not exist; check the path"):
        load_training_images(tmp_path / "nowhere")
    (tmp_path / "table.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="cannot train on .*table.csv.*one sub-folder"):
        load_training_images(tmp_path / "table.csv")
    with pytest.raises(DataError, match="cannot train on 3"):
        load_training_images(3)
    with pytest.raises(ConfigError, match="max_side must be a positive integer"):
        load_training_images(tmp_path, max_side=0)


# --- arrays ---------------------------------------------------------------------------------


def test_npz_with_integer_labels_and_class_names(tmp_path: Path) -> None:
    pixels, labels = digits()
    np.savez(tmp_path / "plain.npz", x=pixels, y=labels)
    loaded = load_training_images(tmp_path / "plain.npz")
    assert loaded.images.shape == (12, 8, 8, 1)
    np.testing.assert_array_equal(loaded.images[..., 0], pixels)
    assert loaded.classes == [0, 1, 2] and loaded.labels.dtype.kind in "iu"
    assert loaded.ids[:2] == ["row 0", "row 1"]
    np.savez(tmp_path / "named.npz", x=pixels, y=labels, classes=np.array(["a", "b", "c"]))
    named = load_training_images(tmp_path / "named.npz")
    assert named.classes == ["a", "b", "c"] and named.labels[0] == "a"


def test_colour_and_rgba_arrays_and_a_tuple(tmp_path: Path) -> None:
    pixels, labels = digits(2)
    rgb = np.stack([colour(p) for p in pixels])
    loaded = load_training_images((rgb, labels))
    assert loaded.images.shape == (8, 8, 8, 3)
    np.testing.assert_array_equal(loaded.images, rgb)
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:3], 1), 255, np.uint8)], axis=3)
    np.savez(tmp_path / "rgba.npz", x=rgba, y=labels)
    np.testing.assert_array_equal(load_training_images(tmp_path / "rgba.npz").images, rgb)
    big = np.repeat(np.repeat(pixels, 10, axis=1), 10, axis=2)  # 80x80 -> capped at 64
    assert load_training_images((big, labels)).images.shape == (8, 64, 64, 1)


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"y": [0, 1]}, r"has no array 'x'"),
        ({"x": np.zeros((2, 4, 4), np.uint8), "Y": [0, 1]},
         r"has no array 'y' \(did you mean 'Y'"),
        ({"x": np.zeros((30, 8, 8), np.uint8), "y": np.arange(29) % 2},
         "x has 30 images but y has 29 labels"),
        ({"x": np.zeros((2, 8, 8)), "y": [0, 1]}, "x must hold uint8 pixels .* float64"),
        ({"x": np.zeros((2, 64), np.uint8), "y": [0, 1]}, r"got shape \(2, 64\)"),
        ({"x": np.zeros((2, 8, 8, 2), np.uint8), "y": [0, 1]}, "1, 3 or 4 channels"),
        ({"x": np.zeros((2, 8, 8), np.uint8), "y": [1, 1]}, "single class 1.*at least two"),
        ({"x": np.zeros((2, 8, 8), np.uint8), "y": [0, 2], "classes": ["a", "b"]},
         r"must hold integers 0\.\.1"),
    ],
)
def test_bad_npz(tmp_path: Path, arrays: dict[str, object], match: str) -> None:
    np.savez(tmp_path / "data.npz", **arrays)
    with pytest.raises(DataError, match=match):
        load_training_images(tmp_path / "data.npz")


def test_integer_arrays_in_range_are_accepted_and_16_bit_reduced() -> None:
    pixels, labels = digits(2)
    as_int = load_training_images((pixels.astype(np.int64), labels))
    np.testing.assert_array_equal(as_int.images[..., 0], pixels)
    wide = load_training_images((pixels.astype(np.uint16) * 257, labels))
    np.testing.assert_array_equal(wide.images[..., 0], pixels)
    with pytest.raises(DataError, match="values from 0 to 4080"):
        load_training_images((pixels.astype(np.int64) * 16, labels))


# --- data frames ----------------------------------------------------------------------------


def test_dataframe_with_paths_found_by_itself(tmp_path: Path) -> None:
    root = write_digit_folder(tmp_path)
    files = sorted(root.rglob("*.png"))
    frame = pd.DataFrame({"id": range(len(files)), "file": [str(f) for f in files],
                          "label": [f.parent.name for f in files]})
    loaded = load_training_images(frame)
    assert loaded.ids == [str(f) for f in files]
    assert loaded.labels.tolist() == frame["label"].tolist()
    renamed = frame.rename(columns={"label": "digit", "file": "where"})
    again = load_training_images(renamed, label_column="digit", path_column="where")
    np.testing.assert_array_equal(again.images, loaded.images)


def test_bad_dataframes(tmp_path: Path) -> None:
    root = write_digit_folder(tmp_path)
    files = [str(f) for f in sorted(root.rglob("*.png"))]
    frame = pd.DataFrame({"file": files, "label": [Path(f).parent.name for f in files]})
    with pytest.raises(DataError, match=r"label column 'lable' is not in the data \(did you"):
        load_training_images(frame, label_column="lable")
    with pytest.raises(DataError, match="no column of the data holds image file paths"):
        load_training_images(frame.assign(file=range(len(files))))
    with pytest.raises(DataError, match="several columns hold image paths"):
        load_training_images(frame.assign(copy=files))
    missing = frame.assign(file=[*files[:-1], str(tmp_path / "gone.png")])
    with pytest.raises(DataError, match=r"1 image files named in column 'file' do not exist: "
                                        r".*gone\.png; fix the paths"):
        load_training_images(missing)
    with pytest.raises(DataError, match="1 rows have no label"):
        load_training_images(frame.assign(label=[None, *frame["label"][1:]]))


# --- prediction -----------------------------------------------------------------------------


def test_prediction_sources_agree(tmp_path: Path) -> None:
    root = write_digit_folder(tmp_path / "digits")
    files = sorted(root.rglob("*.png"))
    batch, ids = load_prediction_images(root, 8, 1)
    assert ids == [str(f) for f in files] and batch.shape == (12, 8, 8, 1)
    single, single_ids = load_prediction_images(files[3], 8, 1)
    np.testing.assert_array_equal(single[0], batch[3])
    assert single_ids == [str(files[3])]
    listed, _ = load_prediction_images([str(f) for f in files[2:5]], 8, 1)
    np.testing.assert_array_equal(listed, batch[2:5])
    framed, framed_ids = load_prediction_images(pd.DataFrame({"p": files}), 8, 1)
    np.testing.assert_array_equal(framed, batch)
    np.savez(tmp_path / "x.npz", x=batch[..., 0])
    from_npz, npz_ids = load_prediction_images(tmp_path / "x.npz", 8, 1)
    np.testing.assert_array_equal(from_npz, batch)
    assert npz_ids[-1] == "row 11"
    rgb, _ = load_prediction_images(batch, 8, 3)
    np.testing.assert_array_equal(rgb[..., 2], batch[..., 0])
    assert prediction_ids(root) == ids and prediction_ids(tmp_path / "x.npz") == npz_ids


def test_prediction_matches_training_pixels_after_resizing(tmp_path: Path) -> None:
    pixels, _ = digits(2)
    for i, image in enumerate(pixels):
        folder = tmp_path / ("a" if i < N_PER_CLASS else "b")
        folder.mkdir(exist_ok=True)
        Image.fromarray(colour(image)).resize((20 + i, 30)).save(folder / f"{i}.png")
    loaded = load_training_images(tmp_path, max_side=16)
    again, ids = load_prediction_images(tmp_path, 16, 3)
    assert ids == loaded.ids
    np.testing.assert_array_equal(again, loaded.images)


def test_bad_prediction_input(tmp_path: Path) -> None:
    root = write_digit_folder(tmp_path / "digits")
    (root / "one" / "broken.png").write_bytes(b"nope")
    with pytest.raises(DataError, match=r"cannot read image .*broken\.png"):
        load_prediction_images(root, 8, 1)
    with pytest.raises(DataError, match="missing.png does not exist"):
        load_prediction_images([str(root / "missing.png")], 8, 1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        load_prediction_images(tmp_path / "empty", 8, 1)
    with pytest.raises(DataError, match="cannot read images from a dict"):
        load_prediction_images({"a": 1}, 8, 1)
    with pytest.raises(DataError, match="list of image paths is empty"):
        load_prediction_images([], 8, 1)
    with pytest.raises(ConfigError, match="channels must be 1"):
        load_prediction_images(root, 8, 2)
