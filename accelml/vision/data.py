"""Image loading: folders, files, .npz archives, DataFrames of paths and arrays in; one uint8
array of same-sized square images out.

Training data is cached at one size S (the median longer side, capped at ``max_side``) so that
small images (8x8 digits, 28x28 MNIST, 32x32 CIFAR) stay pixel-exact and big photos shrink to
something a search can afford. Every image, at fit and at predict time, goes through the same
:func:`_square` steps (8-bit, transparency onto white, resize to SxS, gray or RGB), so a file
gives the same pixels whenever and however it is read. Only numpy and Pillow are used: loading
images must not load torch.
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from accelml.core.validation import close_matches
from accelml.errors import ConfigError, DataError

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp")
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
WIDE_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
SHOWN = 5
_ARRAY_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_T = TypeVar("_T")
_R = TypeVar("_R")


@dataclass
class ImageSet:
    """Labelled training images, all resized to one square cache size.

    Attributes:
        images: uint8 pixels, (N, S, S, C) with C = 1 (gray) or 3 (RGB).
        labels: the original label of each image: the class folder's name for folders, the
            value of ``y`` for arrays (or its name when an .npz holds ``classes``).
        classes: the distinct labels, sorted.
        ids: where each image came from: its file path, or ``"row i"`` for arrays.
        skipped: files left out because they could not be read.
        notes: what loading did that the user should know (resizing, colour conversion...).
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[Any]
    ids: list[str]
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True)
class _Probe:
    """What a file's header says, read without decoding the pixels."""

    size: tuple[int, int]  # (width, height), as Pillow reports it
    mode: str


# --- the pixel pipeline: the same steps at fit and predict time ------------------------------


def _to_8bit(img: Image.Image) -> Image.Image:
    """L or RGB, 8 bits per channel, whatever the file stored."""
    if img.mode in ALPHA_MODES or "transparency" in img.info:
        # Transparent pixels' stored colour is arbitrary (often black): show them as white.
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode in ("L", "RGB"):
        return img
    if img.mode == "F":
        return Image.fromarray(np.clip(np.rint(np.asarray(img)), 0, 255).astype(np.uint8))
    if img.mode.startswith("I"):
        wide = np.clip(np.asarray(img).astype(np.int64), 0, 65535) >> 8
        return Image.fromarray(wide.astype(np.uint8))
    return img.convert("L" if img.mode == "1" else "RGB")


def _square(img: Image.Image, size: int, channels: int) -> np.ndarray:
    """One image as uint8 (size, size, channels)."""
    img = _to_8bit(img)
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)  # antialiased when shrinking
    target = "RGB" if channels == 3 else "L"
    if img.mode != target:
        img = img.convert(target)
    return np.asarray(img, dtype=np.uint8).reshape(size, size, channels)


def _decode(path: Path | io.BytesIO, size: int, channels: int) -> np.ndarray:
    with Image.open(path) as img:
        if img.format == "JPEG":
            img.draft(img.mode, (2 * size, 2 * size))  # decode big JPEGs at a reduced scale
        oriented = ImageOps.exif_transpose(img)
        return _square(oriented if oriented is not None else img, size, channels)


def _probe(path: Path) -> _Probe:
    with Image.open(path) as img:
        return _Probe(img.size, img.mode)


def _attempt(fn: Callable[..., _R], *args: Any) -> _R | str:
    """``fn(*args)``, or why it failed: damaged files make decoders raise many error types."""
    try:
        return fn(*args)
    except Exception as error:  # any decoder failure means the file is unreadable
        return f"{type(error).__name__}: {error}"


def _parallel(fn: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """``fn`` over ``items`` in order; threads for big batches (Pillow releases the GIL)."""
    workers = min(8, os.cpu_count() or 1) if len(items) >= 64 else 1
    if workers == 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def _conform(x: np.ndarray, size: int, channels: int) -> np.ndarray:
    """(N, H, W, C) uint8 to (N, size, size, channels), untouched when already so."""
    if x.shape[1:] == (size, size, channels):
        return np.ascontiguousarray(x)
    if x.shape[1:] == (size, size, 1) and channels == 3:
        return np.repeat(x, 3, axis=3)  # what Pillow's L -> RGB does, without the loop
    arrays = x[..., 0] if x.shape[3] == 1 else x
    pixels = _parallel(lambda i: _square(Image.fromarray(arrays[i]), size, channels),
                       range(len(x)))
    return np.stack(pixels)


# --- checks ---------------------------------------------------------------------------------


def _existing(source: str | os.PathLike[str]) -> Path:
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist; check the path (relative paths are read "
                        f"from {Path.cwd()})")
    return path


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _image_files(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files in ``folder`` by extension (any case), sorted; hidden ones left out."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not _hidden(p, folder))


def _shown(names: Sequence[str]) -> str:
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(str(name) for name in names[:SHOWN]) + more


def _as_uint8(x: np.ndarray) -> np.ndarray:
    """Pixels as uint8: 16-bit keeps its top byte; other integers must already be 0-255."""
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.uint16:
        return (x >> 8).astype(np.uint8)
    if x.dtype.kind in "iu" and x.min() >= 0 and x.max() <= 255:
        return x.astype(np.uint8)
    found = f"{x.dtype} values from {x.min()} to {x.max()}" if x.dtype.kind in "iuf" else x.dtype
    raise DataError(f"x must hold uint8 pixels (0-255); it holds {found}; convert it first, e.g. "
                    "(x * 255).round().astype('uint8') for floats in 0-1")


def _check_x(x: Any) -> np.ndarray:
    """Images as uint8 (N, H, W, C) with C in 1, 3, 4."""
    x = np.asarray(x)
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[3] not in (1, 3, 4)):
        raise DataError(f"x must hold images as (N, height, width) or (N, height, width, "
                        f"channels) with 1, 3 or 4 channels; got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        raise DataError(f"x holds no pixels (shape {x.shape}); pass at least one image")
    images: np.ndarray = _as_uint8(x)
    return images[..., np.newaxis] if images.ndim == 3 else images


def _check_labels(x: np.ndarray, y: Any) -> np.ndarray:
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels.ravel()
    if labels.ndim != 1:
        raise DataError(f"y must hold one label per image, shape (N,); got shape {labels.shape}")
    if len(labels) != len(x):
        raise DataError(f"x has {len(x)} images but y has {len(labels)} labels; pass one label "
                        "per image")
    missing = int(pd.isna(labels).sum())
    if missing:
        raise DataError(f"{missing} labels in y are missing; label those images or drop them")
    return labels


def _check_classes(labels: np.ndarray, where: str) -> list[Any]:
    classes: list[Any] = np.unique(labels).tolist()
    if len(classes) < 2:
        raise DataError(f"{where} has a single class {classes[0]!r}; image classification "
                        "needs at least two classes: add images of another class")
    return classes


def _check_shape(size: Any, channels: Any) -> None:
    if not isinstance(size, int | np.integer) or size < 1:
        raise ConfigError(f"size must be a positive integer, got {size!r}")
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 (gray) or 3 (RGB), got {channels!r}")


# --- training data --------------------------------------------------------------------------


def load_training_images(
    source: Any,
    *,
    label_column: str = "label",
    path_column: str | None = None,
    max_side: int = 64,
) -> ImageSet:
    """Read labelled images and resize them all to one square cache size.

    Args:
        source: a folder with one sub-folder of images per class; an .npz file with arrays
            ``x`` (N, H, W[, C]) and ``y`` (N,), and optionally ``classes`` naming integer
            ``y``; a DataFrame with a column of image paths and ``label_column``; or a tuple
            ``(x, y)`` of arrays.
        label_column: the DataFrame column holding the labels.
        path_column: the DataFrame column holding image paths; found by itself when omitted.
        max_side: the largest cache size; the cache size is the images' median longer side,
            capped at this.

    Raises:
        DataError: the source is missing, empty, has one class, mismatched or malformed
            arrays, missing files, or no readable image. Unreadable files among readable ones
            are skipped with a warning instead.
    """
    if not isinstance(max_side, int) or max_side < 1:
        raise ConfigError(f"max_side must be a positive integer, got {max_side!r}")
    if isinstance(source, pd.DataFrame):
        return _load_frame(source, label_column, path_column, max_side)
    if isinstance(source, tuple) and len(source) == 2:
        return _load_arrays(source[0], source[1], max_side, None, "the data")
    if isinstance(source, str | os.PathLike):
        path = _existing(source)
        if path.is_dir():
            paths, labels = _scan_folder(path)
            return _load_files(paths, labels, max_side)
        if path.suffix.lower() == ".npz":
            x, y, names = _read_npz(path, need_y=True)
            return _load_arrays(x, y, max_side, names, str(path))
    raise DataError(
        f"cannot train on {source!r}: pass a folder with one sub-folder of images per class, "
        "an .npz file with arrays x and y, a DataFrame with image paths and labels, or a "
        "tuple (x, y) of arrays"
    )


def _scan_folder(root: Path) -> tuple[list[Path], list[str]]:
    """Image paths and their labels: the name of the class sub-folder each lies in."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = _image_files(root, recursive=False)
    if not folders:
        found = f" (it holds {len(loose)} images but no sub-folder)" if loose else ""
        raise DataError(
            f"folder {root} has no class sub-folders{found}; put each class's images in a "
            f"sub-folder named after the class, e.g. {root / 'cat' / '1.png'} and "
            f"{root / 'dog' / '2.png'}"
        )
    paths: list[Path] = []
    labels: list[str] = []
    for folder in folders:
        files = _image_files(folder)
        if not files:
            raise DataError(f"class folder {folder.name!r} has no images "
                            f"({', '.join(IMAGE_SUFFIXES)}); add images or remove the folder")
        paths += files
        labels += [folder.name] * len(files)
    if len(folders) == 1:
        raise DataError(f"folder {root} has a single class folder {folders[0].name!r}; image "
                        "classification needs at least two classes: add a folder per class")
    if loose:
        warnings.warn(f"ignored {len(loose)} images directly in {root} (they are in no class "
                      f"folder): {_shown([p.name for p in loose])}", UserWarning, stacklevel=3)
    return paths, labels


def _load_files(paths: list[Path], labels: Sequence[Any], max_side: int) -> ImageSet:
    """Decode labelled files at one size; unreadable ones are skipped with a warning."""
    probes, failures = _split([_attempt(_probe, path) for path in paths], _Probe)
    if not probes:
        raise _unreadable(paths, failures)
    size = _cache_size([probe.size for probe in probes.values()], max_side)
    colour = any(probe.mode not in GRAY_MODES for probe in probes.values())
    channels = 3 if colour else 1
    order = list(probes)
    results = _parallel(lambda i: _attempt(_decode, paths[i], size, channels), order)
    decoded, broken = _split(results, np.ndarray, order)
    failures.update(broken)
    if not decoded:
        raise _unreadable(paths, failures)
    kept = sorted(decoded)
    used = [probes[i] for i in kept]
    notes = _notes([p.mode for p in used], [p.size for p in used], size, channels)
    skipped = [str(paths[i]) for i in sorted(failures)]
    if skipped:
        message = f"skipped {len(skipped)} unreadable images: {_shown(skipped)}"
        warnings.warn(message + "; they are left out of training", UserWarning, stacklevel=3)
        notes.append(message)
    label_array = np.asarray([labels[i] for i in kept])
    return ImageSet(np.stack([decoded[i] for i in kept]), label_array,
                    _check_classes(label_array, "the readable data"),
                    [str(paths[i]) for i in kept], skipped, notes)


def _split(
    results: Sequence[Any], kind: type[_T], keys: Sequence[int] | None = None
) -> tuple[dict[int, _T], dict[int, str]]:
    """Results of :func:`_attempt` by key: those of ``kind``, and the failure reasons."""
    keys = range(len(results)) if keys is None else keys
    good = {k: r for k, r in zip(keys, results, strict=True) if isinstance(r, kind)}
    bad = {k: r for k, r in zip(keys, results, strict=True) if not isinstance(r, kind)}
    return good, bad


def _unreadable(paths: Sequence[Path], failures: dict[int, str]) -> DataError:
    first = min(failures)
    return DataError(f"none of the {len(paths)} image files could be read, e.g. "
                     f"{paths[first]} ({failures[first]}); check that they are images "
                     f"({', '.join(IMAGE_SUFFIXES)})")


def _cache_size(sizes: Sequence[tuple[int, int]], max_side: int) -> int:
    """The median longer side, capped: small images stay exact, big ones shrink to max_side."""
    median = float(np.median([max(width, height) for width, height in sizes]))
    return max(1, min(max_side, round(median)))


def _notes(modes: Sequence[str], sizes: Sequence[tuple[int, int]], size: int,
           channels: int) -> list[str]:
    """One sentence per conversion loading applied, with how many images it touched."""
    total = len(sizes)
    notes: list[str] = []
    other = sorted({s for s in sizes if s != (size, size)})
    if other:
        count = sum(s != (size, size) for s in sizes)
        examples = ", ".join(f"{w}x{h}" for w, h in other[:3]) + (" ..." if len(other) > 3 else "")
        notes.append(f"resized {count} of {total} images to {size}x{size} (they were "
                     f"{examples})")
    gray = sum(mode in GRAY_MODES for mode in modes)
    if channels == 3 and gray:
        notes.append(f"converted {gray} grayscale images to RGB, as the others are colour")
    for label, wanted in (("transparent", ALPHA_MODES), ("16-bit", WIDE_MODES)):
        count = sum(mode in wanted for mode in modes)
        action = "flattened onto white" if label == "transparent" else "reduced to 8 bits"
        if count:
            notes.append(f"{action}: {count} {label} images")
    return notes


def _load_arrays(x: Any, y: Any, max_side: int, names: np.ndarray | None,
                 where: str) -> ImageSet:
    """Arrays of same-sized images: resized only when bigger than ``max_side``."""
    images = _check_x(x)
    labels = _check_labels(images, y)
    if names is not None:
        labels = _name_labels(labels, names)
    n, height, width, depth = images.shape
    size = _cache_size([(width, height)], max_side)
    channels = 3 if depth >= 3 else 1
    notes = _notes([_ARRAY_MODES[depth]] * n, [(width, height)] * n, size, channels)
    return ImageSet(_conform(images, size, channels), labels, _check_classes(labels, where),
                    [f"row {i}" for i in range(n)], [], notes)


def _name_labels(y: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Integer labels replaced by their names from the archive's ``classes`` array."""
    names = np.asarray(names).ravel()
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= len(names):
        raise DataError(f"the archive names {len(names)} classes, so y must hold integers "
                        f"0..{len(names) - 1}; it holds {y.dtype} values such as {y[:3]}; "
                        "fix y or leave classes out")
    named: np.ndarray = names[y]
    return named


def _read_npz(path: Path, need_y: bool) -> tuple[np.ndarray, Any, np.ndarray | None]:
    """The arrays x, y (None when not needed) and classes (None when absent) of an archive."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files if key in ("x", "y", "classes")}
            keys = list(archive.files)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"cannot read {path} as an .npz archive ({error}); save it with "
                        "np.savez(path, x=images, y=labels)") from error
    for key in ("x", "y") if need_y else ("x",):
        if key not in arrays:
            raise DataError(f"{path} has no array {key!r}{close_matches(key, keys)} (it holds "
                            f"{keys}); save it with np.savez(path, x=images, y=labels)")
    return arrays["x"], arrays.get("y"), arrays.get("classes")


def _load_frame(frame: pd.DataFrame, label_column: str, path_column: str | None,
                max_side: int) -> ImageSet:
    """A DataFrame with one row per image: a path column and a label column."""
    if label_column not in frame.columns:
        names = [str(c) for c in frame.columns]
        raise DataError(f"label column {label_column!r} is not in the data"
                        f"{close_matches(label_column, names)}; columns are {names[:20]}; "
                        "pass label_column=")
    if frame.empty:
        raise DataError("the DataFrame has no rows; pass one row per image")
    column = path_column or _find_path_column(frame, exclude=label_column)
    paths = _frame_paths(frame, column)
    labels = frame[label_column]
    if labels.isna().any():
        raise DataError(f"{int(labels.isna().sum())} rows have no label in column "
                        f"{label_column!r}; label those images or drop the rows")
    return _load_files(paths, labels.tolist(), max_side)


def _holds_paths(series: pd.Series) -> bool:
    """Whether every value is a string naming an image file (by extension or on disk)."""
    values = series.dropna()
    if values.empty or series.dtype.kind in "biufcmM":
        return False
    if not all(isinstance(v, str | os.PathLike) for v in values):
        return False
    names = [Path(v) for v in values]
    return all(p.suffix.lower() in IMAGE_SUFFIXES for p in names) or all(
        p.is_file() for p in names)


def _find_path_column(frame: pd.DataFrame, exclude: str | None) -> Any:
    found = [c for c in frame.columns if c != exclude and _holds_paths(frame[c])]
    if len(found) == 1:
        return found[0]
    names = [str(c) for c in frame.columns]
    if not found:
        raise DataError(f"no column of the data holds image file paths (strings ending in "
                        f"{', '.join(IMAGE_SUFFIXES)}); columns are {names[:20]}; pass "
                        "path_column= naming the column of paths")
    raise DataError(f"several columns hold image paths: {[str(c) for c in found]}; pass "
                    "path_column= to choose one")


def _frame_paths(frame: pd.DataFrame, column: Any) -> list[Path]:
    """The column's paths; every one must be an existing file."""
    if column not in frame.columns:
        names = [str(c) for c in frame.columns]
        raise DataError(f"path column {column!r} is not in the data"
                        f"{close_matches(str(column), names)}; columns are {names[:20]}")
    values = frame[column]
    if values.isna().any():
        raise DataError(f"{int(values.isna().sum())} rows have no image path in column "
                        f"{column!r}; fill them or drop the rows")
    paths = [Path(v).expanduser() for v in values]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{len(missing)} image files named in column {column!r} do not "
                        f"exist: {_shown(missing)}; fix the paths (relative paths are read "
                        f"from {Path.cwd()})")
    return paths


# --- prediction data ------------------------------------------------------------------------


def load_prediction_images(
    source: Any, size: int, channels: int, path_column: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """Images to predict, as uint8 (N, size, size, channels), and where each came from.

    Args:
        source: a folder (images anywhere inside, sorted by path), an image file, a list of
            image paths, an .npz file with an array ``x``, an array (N, H, W[, C]), or a
            DataFrame with a column of image paths.
        size: the model's cache size.
        channels: 1 (gray) or 3 (RGB).
        path_column: the DataFrame column holding image paths; found by itself when omitted.

    Raises:
        DataError: the source is missing, empty, of an unknown kind, or an image cannot be
            read (rows must stay aligned with the input, so nothing is skipped).
    """
    _check_shape(size, channels)
    items, ids = _prediction_items(source, path_column)
    if isinstance(items, np.ndarray):
        return _conform(items, int(size), channels), ids
    pixels = _parallel(lambda path: _decode_or_raise(path, int(size), channels), items)
    return np.stack(pixels), ids


def prediction_ids(source: Any, path_column: str | None = None) -> list[str]:
    """The ids :func:`load_prediction_images` would return, without decoding any image."""
    return _prediction_items(source, path_column)[1]


def decode_image_bytes(data: bytes, size: int, channels: int) -> np.ndarray:
    """One encoded image (PNG, JPEG, ... as bytes, e.g. from an HTTP request) as uint8
    (size, size, channels), exactly as files are read; DataError when it is not an image."""
    _check_shape(size, channels)
    result = _attempt(_decode, io.BytesIO(data), int(size), channels)
    if isinstance(result, str):
        raise DataError(f"not a readable image ({' '.join(result.split())[:160]})")
    return result


def _decode_or_raise(path: Path, size: int, channels: int) -> np.ndarray:
    result = _attempt(_decode, path, size, channels)
    if isinstance(result, str):
        raise DataError(f"cannot read image {path} ({result}); replace the file or leave it out")
    return result


def _prediction_items(source: Any, path_column: str | None) -> tuple[Any, list[str]]:
    """Files to decode (or an array of images) and their ids."""
    if isinstance(source, pd.DataFrame):
        if source.empty:
            raise DataError("the DataFrame has no rows; pass one row per image")
        paths = _frame_paths(source, path_column or _find_path_column(source, exclude=None))
        return paths, [str(p) for p in paths]
    if isinstance(source, np.ndarray):
        images = _check_x(source)
        return images, [f"row {i}" for i in range(len(images))]
    if isinstance(source, str | os.PathLike):
        return _path_items(_existing(source))
    if isinstance(source, list | tuple) and all(isinstance(s, str | os.PathLike) for s in source):
        if not source:
            raise DataError("the list of image paths is empty; pass at least one path")
        paths = [_existing(s) for s in source]
        folders = [str(p) for p in paths if not p.is_file()]
        if folders:
            raise DataError(f"a list of paths must name image files, not folders: "
                            f"{_shown(folders)}; pass a folder on its own instead")
        return paths, [str(p) for p in paths]
    raise DataError(
        f"cannot read images from a {type(source).__name__}; pass a folder, an image file, a "
        "list of image paths, an .npz file with an array x, an array (N, height, width[, "
        "channels]) or a DataFrame with a column of image paths"
    )


def _path_items(path: Path) -> tuple[Any, list[str]]:
    if path.is_dir():
        files = _image_files(path)
        if not files:
            raise DataError(f"folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)}, "
                            "searched in sub-folders too); point at the folder of images")
        return files, [str(p) for p in files]
    if path.suffix.lower() == ".npz":
        images = _check_x(_read_npz(path, need_y=False)[0])
        return images, [f"row {i}" for i in range(len(images))]
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [path], [str(path)]
    raise DataError(f"{path} is neither an image ({', '.join(IMAGE_SUFFIXES)}), a folder of "
                    "images nor an .npz file with an array x")
