"""Model directories: atomic writes, manifest checks, tampering refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelml.core.artifacts import FORMAT_VERSION, MANIFEST, read_manifest, write_model_dir
from accelml.errors import ArtifactError


def _writer(staging: Path) -> dict[str, object]:
    (staging / "model.txt").write_text("weights")
    (staging / "sub").mkdir()
    (staging / "sub" / "part.json").write_text("{}")
    return {"task": {"kind": "binary"}}


def test_manifest_lists_every_file_with_its_hash(tmp_path: Path) -> None:
    target = write_model_dir(tmp_path / "model", _writer)
    manifest = read_manifest(target)
    assert set(manifest["files"]) == {"model.txt", "sub/part.json"}
    assert manifest["format_version"] == FORMAT_VERSION
    assert "numpy" in manifest["libraries"] and manifest["task"] == {"kind": "binary"}


def test_a_changed_file_is_refused(tmp_path: Path) -> None:
    target = write_model_dir(tmp_path / "model", _writer)
    (target / "model.txt").write_text("tampered")
    with pytest.raises(ArtifactError, match="'model.txt' was changed after the model was saved"):
        read_manifest(target)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    target = write_model_dir(tmp_path / "model", _writer)
    (target / "sub" / "part.json").unlink()
    with pytest.raises(ArtifactError, match="'sub/part.json' listed in the manifest is missing"):
        read_manifest(target)


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    target = write_model_dir(tmp_path / "model", _writer)
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (target / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="saved by a newer AccelML"):
        read_manifest(target)


def test_not_a_model_directory(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        read_manifest(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ArtifactError, match="is not an AccelML model directory"):
        read_manifest(tmp_path / "plain")


def test_a_failed_write_leaves_nothing_and_keeps_the_old_model(tmp_path: Path) -> None:
    target = write_model_dir(tmp_path / "model", _writer)

    def broken(staging: Path) -> dict[str, object]:
        (staging / "half.txt").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_model_dir(target, broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert read_manifest(target)["task"] == {"kind": "binary"}


def test_refuses_to_overwrite_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("mine")
    with pytest.raises(ArtifactError, match="not an AccelML model directory; choose another"):
        write_model_dir(tmp_path / "docs", _writer)
    assert (tmp_path / "docs" / "notes.txt").read_text() == "mine"
