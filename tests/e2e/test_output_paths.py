"""Every output path of the CLI is checked before the work starts: a user's folder is never
replaced, an unwritable place is one ``error:`` line with exit 2, not a traceback after the
budget is spent."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accelml.cli import app

runner = CliRunner()
FAST = ["--time-budget", "10", "--learners", "linear", "--max-trials", "3", "--quiet"]


def _fit(train: Path, out: str, *extra: str) -> tuple[int, str, float]:
    started = time.monotonic()
    result = runner.invoke(app, ["fit", str(train), "--target", "diagnosis", "--out", out,
                                 *FAST, *extra])
    return result.exit_code, result.output, time.monotonic() - started


def test_fit_never_replaces_a_users_folder(cancer_files: tuple[Path, Path],
                                           tmp_path: Path) -> None:
    train, _ = cancer_files
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    for extra in ([], ["--overwrite"]):
        code, output, _ = _fit(train, str(out), *extra)
        assert code == 2, output
        assert "error:" in output and "was not made by AccelML" in output
        assert "Traceback" not in output
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]  # no run store either
    assert (out / "keep.txt").read_text() == "precious"


def test_fit_into_the_working_folder_is_refused_before_the_budget(
        cancer_files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, _ = cancer_files
    (tmp_path / "notes.md").write_text("mine")
    monkeypatch.chdir(tmp_path)
    code, output, _ = _fit(train, ".")
    assert code == 2 and "was not made by AccelML" in output, output
    assert sorted(os.listdir(tmp_path)) == ["notes.md"]


def test_an_earlier_model_is_replaced_only_with_overwrite(cancer_files: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    train, _ = cancer_files
    out = tmp_path / "model"
    code, output, _ = _fit(train, str(out))
    assert code == 0, output
    first = (out / "manifest.json").read_text()
    code, output, _ = _fit(train, str(out))
    assert code == 2 and "holds an AccelML model already; pass --overwrite" in output
    assert (out / "manifest.json").read_text() == first
    code, output, _ = _fit(train, str(out), "--overwrite", "--seed", "1")
    assert code == 0, output
    assert (out / "manifest.json").read_text() != first


@pytest.mark.parametrize("out", ["/proc/accelml-model", "{file}"])
def test_fit_into_an_unwritable_place_or_a_file_is_refused(
        cancer_files: tuple[Path, Path], tmp_path: Path, out: str) -> None:
    train, _ = cancer_files
    a_file = tmp_path / "model"
    a_file.write_text("not a folder")
    code, output, _ = _fit(train, out.format(file=a_file))
    assert code == 2, output
    assert ("cannot write /proc/accelml-model" in output
            or "exists and is a file" in output), output
    assert "Traceback" not in output
    assert a_file.read_text() == "not a folder"


@pytest.fixture(scope="module")
def saved_model(cancer_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
                ) -> Path:
    train, _ = cancer_files
    out = tmp_path_factory.mktemp("outputs") / "model"
    code, output, _ = _fit(train, str(out))
    assert code == 0, output
    return out


@pytest.mark.parametrize("command", ["predict", "export"])
def test_predict_and_export_check_their_output_first(
        saved_model: Path, cancer_files: tuple[Path, Path], tmp_path: Path, command: str
) -> None:
    _, test = cancer_files
    data = [str(test)] if command == "predict" else []
    for output, message in ((tmp_path, "is a folder; pass a file path"),
                            (Path("/proc/out.csv"), "cannot write /proc/out.csv")):
        result = runner.invoke(app, [command, str(saved_model), *data, "-o", str(output)])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
