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
    with pytest.raises(ArtifactError, match=r"files AccelML did not write \(notes.txt\)"):
        write_model_dir(tmp_path / "docs", _writer)
    assert (tmp_path / "docs" / "notes.txt").read_text() == "mine"


def _tamper(target: Path, change: dict[str, object]) -> None:
    manifest = json.loads((target / MANIFEST).read_text())
    manifest.update(change)
    (target / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "sub/../../outside.txt",
                                  "./model.txt", "sub//part.json", "sub\\part.json"])
def test_a_path_outside_the_directory_is_refused_before_it_is_read(
        tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write_model_dir(tmp_path / "model", _writer)
    (tmp_path / "outside.txt").write_text("secret")
    _tamper(target, {"files": {name: "0" * 64}})
    opened: list[Path] = []
    monkeypatch.setattr("accelml.core.artifacts.sha256_file",
                        lambda path: opened.append(path) or "0" * 64)
    with pytest.raises(ArtifactError, match="not a plain relative path inside the model"):
        read_manifest(target)
    assert opened == []  # no outside file was hashed: no existence or content oracle


def test_a_member_dir_outside_the_directory_is_refused(tmp_path: Path) -> None:
    target = write_model_dir(tmp_path / "model", _writer)
    _tamper(target, {"members": [{"learner": "linear", "config": {}, "weight": 1.0,
                                  "dir": "../elsewhere"}]})
    with pytest.raises(ArtifactError, match="'../elsewhere', which is not a plain relative"):
        read_manifest(target)


@pytest.mark.parametrize("link_to", ["file", "folder"])
def test_a_symbolic_link_inside_the_directory_is_refused(tmp_path: Path, link_to: str) -> None:
    target = write_model_dir(tmp_path / "model", _writer)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "part.json").write_text("{}")
    if link_to == "file":
        (target / "sub" / "part.json").unlink()
        (target / "sub" / "part.json").symlink_to(outside / "part.json")
        link = "sub/part.json"
    else:
        (target / "sub" / "part.json").unlink()
        (target / "sub").rmdir()
        (target / "sub").symlink_to(outside)
        link = "sub"
    with pytest.raises(ArtifactError, match=f"'{link}' is a symbolic link"):
        read_manifest(target)


@pytest.mark.parametrize("change, problem", [
    ({"files": ["model.txt"]}, "'files' must map relative paths"),
    ({"files": {"model.txt": 5}}, "'files' must map relative paths"),
    ({"members": {"learner": "linear"}}, "'members' must be a list"),
    ({"members": [{"learner": "linear", "dir": "sub"}]}, "member 0 needs a learner name"),
    ({"members": [{"learner": 3, "dir": "sub", "weight": 1}]}, "member 0 needs"),
    ({"members": [{"learner": "x", "dir": "sub", "weight": "1"}]}, "member 0 needs"),
    ({"task": "binary"}, "'task' must be an object"),
    ({"schema": "age"}, "'schema' must be a list of columns"),
])
def test_a_malformed_manifest_is_an_artifact_error(tmp_path: Path, change: dict[str, object],
                                                   problem: str) -> None:
    target = write_model_dir(tmp_path / "model", _writer)
    _tamper(target, change)
    with pytest.raises(ArtifactError, match=f"is malformed \\({problem}"):
        read_manifest(target)


def test_a_manifest_that_is_not_an_object_is_an_artifact_error(tmp_path: Path) -> None:
    target = write_model_dir(tmp_path / "model", _writer)
    (target / MANIFEST).write_text("[1, 2]")
    with pytest.raises(ArtifactError, match="is unreadable or incomplete"):
        read_manifest(target)
