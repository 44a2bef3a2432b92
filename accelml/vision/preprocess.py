"""Image preprocessing: images in any accepted form in, :class:`~accelml.core.data.Features` out.

Fitted on an :class:`~accelml.vision.data.ImageSet`, it remembers the cache size S, the number
of channels and the classes; at predict time every input is brought to exactly that shape by
the same pixel steps loading used, so a file predicts the same alone or in a batch. Rows are
flattened uint8 pixels with ``item_shape`` (S, S, C), which learners reshape back. The state is
plain JSON; no torch here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from accelml.core.data import Features
from accelml.errors import ArtifactError, DataError, NotFittedError
from accelml.vision.data import (
    IMAGE_SUFFIXES,
    ImageSet,
    load_prediction_images,
    load_training_images,
    prediction_ids,
)

FORMAT = "accelml.vision.preprocessor/1"
INPUTS = (
    "a folder of images (searched recursively, sorted by path)",
    "an image file",
    "a list of image file paths",
    "an .npz file with an array x (N, height, width[, channels])",
    "a uint8 array (N, height, width[, channels])",
    "a DataFrame with a column of image file paths",
)


class ImagePreprocessor:
    """Brings any accepted image input to the training images' size and channels.

    Args:
        path_column: the DataFrame column holding image paths at predict time; found by
            itself (the one column of image paths) when omitted.

    Attributes:
        notes: what loading and fitting decided that the user should know (resizing, colour
            conversion, skipped files), one sentence each.
        last_ids: where each row of the last :meth:`transform` came from (file path or
            ``"row i"``), for output that names its inputs.
        kind: the modality, under which :class:`~accelml.core.predictor.Predictor` finds
            :meth:`from_dict` again when it loads a saved model.
    """

    kind: str = "image"

    def __init__(self, path_column: str | None = None) -> None:
        self.path_column = path_column
        self.size: int | None = None
        self.channels: int | None = None
        self.classes: list[Any] = []
        self.notes: list[str] = []
        self.last_ids: list[str] = []

    def fit(self, image_set: ImageSet) -> ImagePreprocessor:
        """Record the cache size, channels and classes of the training images.

        Raises:
            DataError: ``image_set`` is not an ImageSet of (N, S, S, 1 or 3) uint8 images.
        """
        if not isinstance(image_set, ImageSet):
            raise DataError(f"fit expects the ImageSet that load_training_images(...) returns, "
                            f"got {type(image_set).__name__}")
        images = image_set.images
        if (images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != images.shape[2]
                or images.shape[3] not in (1, 3) or len(images) == 0):
            raise DataError(f"the ImageSet must hold uint8 images (N, S, S, 1 or 3); it holds "
                            f"{images.dtype} of shape {images.shape}")
        self.size, self.channels = int(images.shape[1]), int(images.shape[3])
        self.classes = list(image_set.classes)
        channel_word = "RGB" if self.channels == 3 else "grayscale"
        self.notes = [*image_set.notes,
                      f"images are {self.size}x{self.size} {channel_word} ({len(images)} for "
                      "training)"]
        return self

    def transform(self, data: Any) -> Features:
        """Flattened uint8 pixels, one row per image, in the order of the input.

        Args:
            data: anything :func:`~accelml.vision.data.load_prediction_images` accepts, or an
                ImageSet (e.g. the training set).

        Raises:
            NotFittedError: before :meth:`fit` or :meth:`from_dict`.
            DataError: the input cannot be read; its message names the file or the problem.
        """
        size, channels = self._shape()
        if isinstance(data, ImageSet):
            images, ids = load_prediction_images(data.images, size, channels)
            ids = list(data.ids)
        else:
            images, ids = load_prediction_images(data, size, channels, self.path_column)
        self.last_ids = ids
        return Features(images.reshape(len(images), -1), item_shape=(size, size, channels))

    def labelled(self, data: Any) -> tuple[Features, np.ndarray]:
        """Features and labels of an input that carries its labels (a folder of class
        sub-folders, an .npz with x and y, a tuple (x, y)), for ``evaluate``."""
        size, _ = self._shape()
        if not isinstance(data, ImageSet):
            data = load_training_images(data, path_column=self.path_column, max_side=size)
        return self.transform(data), np.asarray(data.labels)

    def fit_transform(self, image_set: ImageSet) -> Features:
        """Fit on the training images and flatten them."""
        return self.fit(image_set).transform(image_set)

    def row_ids(self, data: Any) -> list[str]:
        """Where each row :meth:`transform` makes of ``data`` comes from; decodes nothing."""
        if isinstance(data, ImageSet):
            return list(data.ids)
        return prediction_ids(data, self.path_column)

    def _shape(self) -> tuple[int, int]:
        if self.size is None or self.channels is None:
            raise NotFittedError("ImagePreprocessor is not fitted: call fit(image_set) first")
        return self.size, self.channels

    # --- state ---------------------------------------------------------------------------

    @property
    def schema(self) -> dict[str, Any]:
        """What the model takes: image size, channels, classes and the accepted inputs."""
        size, channels = self._shape()
        return {
            "size": size,
            "channels": channels,
            "row_shape": [size, size, channels],
            "classes": list(self.classes),
            "path_column": self.path_column,
            "inputs": list(INPUTS),
            "file_types": list(IMAGE_SUFFIXES),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state; :meth:`from_dict` restores an identical preprocessor."""
        size, channels = self._shape()
        return {
            "format": FORMAT,
            "size": size,
            "channels": channels,
            "classes": list(self.classes),
            "path_column": self.path_column,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImagePreprocessor:
        """Inverse of :meth:`to_dict`.

        Raises:
            ArtifactError: ``data`` was not written by :meth:`to_dict` of this format.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise ArtifactError(
                f"not a saved image preprocessor of format {FORMAT!r} (found {found!r}); "
                "save it with ImagePreprocessor.to_dict() or retrain the model"
            )
        try:
            new = cls(data["path_column"])
            size, channels = data["size"], data["channels"]
            if not isinstance(size, int) or size < 1 or channels not in (1, 3):
                raise ValueError(f"size {size!r} and channels {channels!r}")
            new.size, new.channels = size, int(channels)
            new.classes = list(data["classes"])
            new.notes = [str(note) for note in data["notes"]]
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"saved image preprocessor is damaged: {error!r}") from error
        return new
