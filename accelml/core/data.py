"""Numeric views of a dataset as learners eat them, plus the fixed validation splits.

Preprocessing (per modality) produces :class:`Features`; the engine adds encoded targets and
split indices to get a :class:`DatasetView`, which it writes once to disk so worker processes
(and later Ray workers) read it without pickling it per trial.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from accelml.core.task import Task

Split = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class DataShape:
    """What a learner's search space and portfolio may depend on, the same for every
    modality: a table learner reads the counts, an image learner also (H, W, C).

    Attributes:
        n_rows: training rows (0: not known, e.g. a learner's defaults asked for without data).
        n_features: columns of the feature matrix (0: not known).
        item_shape: the shape of one input before flattening (:attr:`Features.item_shape`);
            empty for table rows.
        blocks: the names of the data's further feature blocks (:attr:`Features.blocks`),
            e.g. whether sentence embeddings were computed.
        entities: (users, items) of a ranking task's interactions; empty otherwise.
    """

    n_rows: int
    n_features: int
    item_shape: tuple[int, ...] = ()
    blocks: tuple[str, ...] = ()
    entities: tuple[int, ...] = ()

    @classmethod
    def of(cls, features: Features) -> DataShape:
        """The shape of ``features``."""
        facts = features.block_info.get("interactions", {})
        entities = (int(facts["n_users"]), int(facts["n_items"])) if facts else ()
        return cls(len(features), int(features.X.shape[1]), tuple(features.item_shape),
                   tuple(sorted(features.blocks)), entities)


#: The shape to ask for when there is no data at hand (a learner's default config).
NO_DATA = DataShape(0, 0)


@dataclass(frozen=True)
class Features:
    """A matrix of rows plus what its columns hold.

    Attributes:
        X: rows x columns. Tabular: float64, NaN marks a missing value. Images: uint8 pixels,
            each row one image flattened from ``item_shape``.
        categorical: indices of columns holding category codes 0..k-1.
        cardinalities: number of codes of each categorical column, in the same order.
        names: column names, for explanations and error messages.
        item_shape: the shape of one input before it was flattened into a row, e.g. (height,
            width, channels) for an image; empty for a table row, which is flat already.
        blocks: further row-aligned matrices a modality computes once for every trial, by
            name: a scipy.sparse CSR matrix (text n-gram counts), a float array (sentence
            embeddings) or a 1-d array of str (the raw texts a network tokenizes). A
            mapping may compute a block when it is first asked for (a preprocessor at
            predict time computes only what the served members read).
        block_info: JSON-ready facts about a block's columns, by block name (e.g. where the
            columns of each n-gram order end).
        side: matrices that are not row-aligned and every subset of rows shares, by name
            (a ranking task's item and user side features, one row per item or user code).
    """

    X: np.ndarray
    categorical: tuple[int, ...] = ()
    cardinalities: tuple[int, ...] = ()
    names: tuple[str, ...] = ()
    item_shape: tuple[int, ...] = ()
    blocks: Mapping[str, Any] = field(default_factory=dict)
    block_info: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    side: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def take(self, rows: np.ndarray) -> Features:
        """The same columns for a subset of rows."""
        return Features(self.X[rows], self.categorical, self.cardinalities, self.names,
                        self.item_shape, {name: block[rows] for name, block in
                                          self.blocks.items()}, self.block_info, self.side)

    def layout(self) -> dict[str, Any]:
        """Everything but the matrices, JSON-ready."""
        return {
            "categorical": list(self.categorical),
            "cardinalities": list(self.cardinalities),
            "names": list(self.names),
            "item_shape": list(self.item_shape),
            "blocks": sorted(self.blocks),
            "block_info": dict(self.block_info),
            "side": sorted(self.side),
        }


def save_block(block: Any, directory: Path, name: str) -> None:
    """Write one feature block: sparse as .npz, text as JSON, numbers as .npy."""
    if hasattr(block, "tocsr"):
        from scipy import sparse

        sparse.save_npz(directory / f"block_{name}.npz", block.tocsr(), compressed=False)
    elif block.dtype == object or block.dtype.kind == "U":
        (directory / f"block_{name}.json").write_text(json.dumps([str(t) for t in block]))
    else:
        np.save(directory / f"block_{name}.npy", block)


def load_block(directory: Path, name: str) -> Any:
    """Read a block :func:`save_block` wrote (dense numbers memory-mapped)."""
    if (directory / f"block_{name}.npz").is_file():
        from scipy import sparse

        return sparse.load_npz(directory / f"block_{name}.npz").tocsr()
    if (directory / f"block_{name}.json").is_file():
        texts = json.loads((directory / f"block_{name}.json").read_text())
        out = np.empty(len(texts), dtype=object)
        out[:] = texts
        return out
    return np.load(directory / f"block_{name}.npy", mmap_mode="r")


@dataclass(frozen=True)
class DatasetView:
    """Validated features, encoded targets and the split every trial shares."""

    features: Features
    y: np.ndarray
    task: Task
    splits: tuple[Split, ...]

    def save(self, directory: Path) -> None:
        """Write the view as .npy files plus a JSON description."""
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "X.npy", self.features.X)
        np.save(directory / "y.npy", self.y)
        for name, block in self.features.blocks.items():
            save_block(block, directory, name)
        for name, table in self.features.side.items():
            np.save(directory / f"side_{name}.npy", table)
        for i, (train, valid) in enumerate(self.splits):
            np.save(directory / f"split{i}_train.npy", train)
            np.save(directory / f"split{i}_valid.npy", valid)
        description = {
            "features": self.features.layout(),
            "task": self.task.to_dict(),
            "n_splits": len(self.splits),
        }
        (directory / "view.json").write_text(json.dumps(description))

    @classmethod
    def load(cls, directory: Path) -> DatasetView:
        """Read a view written by :meth:`save`; the big arrays are memory-mapped."""
        description = json.loads((directory / "view.json").read_text())
        layout = description["features"]
        features = Features(
            np.load(directory / "X.npy", mmap_mode="r"),
            tuple(layout["categorical"]),
            tuple(layout["cardinalities"]),
            tuple(layout["names"]),
            tuple(layout.get("item_shape", ())),
            {name: load_block(directory, name) for name in layout.get("blocks", [])},
            layout.get("block_info", {}),
            {name: np.load(directory / f"side_{name}.npy") for name in layout.get("side", [])},
        )
        splits = tuple(
            (np.load(directory / f"split{i}_train.npy"),
             np.load(directory / f"split{i}_valid.npy"))
            for i in range(description["n_splits"])
        )
        return cls(features, np.load(directory / "y.npy"), Task.from_dict(description["task"]),
                   splits)
