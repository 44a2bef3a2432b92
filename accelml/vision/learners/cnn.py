"""The "cnn" learner: a network from the macro search space, trained from scratch.

The config IS the architecture (see :mod:`accelml.vision.space`), so the search samples
networks like any hyperparameters. Saved as ``model.safetensors`` plus ``config.json`` (the
resolved config and the training facts, normalization included): data only, no pickle.
The helpers here (class remapping, files) are shared with the transfer learner.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from optuna.distributions import BaseDistribution
from safetensors.torch import load_file, save_file
from torch import nn

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, Fidelity, FitFacts, Fitted, LearnerBase, register
from accelml.core.task import Task, TaskKind
from accelml.errors import ArtifactError, ConfigError, DataError
from accelml.vision.constraints import check_constraints, split_constraints
from accelml.vision.network import build_network, count_macs, count_params
from accelml.vision.space import (
    ImageShape,
    image_shape_from,
    image_space,
    resolutions,
    seed_architectures,
)
from accelml.vision.train import log_loss_of, pick_device, predict_proba, train_network

CLASSIFICATION = frozenset({TaskKind.BINARY, TaskKind.MULTICLASS})
DEFAULT_EPOCHS = 10
#: Successive halving's first look at a network trains at least this many optimizer steps
#: (at the usual batch of 128): on small data one epoch is a handful of steps and says little.
MIN_LOOK_STEPS = 100
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
#: A fresh successive-halving trial gives up (PRUNED) after its first steps when its time
#: limit fits less than this share of its rung's epochs: its score would compare with nothing.
REACH_SHARE = 0.75
#: The info keys that say how a network's input is prepared (kept with its weights).
PREPROCESSING_KEYS = ("mean", "std", "resolution", "channels", "input_shape")


def images_of(features: Features) -> np.ndarray:
    """The rows as uint8 NHWC images (a view when possible)."""
    height, width, channels = image_shape_from(features.X.shape[1], features.item_shape)
    X = features.X
    if X.dtype != np.uint8:
        X = np.clip(np.rint(X), 0, 255).astype(np.uint8)
    return X.reshape(len(X), height, width, channels)


def present_classes(y: np.ndarray, task: Task, learner: str) -> np.ndarray:
    """Class codes seen in training; codes outside the task are a DataError."""
    present = np.unique(y)
    if len(present) and (present[0] < 0 or present[-1] >= task.n_classes):
        raise DataError(
            f"learner {learner!r} got class codes {present[0]}..{present[-1]} for a task "
            f"with {task.n_classes} classes; encode targets with encode_target first"
        )
    return present.astype(np.int64)


def remap_valid(valid: tuple[Features, np.ndarray] | None,
                present: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Validation images and labels in training's class indices (unseen classes dropped)."""
    if valid is None:
        return None
    keep = np.isin(valid[1], present)
    return images_of(valid[0])[keep], np.searchsorted(present, valid[1][keep])


def full_proba(fitted: Fitted, features: Features) -> np.ndarray:
    """Probabilities over all of the task's classes; classes unseen in training get 0."""
    info = fitted.info
    out = np.zeros((len(features), info["n_classes"]), dtype=np.float64)
    if info.get("constant"):
        out[:, info["classes"]] = 1.0
        return out
    proba = predict_proba(fitted.model, images_of(features), info)
    out[:, info["classes"]] = proba
    out /= out.sum(axis=1, keepdims=True)
    return out


def save_model(fitted: Fitted, directory: Path, record: dict[str, Any]) -> list[Path]:
    """``config.json`` (``record`` + info) and, unless constant, ``model.safetensors``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CONFIG_FILE
    path.write_text(json.dumps({**record, "info": fitted.info}, indent=1, sort_keys=True))
    if fitted.model is None:
        return [path]
    weights = {k: v.detach().cpu().contiguous() for k, v in fitted.model.state_dict().items()}
    save_file(weights, str(directory / WEIGHTS_FILE))
    return [path, directory / WEIGHTS_FILE]


def read_record(directory: Path, learner: str, task: Task | None) -> dict[str, Any]:
    """The ``config.json`` of a saved model, checked to be ``learner``'s for ``task``."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ArtifactError(f"{path} is missing: {directory} is not a saved {learner!r} model")
    try:
        record: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ArtifactError(f"{path} is not readable JSON ({error})") from error
    kind = record.get("info", {}).get("kind")
    if record.get("learner") != learner or (task is not None and kind != task.kind.value):
        raise ArtifactError(f"{directory} holds a {record.get('learner')!r} model for a {kind} "
                            f"task, not a {learner!r} model")
    return record


def load_weights(net: nn.Module, directory: Path, strict: bool = True) -> nn.Module:
    """Load ``model.safetensors`` into ``net`` on the best device, as an ArtifactError."""
    path = Path(directory) / WEIGHTS_FILE
    try:
        net.load_state_dict(load_file(str(path)), strict=strict)
    except Exception as error:  # safetensors and torch raise their own types
        raise ArtifactError(f"the weights in {path} could not be read ({error}); the file is "
                            "missing, damaged or from another network") from error
    return net.to(pick_device()).eval()


def base_info(learner: str, task: Task, present: np.ndarray) -> dict[str, Any]:
    """The info every image learner records before training."""
    return {"learner": learner, "kind": task.kind.value, "n_classes": task.n_classes,
            "classes": [int(c) for c in present]}


@register
class CNN(LearnerBase):
    """A CNN whose architecture is searched (macro NAS) along with its training recipe."""

    name = "cnn"
    modality = "image"
    task_kinds = CLASSIFICATION
    uses_gpu = True
    relative_cost = 1.0
    fidelity = Fidelity("epochs", 1, 30)
    warm_start = True
    stops_out_of_reach = True

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """Architecture and training knobs for images of ``shape.item_shape``."""
        return image_space(shape.n_rows, image_shape_from(shape.n_features, shape.item_shape))

    def min_fidelity(self, n_rows: int) -> int:
        """The fewest epochs worth a look on ``n_rows`` training images."""
        return min_look_epochs(n_rows)

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        """Hand-designed networks (resolution only when the image shape is known), cheapest
        to train first when it is known: a model exists early, and the costlier seeds
        that follow are pruned when their first rung does not fit their time limit."""
        if not shape.item_shape:
            return seed_architectures()
        image = image_shape_from(0, shape.item_shape)
        seeds = seed_architectures(image)
        return sorted(seeds, key=lambda config: training_macs(config, image, task.n_classes))

    def resolve(self, config: Config, shape: ImageShape) -> Config:
        """Defaults overlaid with ``config``; unknown keys are refused, resolution filled in."""
        defaults = {**seed_architectures()[0], "resolution": None}
        unknown = sorted(set(config) - set(defaults))
        if unknown:
            raise ConfigError(f"learner {self.name!r} got unknown hyperparameters {unknown}; "
                              f"known ones are {sorted(defaults)}")
        merged = {**defaults, **config}
        if merged["resolution"] is None:
            merged["resolution"] = resolutions(shape)[-1]
        return merged

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None,
            init_from: Path | None = None, reach_fidelity: bool = False) -> Fitted:
        """Train until the weights have seen ``fidelity`` epochs (default 10), cut short
        cleanly at ``deadline``; continuing from the weights saved in ``init_from`` when they
        are of this network (a promotion or the final fit then trains only the rest, with a
        fresh warm-up and cosine schedule, a warm restart). With ``reach_fidelity``, raise
        FidelityOutOfReach after the first steps when the deadline fits under REACH_SHARE
        of the epochs."""
        images = images_of(features)
        shape: ImageShape = images.shape[1:]  # type: ignore[assignment]
        config, limits = split_constraints(config)
        full = self.resolve(config, shape)
        present = present_classes(y, task, self.name)
        info = {**base_info(self.name, task, present), "config": full}
        if len(present) < 2:
            return Fitted(self.name, None, {**info, "constant": True, "epochs": 1})
        torch.manual_seed(seed)  # the initial weights, before train_network seeds the rest
        net = build_network(full, shape[2], len(present))
        info.update(check_constraints(net, shape[2], full["resolution"],
                                      limits, n_jobs))
        parent = warm_start(net, Path(init_from), full, present) if init_from else None
        done = int(parent.get("epochs_done", 0)) if parent is not None else 0
        info["warm_start_epochs"] = done
        valid_images = remap_valid(valid, present)
        start = score_start(net, parent, valid_images)
        facts = train_network(net, images, np.searchsorted(present, y), full,
                              epochs=max(1, epochs_of(fidelity, self.name) - done),
                              deadline=deadline, n_jobs=n_jobs, seed=seed, valid=valid_images,
                              reach_share=REACH_SHARE if reach_fidelity else None)
        facts["epochs_done"] += done  # the epochs these weights have seen in all
        if start is not None and facts.get("valid_log_loss", math.inf) > start.log_loss:
            facts = restore_start(net, start, facts)
        return Fitted(self.name, net, {**info, **facts, "params": count_params(net)},
                      FitFacts(units_trained=facts["epochs_done"], warm_start_units=done))

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        """Class probabilities over all the task's classes."""
        return full_proba(fitted, features)

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        """``model.safetensors`` + ``config.json``."""
        return save_model(fitted, directory, {"learner": self.name})

    def load(self, directory: Path, task: Task) -> Fitted:
        """Rebuild the network from ``config.json`` and load its weights."""
        info = read_record(directory, self.name, task)["info"]
        if info.get("constant"):
            return Fitted(self.name, None, info)
        net = build_network(info["config"], info["channels"], len(info["classes"]))
        return Fitted(self.name, load_weights(net, directory), info)


def warm_start(net: nn.Module, directory: Path, config: Config, present: np.ndarray
               ) -> dict[str, Any] | None:
    """Load the weights a search trial saved for this very network; return that trial's info
    (its epochs, its preprocessing), or None, leaving ``net`` as initialised, when they are of
    another network."""
    try:
        info: dict[str, Any] = read_record(directory, CNN.name, None)["info"]
    except ArtifactError:
        return None
    if info.get("config") != dict(config) or info.get("classes") != present.tolist():
        return None
    load_weights(net, directory).train()
    return info


@dataclass(frozen=True)
class StartPoint:
    """The weights a continuation started from, with how well they did on the holdout."""

    log_loss: float
    accuracy: float
    state: dict[str, torch.Tensor]
    info: dict[str, Any]


def score_start(net: nn.Module, parent: dict[str, Any] | None,
                valid: tuple[np.ndarray, np.ndarray] | None) -> StartPoint | None:
    """Score the weights a continuation starts from on the holdout (None without a parent
    or holdout images). A continuation cut short restarts its learning rate at the peak and
    may end worse than it began (CIFAR-10 on a 2-core CPU: a promotion given 14 s of its
    planned 58 went from a log loss of 1.53 to 1.68); :func:`restore_start` then undoes it."""
    if parent is None or valid is None or not len(valid[0]):
        return None
    proba = predict_proba(net, valid[0], parent)
    net.train()
    state = {key: value.detach().clone() for key, value in net.state_dict().items()}
    return StartPoint(log_loss_of(proba, valid[1]),
                      float(np.mean(proba.argmax(axis=1) == valid[1])), state, parent)


def restore_start(net: nn.Module, start: StartPoint, facts: dict[str, Any]) -> dict[str, Any]:
    """Put the starting weights back, with the preprocessing they were trained with; the
    facts keep the training that was tried (its steps and seconds) and say it was undone."""
    net.load_state_dict(start.state)
    net.eval()
    kept = {key: start.info[key] for key in PREPROCESSING_KEYS if key in start.info}
    return {**facts, **kept, "epochs_done": int(start.info.get("epochs_done", 0)),
            "valid_log_loss": start.log_loss, "valid_accuracy": start.accuracy,
            "kept_start_weights": True}


def training_macs(config: Config, shape: ImageShape, n_classes: int) -> int:
    """Forward multiply-accumulates per image of the network ``config`` describes, at its
    resolution: what one image of one epoch costs, on any device."""
    full = CNN().resolve(dict(config), shape)
    net = build_network(full, shape[2], max(2, n_classes))
    return count_macs(net, shape[2], int(full["resolution"]))


def min_look_epochs(n_rows: int) -> int:
    """Epochs that make :data:`MIN_LOOK_STEPS` optimizer steps (at least 1)."""
    return max(1, math.ceil(MIN_LOOK_STEPS / max(1, n_rows // 128)))


def epochs_of(fidelity: int | None, learner: str) -> int:
    """Epochs to train: the fidelity, else the default."""
    epochs = DEFAULT_EPOCHS if fidelity is None else int(fidelity)
    if epochs < 1:
        raise ConfigError(f"learner {learner!r} got fidelity {epochs} epochs; it needs >= 1")
    return epochs
