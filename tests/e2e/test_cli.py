"""The accelml command line end to end, and every bad input it handles (message + exit code)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import accelml
from accelml.cli import app
from tests.conftest import cancer_frame

runner = CliRunner()
FAST = ["--time-budget", "10", "--learners", "lightgbm,linear", "--quiet"]


@pytest.fixture(scope="module")
def model_dir(cancer_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    train, _ = cancer_files
    out = tmp_path_factory.mktemp("cli") / "model"
    result = runner.invoke(app, ["fit", str(train), "--target", "diagnosis", "--out", str(out),
                                 *FAST])
    assert result.exit_code == 0, result.output
    assert "model saved to" in result.output
    return out


def test_leaderboard_evaluate_predict(model_dir: Path, cancer_files: tuple[Path, Path],
                                      tmp_path: Path) -> None:
    _, test = cancer_files
    board = runner.invoke(app, ["leaderboard", str(model_dir), "--json"])
    assert board.exit_code == 0, board.output
    rows = json.loads(board.output)
    assert rows[0]["rank"] == 1 and rows[0]["status"] == "ok"
    assert {row["learner"] for row in rows} <= {"lightgbm", "linear"}

    scores = runner.invoke(app, ["evaluate", str(model_dir), str(test), "--json"])
    assert scores.exit_code == 0, scores.output
    assert json.loads(scores.output)["roc_auc"] > 0.95

    output = tmp_path / "predictions.csv"
    done = runner.invoke(app, ["predict", str(model_dir), str(test), "-o", str(output)])
    assert done.exit_code == 0, done.output
    predicted = pd.read_csv(output)
    assert set(predicted["prediction"]) <= {"benign", "malignant"}
    assert (predicted["proba_benign"] + predicted["proba_malignant"]).round(6).eq(1).all()
    assert len(predicted) == len(pd.read_parquet(test))


def test_export_a_tabular_model_to_onnx(model_dir: Path, cancer_files: tuple[Path, Path],
                                        tmp_path: Path) -> None:
    pytest.importorskip("onnxmltools")
    _, test = cancer_files
    for extra in (["--check-data", str(test)], []):
        output = tmp_path / "model.onnx"
        done = runner.invoke(app, ["export", str(model_dir), "-o", str(output), *extra])
        assert done.exit_code == 0, done.output
        assert "largest difference from the native model" in done.output
        assert output.stat().st_size > 1000
        output.unlink()
    _fails(["export", str(model_dir), "--format", "pmml"], "unknown export format 'pmml'")


def test_a_fresh_process_loads_and_predicts(model_dir: Path, cancer_files: tuple[Path, Path],
                                           tmp_path: Path) -> None:
    _, test = cancer_files
    output = tmp_path / "fresh.csv"
    done = subprocess.run([sys.executable, "-m", "accelml.cli", "predict", str(model_dir),
                           str(test), "-o", str(output)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(output)) == len(pd.read_parquet(test))


@pytest.mark.parametrize(("source_suffix", "output_suffix"), [(".csv", ".parquet"),
                                                            (".parquet", ".csv")])
def test_predict_streams_in_batches(model_dir: Path, tmp_path: Path, source_suffix: str,
                                    output_suffix: str) -> None:
    frame = cancer_frame().drop(columns=["diagnosis"])
    frame.loc[frame.index[300:], "mean_radius"] = np.nan  # later chunks: other inferred types
    source = tmp_path / f"rows{source_suffix}"
    if source_suffix == ".csv":
        frame.to_csv(source, index=False)
    else:
        frame.to_parquet(source, index=False, row_group_size=100)
    output = tmp_path / f"out{output_suffix}"
    done = runner.invoke(app, ["predict", str(model_dir), str(source), "-o", str(output),
                               "--batch-size", "64"])
    assert done.exit_code == 0, done.output
    assert f"wrote {len(frame)} predictions" in done.output
    streamed = pd.read_parquet(output) if output_suffix == ".parquet" else pd.read_csv(output)
    whole = accelml.load(model_dir).predict_proba(frame)
    assert len(streamed) == len(frame)
    assert np.abs(streamed["proba_benign"].to_numpy() - whole["benign"].to_numpy()).max() < 1e-9
    assert list(streamed.columns[:len(frame.columns)]) == list(frame.columns)


def test_a_bad_chunk_leaves_no_output(model_dir: Path, tmp_path: Path) -> None:
    frame = cancer_frame().drop(columns=["diagnosis"]).astype({"mean_area": object})
    frame.loc[frame.index[500], "mean_area"] = "large"  # the 8th chunk of 64 rows fails
    source = tmp_path / "rows.csv"
    frame.to_csv(source, index=False)
    output = tmp_path / "out.csv"
    _fails(["predict", str(model_dir), str(source), "-o", str(output), "--batch-size", "64"],
           "column 'mean_area' should be numeric but holds 'large'")
    assert not output.exists() and list(tmp_path.iterdir()) == [source]
    _fails(["predict", str(model_dir), str(source), "--batch-size", "0"],
           "batch size must be >= 1")


def _fails(args: list[str], message: str, code: int = 2) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    return result.output


def test_missing_file(tmp_path: Path) -> None:
    _fails(["fit", str(tmp_path / "nope.csv"), "-t", "y", "-o", str(tmp_path / "m"), *FAST],
           "does not exist")
    assert not (tmp_path / "m").exists()


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _fails(["fit", str(empty), "-t", "y", *FAST], "is empty (0 bytes)")
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,y\n")
    _fails(["fit", str(header_only), "-t", "y", *FAST], "has no rows")
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"\x00\x01 not parquet at all")
    _fails(["fit", str(garbage), "-t", "y", *FAST], "cannot read")


def test_target_absent_lists_close_matches(cancer_files: tuple[Path, Path]) -> None:
    train, _ = cancer_files
    _fails(["fit", str(train), "-t", "diagnosys", *FAST],
           "target column 'diagnosys' is not in the data (did you mean 'diagnosis'?)")


def test_single_class_target(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    pd.DataFrame({"x": range(30), "z": [1.5] * 15 + [2.5] * 15, "y": ["a"] * 30}).to_csv(
        path, index=False)
    _fails(["fit", str(path), "-t", "y", "--task", "binary", *FAST], "has a single class")


def test_a_class_with_one_row(tmp_path: Path) -> None:
    path = tmp_path / "rare.csv"
    labels = ["a"] * 20 + ["b"] * 19 + ["c"]
    pd.DataFrame({"x": [float(i % 7) for i in range(40)], "y": labels}).to_csv(path, index=False)
    _fails(["fit", str(path), "-t", "y", *FAST], "class 'c' of target 'y' has only 1 row")


def test_non_positive_budget(cancer_files: tuple[Path, Path]) -> None:
    train, _ = cancer_files
    _fails(["fit", str(train), "-t", "diagnosis", "--time-budget", "0"],
           "time_budget must be a number of seconds > 0")


def test_repeats_below_one(cancer_files: tuple[Path, Path], tmp_path: Path) -> None:
    train, _ = cancer_files
    _fails(["fit", str(train), "-t", "diagnosis", "--cv-repeats", "0", "-o",
            str(tmp_path / "m"), *FAST], "cv_repeats must be >= 1, got 0")
    assert not (tmp_path / "m").exists()


def test_predict_data_missing_a_column(model_dir: Path, cancer_files: tuple[Path, Path],
                                       tmp_path: Path) -> None:
    _, test = cancer_files
    broken = tmp_path / "broken.csv"
    pd.read_parquet(test).drop(columns=["mean_area"]).to_csv(broken, index=False)
    output = tmp_path / "out.csv"
    _fails(["predict", str(model_dir), str(broken), "-o", str(output)], "mean_area")
    assert not output.exists()


def test_not_a_model_directory_and_tampered_files(model_dir: Path, tmp_path: Path,
                                                  cancer_files: tuple[Path, Path]) -> None:
    _, test = cancer_files
    _fails(["leaderboard", str(tmp_path)], "is not an AccelML model directory")
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(model_dir), str(copy)], check=True)
    (copy / "preprocessor.json").write_text("{}")
    _fails(["evaluate", str(copy), str(test)], "was changed after the model was saved")


def test_the_console_script_prints_one_line_not_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "accelml.cli", "fit", str(tmp_path / "x.csv"), "-t", "y"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr


def test_missing_target_values_and_an_empty_column_are_reported(tmp_path: Path) -> None:
    from tests.conftest import cancer_frame

    frame = cancer_frame()
    frame.loc[:4, "diagnosis"] = None
    frame["nothing"] = None
    path = tmp_path / "holes.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["fit", str(path), "-t", "diagnosis", "-o", str(tmp_path / "m"),
                                 "--time-budget", "5", "--max-trials", "2",
                                 "--learners", "lightgbm"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "warning: dropped 5 rows whose target 'diagnosis' is missing" in text
    notes = json.loads((tmp_path / "m" / "manifest.json").read_text())["run"]["notes"]
    assert any("'nothing'" in note for note in notes)


def test_no_stacking_serves_the_blend_average(cancer_files: tuple[Path, Path],
                                              tmp_path: Path) -> None:
    train, _ = cancer_files
    out = tmp_path / "model"
    result = runner.invoke(app, ["fit", str(train), "--target", "diagnosis", "--out", str(out),
                                 "--no-stacking", "--time-budget", "5", "--learners", "linear"])
    assert result.exit_code == 0, result.output
    assert "stacking over" not in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stacker"] is None and manifest["run"]["stacking"] is None


def test_the_summary_says_whether_the_stacker_is_served(model_dir: Path) -> None:
    manifest = json.loads((model_dir / "manifest.json").read_text())
    stacking = manifest["run"]["stacking"]
    assert (manifest["stacker"] is not None) == stacking["served"]
    if "skipped" in stacking:  # a slow machine can leave it no time (or the latency limit
        # one member): then it says so
        assert stacking["skipped"] in ("not enough time left",
                                       "one member left within the latency limit")
        assert stacking == {"served": False, "inputs": stacking["inputs"],
                            "skipped": stacking["skipped"]}
        return
    assert set(stacking) == {"served", "inputs", "stacked_validation_score",
                             "blend_validation_score", "seconds"}


def test_a_learner_whose_library_is_missing_names_the_install(
        cancer_files: tuple[Path, Path], tmp_path: Path) -> None:
    from accelml.core.learner import register_unavailable

    register_unavailable("quantum_forest", "pip install 'accelml[quantum]'")
    train, _ = cancer_files
    out = tmp_path / "m"
    _fails(["fit", str(train), "-t", "diagnosis", "-o", str(out), "--learners",
            "lightgbm,quantum_forest", "--time-budget", "10", "--quiet"],
           "learner 'quantum_forest' needs a library that is not installed: "
           "pip install 'accelml[quantum]'")
    assert not out.exists()


def test_the_leaderboard_table_reads_in_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from accelml import cli

    reason = ("out of reach: 12 epochs take about 24 s at 0.221 s a step, and the time limit "
              "leaves room for 11 of the 108 steps; stopped after 6")
    board = pd.DataFrame({
        "rank": [1, 2, 3], "trial": [5, 0, 4], "learner": ["extra_trees", "lightgbm", "cnn"],
        "balanced_accuracy": [0.990612345, 0.98592, np.nan], "status": ["ok", "ok", "pruned"],
        "fidelity": [None, None, None], "fit_s": [2.1234, 10.987, 1.361],
        "device": ["cpu", "cpu", "cpu"], "final": [True, False, False],
        "weight": [0.5, 0.0, 0.0], "config": ["{}", "{}", "{}"], "error": ["", "", reason]})
    screen = io.StringIO()
    monkeypatch.setattr(cli, "out_console", Console(file=screen, width=80))
    cli._print_board(board, {"trials": 3, "pruned_trials": 1, "search_ended_by": "time"}, 10)
    lines = screen.getvalue().splitlines()
    table = lines[:lines.index(next(line for line in lines if line.startswith("trial 4")))]
    assert all(len(line) <= 80 for line in table), table
    assert any("extra_trees" in line and "0.99061" in line and "yes" in line for line in table)
    assert any("lightgbm" in line and "11.0" in line for line in table)
    assert not any("fidelity" in line or "True" in line for line in table)  # empty column gone
    assert f"trial 4 pruned: {reason}" in screen.getvalue().replace("\n", " ")
    assert "pruned_trials=1, search_ended_by=time" in screen.getvalue()


def _edit_manifest(model_dir: Path, copy: Path, edit: object) -> None:
    subprocess.run(["cp", "-r", str(model_dir), str(copy)], check=True)
    manifest = json.loads((copy / "manifest.json").read_text())
    edit(manifest)  # type: ignore[operator]
    (copy / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.pop("task"), "the manifest has no task or no members"),
    (lambda m: m.update(members=[]), "the manifest has no task or no members"),
    (lambda m: m.update(task={"kind": "binary"}), "task is malformed"),
    (lambda m: m["files"].pop("preprocessor.json"), "preprocessor.json is not listed"),
    (lambda m: m["members"][0].update(dir="members/elsewhere"),
     "member folder 'members/elsewhere' holds no file the manifest lists"),
    (lambda m: m["files"].update({"../../etc/passwd": "0" * 64}),
     "'../../etc/passwd', which is not a plain relative path"),
], ids=["no-task", "no-members", "bad-task", "unlisted-file", "empty-member", "outside"])
def test_a_malformed_model_directory_is_one_error_line(
        model_dir: Path, tmp_path: Path, cancer_files: tuple[Path, Path], edit: object,
        message: str) -> None:
    _, test = cancer_files
    copy = tmp_path / "copy"
    _edit_manifest(model_dir, copy, edit)
    output = tmp_path / "out.csv"
    _fails(["predict", str(copy), str(test), "-o", str(output)], message)
    assert not output.exists()
