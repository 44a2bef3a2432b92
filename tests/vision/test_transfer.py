"""The transfer learner: fine-tuning from a local AccelML model directory; bad backbones
(its conformance: tests/test_learners.py, for every registered learner)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from accelml.core.budget import Deadline
from accelml.core.task import Task, TaskKind
from accelml.errors import ConfigError, MissingDependencyError
from accelml.vision.learners.cnn import CNN
from accelml.vision.learners.transfer import Transfer
from accelml.vision.space import seed_architectures
from tests.vision._digits import MULTICLASS, SHAPE, features, labels

#: Digits 0-4 pretrain the backbone; digits 5-9 (relabelled 0-4) are the new task.
NEW_TASK = Task(TaskKind.MULTICLASS, "digit", "log_loss", (5, 6, 7, 8, 9))


@pytest.fixture(scope="module")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AccelML-style model directory: manifest.json plus members/0 from the cnn learner."""
    rows = np.flatnonzero(labels(slice(None)) < 5)[:600]
    fitted = CNN().fit(features(rows), labels(rows), seed_architectures(SHAPE)[0],
                       task=MULTICLASS, fidelity=3, deadline=Deadline.never(), n_jobs=2, seed=0)
    root = tmp_path_factory.mktemp("backbone")
    CNN().save(fitted, root / "members" / "0")
    manifest = {"format_version": 1, "modality": "image",
                "members": [{"learner": "cnn", "weight": 1.0, "dir": "members/0"}]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _new_task_rows(n: int, offset: int = 0) -> np.ndarray:
    return np.flatnonzero(labels(slice(None)) >= 5)[offset:offset + n]


def _fit(config: dict, rows: np.ndarray, fidelity: int = 1):  # noqa: ANN202
    return Transfer().fit(features(rows), labels(rows) - 5, config, task=NEW_TASK,
                          fidelity=fidelity, deadline=Deadline.never(), n_jobs=2, seed=0)


def test_fine_tuning_learns_new_classes(backbone: Path) -> None:
    train, test = _new_task_rows(400), _new_task_rows(300, offset=400)
    fitted = _fit({"backbone": str(backbone)}, train, fidelity=8)
    accuracy = np.mean(Transfer().predict(fitted, features(test)).argmax(axis=1)
                       == labels(test) - 5)
    assert accuracy > 0.8, accuracy
    assert fitted.info["network"]["kind"] == "accelml" and fitted.info["resolution"] == 8


def test_a_missing_backbone_key_says_what_to_supply() -> None:
    with pytest.raises(ConfigError, match=r"needs config\['backbone'\].*AccelML image model"):
        _fit({}, _new_task_rows(50))


def test_bad_backbone_paths_are_config_errors(tmp_path: Path) -> None:
    plain = tmp_path / "weights.bin"
    plain.write_bytes(b"x")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = {tmp_path / "absent": "does not exist", plain: "is a file, not a folder",
             empty: "no manifest.json and no readable config.json"}
    for path, message in cases.items():
        with pytest.raises(ConfigError, match=f"{message}.*nothing is downloaded"):
            _fit({"backbone": str(path)}, _new_task_rows(50))


def test_a_manifest_without_a_network_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"members": []}))
    with pytest.raises(ConfigError, match=r"holds no cnn network in members/0"):
        _fit({"backbone": str(tmp_path)}, _new_task_rows(50))


def test_a_timm_folder_needs_timm(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    try:
        import timm  # noqa: F401
        pytest.skip("timm is installed")
    except ImportError:
        pass
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "resnet18"}))
    with pytest.raises(MissingDependencyError, match="pip install timm"):
        _fit({"backbone": str(tmp_path)}, _new_task_rows(50))
