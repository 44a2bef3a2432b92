"""The "transfer" learner: fine-tune a local pretrained network with a new head.

``config["backbone"]`` (fixed by the engine, not searched) is a local path: an AccelML image
model directory (its cnn member is loaded) or a timm model folder (needs timm; nothing is
downloaded). Training reuses :func:`accelml.vision.train.train_network` with discriminative
learning rates: the backbone runs at ``backbone_lr_mult`` times the head's rate and is frozen
for the first ``freeze_epochs``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from torch import nn

from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import Config, Fidelity, FitFacts, Fitted, LearnerBase, register
from accelml.core.task import Task
from accelml.errors import ArtifactError, ConfigError, MissingDependencyError
from accelml.vision.constraints import check_constraints, split_constraints
from accelml.vision.learners.cnn import (
    CLASSIFICATION,
    CONFIG_FILE,
    WEIGHTS_FILE,
    base_info,
    epochs_of,
    full_proba,
    images_of,
    load_weights,
    min_look_epochs,
    present_classes,
    read_record,
    remap_valid,
    save_model,
)
from accelml.vision.network import build_network, count_params
from accelml.vision.space import training_space
from accelml.vision.train import net_channels, train_network

BACKBONE_HELP = ("--backbone must be an AccelML image model directory (from `accelml fit "
                 "images/`) or a timm model folder with config.json and model.safetensors; "
                 "nothing is downloaded")
TUNED = ("lr_scale", "weight_decay", "batch_size", "label_smoothing", "aug_strength", "flip")
DEFAULTS: dict[str, Any] = {"backbone": None, "resolution": None, "optimizer": "adamw",
                            "mixup": 0.0, "lr_scale": 1.0, "backbone_lr_mult": 0.1,
                            "freeze_epochs": 1, "weight_decay": 5e-4, "batch_size": 64,
                            "label_smoothing": 0.1, "aug_strength": 0.3, "flip": False}


def _bad_backbone(path: Any, why: str) -> ConfigError:
    return ConfigError(f"backbone {str(path)!r} {why}; {BACKBONE_HELP}")


def _member_dir(root: Path) -> Path:
    """The cnn member of an AccelML model directory (highest weight), else members/0."""
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError) as error:
        raise _bad_backbone(root, f"has an unreadable manifest.json ({error})") from error
    members = [m for m in manifest.get("members", []) if m.get("learner") == "cnn"]
    if members:
        best = max(members, key=lambda m: float(m.get("weight", 0.0)))
        return root / str(best.get("dir", "members/0"))
    return root / "members" / "0"


def _accelml_network(root: Path) -> dict[str, Any]:
    """The network record of an AccelML model directory's cnn member."""
    member = _member_dir(root)
    if not (member / CONFIG_FILE).is_file() or not (member / WEIGHTS_FILE).is_file():
        raise _bad_backbone(root, f"holds no cnn network in {member.relative_to(root)}")
    try:
        info = read_record(member, "cnn", None)["info"]
    except ArtifactError as error:
        raise _bad_backbone(root, f"is not usable ({error})") from error
    if info.get("constant"):
        raise _bad_backbone(root, "holds a constant model, no trained network")
    return {"kind": "accelml", "config": info["config"], "channels": info["channels"],
            "n_classes": len(info["classes"]), "weights": str(member)}


def backbone_record(path: Any) -> dict[str, Any]:
    """What a backbone path holds, as a JSON-ready record; a ConfigError when unusable."""
    if not path:
        raise ConfigError(f"the transfer learner needs config['backbone']; {BACKBONE_HELP}")
    root = Path(path).expanduser()
    if not root.exists():
        raise _bad_backbone(path, "does not exist")
    if not root.is_dir():
        raise _bad_backbone(path, "is a file, not a folder")
    if (root / "manifest.json").is_file():
        return _accelml_network(root)
    try:
        timm_config = json.loads((root / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        raise _bad_backbone(path, "has no manifest.json and no readable config.json") from None
    if "architecture" not in timm_config:
        raise _bad_backbone(path, "has a config.json without an 'architecture' key")
    return {"kind": "timm", "architecture": timm_config["architecture"],
            "channels": int(timm_config.get("num_channels", 3)),
            "resolution": _timm_resolution(timm_config), "weights": str(root)}


def _timm_resolution(timm_config: Mapping[str, Any]) -> int | None:
    size = timm_config.get("pretrained_cfg", {}).get("input_size")
    return int(size[-1]) if size else None


def _timm() -> Any:
    try:
        import timm
    except ImportError:
        raise MissingDependencyError(
            "a timm backbone needs the timm library: pip install timm") from None
    return timm


def _timm_weights(folder: Path) -> dict[str, torch.Tensor]:
    if (folder / WEIGHTS_FILE).is_file():
        from safetensors.torch import load_file

        return load_file(str(folder / WEIGHTS_FILE))
    if (folder / "pytorch_model.bin").is_file():
        state: dict[str, torch.Tensor] = torch.load(folder / "pytorch_model.bin",
                                                    map_location="cpu", weights_only=True)
        return state
    raise _bad_backbone(folder, "has neither model.safetensors nor pytorch_model.bin")


def build_from_record(record: Mapping[str, Any], n_classes: int) -> tuple[nn.Module, nn.Module]:
    """An untrained network of the backbone's architecture and its new head."""
    if record["kind"] == "accelml":
        net: nn.Module = build_network(record["config"], record["channels"], n_classes)
        return net, net.head  # type: ignore[return-value]
    model = _timm().create_model(record["architecture"], pretrained=False,
                                 num_classes=n_classes)
    return model, model.get_classifier()


def pretrained(record: Mapping[str, Any], n_classes: int) -> tuple[nn.Module, nn.Module]:
    """The backbone with its pretrained weights and a fresh head for ``n_classes``."""
    if record["kind"] == "accelml":
        old = build_network(record["config"], record["channels"], record["n_classes"])
        load_weights(old, Path(record["weights"])).cpu().train()
        old.head = nn.Linear(old.n_features, n_classes)
        old.num_classes = n_classes
        return old, old.head
    net, head = build_from_record(record, n_classes)
    own = net.state_dict()
    weights = {k: v for k, v in _timm_weights(Path(record["weights"])).items()
               if k in own and own[k].shape == v.shape}
    net.load_state_dict(weights, strict=False)
    return net, head


@register
class Transfer(LearnerBase):
    """Fine-tuning of a local pretrained network (AccelML or timm) with a new head."""

    name = "transfer"
    modality = "image"
    task_kinds = CLASSIFICATION
    uses_gpu = True
    relative_cost = 1.5
    fidelity = Fidelity("epochs", 1, 30)

    def min_fidelity(self, n_rows: int) -> int:
        """The fewest epochs worth a look on ``n_rows`` training images."""
        return min_look_epochs(n_rows)

    def space(self, task: Task, shape: DataShape) -> Mapping[str, BaseDistribution]:
        """Fine-tuning knobs; the backbone (and so the resolution) is fixed, not searched."""
        shared = training_space()
        space = {key: shared[key] for key in TUNED}
        space.update(backbone_lr_mult=FloatDistribution(0.01, 1.0, log=True),
                     freeze_epochs=IntDistribution(0, 3),
                     optimizer=CategoricalDistribution(("adamw", "sgd")))
        return space

    def portfolio(self, task: Task, shape: DataShape) -> list[Config]:
        """A gentle fine-tune, then a faster one with flips and a thawed backbone."""
        first = {k: DEFAULTS[k] for k in (*TUNED, "backbone_lr_mult", "freeze_epochs",
                                          "optimizer")}
        return [first, {**first, "lr_scale": 2.0, "backbone_lr_mult": 0.3, "freeze_epochs": 0,
                        "flip": True, "aug_strength": 0.5}]

    def resolve(self, config: Config, record: Mapping[str, Any], side: int) -> Config:
        """Defaults overlaid with ``config``; resolution from the backbone when it has one."""
        unknown = sorted(set(config) - set(DEFAULTS))
        if unknown:
            raise ConfigError(f"learner {self.name!r} got unknown hyperparameters {unknown}; "
                              f"known ones are {sorted(DEFAULTS)}")
        merged = {**DEFAULTS, **config}
        if record["kind"] == "accelml":
            merged["resolution"] = record["config"]["resolution"]
        elif merged["resolution"] is None:
            merged["resolution"] = record.get("resolution") or side
        return merged

    def fit(self, features: Features, y: np.ndarray, config: Config, *, task: Task,
            fidelity: int | None, deadline: Deadline, n_jobs: int, seed: int,
            valid: tuple[Features, np.ndarray] | None = None) -> Fitted:
        """Fine-tune for ``fidelity`` epochs (default 10), cut short cleanly at ``deadline``."""
        config, limits = split_constraints(config)
        record = backbone_record(config.get("backbone"))
        images = images_of(features)
        full = self.resolve(config, record, min(images.shape[1:3]))
        present = present_classes(y, task, self.name)
        info = {**base_info(self.name, task, present), "config": full, "network": record}
        if len(present) < 2:
            return Fitted(self.name, None, {**info, "constant": True, "epochs": 1})
        torch.manual_seed(seed)
        net, head = pretrained(record, len(present))
        info.update(check_constraints(net, net_channels(net), full["resolution"], limits,
                                      n_jobs))
        facts = train_network(net, images, np.searchsorted(present, y), full,
                              epochs=epochs_of(fidelity, self.name), deadline=deadline,
                              n_jobs=n_jobs, seed=seed, valid=remap_valid(valid, present),
                              head=head)
        return Fitted(self.name, net, {**info, **facts, "params": count_params(net)},
                      FitFacts(units_trained=facts["epochs_done"]))

    def predict(self, fitted: Fitted, features: Features) -> np.ndarray:
        """Class probabilities over all the task's classes."""
        return full_proba(fitted, features)

    def save(self, fitted: Fitted, directory: Path) -> list[Path]:
        """``model.safetensors`` + ``config.json`` (with the backbone's architecture)."""
        return save_model(fitted, directory, {"learner": self.name})

    def load(self, directory: Path, task: Task) -> Fitted:
        """Rebuild the architecture (timm needs timm installed, never a download)."""
        info = read_record(directory, self.name, task)["info"]
        if info.get("constant"):
            return Fitted(self.name, None, info)
        net, _ = build_from_record(info["network"], len(info["classes"]))
        return Fitted(self.name, load_weights(net, directory), info)

