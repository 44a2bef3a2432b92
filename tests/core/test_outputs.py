"""Output paths are checked before any work starts; nothing of the user's is ever replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelml.core.artifacts import foreign_entries, write_model_dir
from accelml.core.outputs import check_model_output, check_output_file
from accelml.errors import ArtifactError, ConfigError


def _writer(staging: Path) -> dict[str, object]:
    (staging / "weights.json").write_text("{}")
    return {"task": {"kind": "binary"}}


def test_a_new_or_empty_folder_is_accepted(tmp_path: Path) -> None:
    check_model_output(tmp_path / "new" / "model")
    (tmp_path / "empty").mkdir()
    check_model_output(tmp_path / "empty")
    assert not (tmp_path / "new").exists()  # the check writes nothing


def test_a_users_folder_is_refused_even_with_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match=r"out exists, is not empty and was not made by "
                                              r"AccelML.*nothing was written"):
            check_model_output(out, overwrite)
    assert (out / "keep.txt").read_text() == "precious"


def test_a_users_folder_named_run_is_not_taken_for_a_run_store(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "run").mkdir(parents=True)
    (out / "run" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="was not made by AccelML"):
        check_model_output(out, overwrite=True)
    with pytest.raises(ArtifactError, match=r"files AccelML did not write \(run\)"):
        write_model_dir(out, _writer)
    assert (out / "run" / "notes.txt").read_text() == "mine"


def test_an_earlier_model_needs_overwrite(tmp_path: Path) -> None:
    model = write_model_dir(tmp_path / "model", _writer)
    with pytest.raises(ConfigError, match=r"holds an AccelML model already; pass --overwrite"):
        check_model_output(model)
    check_model_output(model, overwrite=True)


def test_a_model_folder_with_a_users_file_is_never_replaced(tmp_path: Path) -> None:
    model = write_model_dir(tmp_path / "model", _writer)
    (model / "notes.txt").write_text("mine")
    assert foreign_entries(model) == ["notes.txt"]
    with pytest.raises(ConfigError, match=r"files it did not write \(notes.txt\)"):
        check_model_output(model, overwrite=True)
    with pytest.raises(ArtifactError, match=r"did not write \(notes.txt\)"):
        write_model_dir(model, _writer)
    assert (model / "notes.txt").read_text() == "mine"


def test_a_file_where_a_folder_is_meant_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model"
    path.write_text("a file")
    with pytest.raises(ConfigError, match="exists and is a file; pass a directory path"):
        check_model_output(path)
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        check_output_file(path / "predictions.csv")
    assert path.read_text() == "a file"


def test_unwritable_places_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot write /proc/accelml.*not writable"):
        check_model_output("/proc/accelml")
    with pytest.raises(ConfigError, match=r"cannot write /proc/predictions.csv"):
        check_output_file("/proc/predictions.csv")


def test_an_output_file_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is a folder; pass a file path"):
        check_output_file(tmp_path)
    check_output_file(tmp_path / "new" / "predictions.csv")
