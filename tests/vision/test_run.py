"""Images end to end through the CLI and the Python API, and every bad image input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

import accelml
from accelml.cli import app
from tests.vision._digits import digits

runner = CliRunner()
#: 20 s: about 12 s of search (several cnn trials, one or two on a busy machine), the rest
#: for the final fit
FAST = ["--time-budget", "20", "--quiet", "--learners", "cnn"]


def _digits(classes: tuple[int, ...] = (0, 1, 7), per_class: int = 40) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
    pixels, target = digits()
    keep = np.concatenate([np.flatnonzero(target == c)[:per_class] for c in classes])
    return pixels[keep].reshape(-1, 8, 8), target[keep]


def _write_folder(root: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / f"digit{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).resize((16, 16)).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def image_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("images")
    images, labels = _digits()
    train = _write_folder(base / "train", images[::2], labels[::2])
    test = _write_folder(base / "test", images[1::2], labels[1::2])
    out = base / "model"
    result = runner.invoke(app, ["fit", str(train), "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    return out, test


def test_fit_predict_evaluate_export_images(image_model: tuple[Path, Path],
                                            tmp_path: Path) -> None:
    model, test = image_model
    manifest = json.loads((model / "manifest.json").read_text())
    cost = manifest["run"]["search_cost"]
    assert cost["devices"] == ["cpu"] and cost["device_seconds"] > 0 and cost["trials"] >= 1
    scores = runner.invoke(app, ["evaluate", str(model), str(test), "--json"])
    assert scores.exit_code == 0, scores.output
    assert json.loads(scores.output)["accuracy"] > 0.8
    output = tmp_path / "predictions.csv"
    done = runner.invoke(app, ["predict", str(model), str(test), "-o", str(output)])
    assert done.exit_code == 0, done.output
    predicted = pd.read_csv(output)
    assert len(predicted) == 60 and set(predicted["prediction"]) <= {"digit0", "digit1",
                                                                    "digit7"}
    assert predicted["id"].str.endswith(".png").all()
    onnx_file = tmp_path / "model.onnx"
    exported = runner.invoke(app, ["export", str(model), "-o", str(onnx_file)])
    assert exported.exit_code == 0, exported.output
    assert onnx_file.stat().st_size > 1000


def test_leaderboard_shows_fidelity_and_cost(image_model: tuple[Path, Path]) -> None:
    model, _ = image_model
    board = accelml.load(model).leaderboard()
    assert {"fidelity", "fit_s", "device", "learner"} <= set(board.columns)
    assert (board["learner"] == "cnn").all()
    assert board["fidelity"].min() >= 1
    ok = board[board["status"] == "ok"]
    assert ok.loc[ok["final"], "fidelity"].item() == ok["fidelity"].max()  # highest rung wins


def test_the_final_network_continues_from_its_search_trial(
        image_model: tuple[Path, Path]) -> None:
    model, _ = image_model
    predictor = accelml.load(model)
    info = predictor.members[0].fitted.info
    assert info["warm_start_epochs"] >= 1 and info["epochs_done"] >= 1
    board = predictor.leaderboard()
    blend = predictor.info["ensemble"]
    assert len(blend) == len(predictor.members) and blend[0]["trial"] == board.loc[
        board["final"], "trial"].item()
    assert board["weight"].sum() == pytest.approx(1.0, abs=1e-3)


def test_npz_arrays_with_the_python_api(tmp_path: Path) -> None:
    images, labels = _digits((3, 8), per_class=40)
    path = tmp_path / "digits.npz"
    np.savez(path, x=images, y=labels)
    predictor = accelml.fit(path, time_budget=15, quiet=True, max_trials=3,
                            final_train_fraction=0.0)  # the run's length is not tested here
    learners = set(predictor.leaderboard()["learner"]) - {"constant"}  # a fallback if late
    assert learners == {"cnn"}  # no backbone: nothing to tune
    assert predictor.task.kind == "binary"
    assert set(predictor.predict(images[:5]).tolist()) <= {3, 8}
    assert list(predictor.predict_proba(images[:5]).columns) == [3, 8]


def _fails(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


def test_bad_image_inputs(tmp_path: Path, image_model: tuple[Path, Path]) -> None:
    images, labels = _digits((0, 1), per_class=5)
    single = _write_folder(tmp_path / "single", images[:5], labels[:5])
    _fails(["fit", str(single), *FAST], "at least two classes")
    (tmp_path / "empty").mkdir()
    _fails(["fit", str(tmp_path / "empty"), *FAST], "empty")
    np.savez(tmp_path / "bad.npz", x=images, y=labels[:-1])
    _fails(["fit", str(tmp_path / "bad.npz"), *FAST], "x has 10 images but y has 9 labels")
    model, _ = image_model
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "not_an_image.png").write_bytes(b"this is not a png")
    _fails(["predict", str(model), str(broken), "-o", str(tmp_path / "p.csv")],
           "not_an_image.png")
    assert not (tmp_path / "p.csv").exists()


def test_bad_backbones(tmp_path: Path) -> None:
    images, labels = _digits((0, 1), per_class=10)
    train = _write_folder(tmp_path / "train", images, labels)
    _fails(["fit", str(train), "--backbone", str(tmp_path / "missing"), *FAST],
           "does not exist")
    plain = tmp_path / "weights.txt"
    plain.write_text("not a checkpoint")
    result = runner.invoke(app, ["fit", str(train), "--backbone", str(plain), "--time-budget",
                                 "10", "--quiet", "--learners", "transfer"])
    assert result.exit_code == 2, result.output
    assert "AccelML image model directory" in " ".join(result.output.split())


def test_an_image_model_asked_for_on_tabular_data(tmp_path: Path) -> None:
    table = tmp_path / "table.csv"
    pd.DataFrame({"a": [i % 7 / 3 for i in range(30)], "b": ["u", "v", "w"] * 10,
                  "y": ["p", "q"] * 15}).to_csv(table, index=False)
    _fails(["fit", str(table), "-t", "y", "--task", "image", "--time-budget", "5"],
           "image")
    _fails(["fit", str(table), "-t", "y", "--learners", "cnn", "--time-budget", "5"],
           "learner 'cnn' is for image data")
    _fails(["fit", str(table), "-t", "y", "--max-params", "2000", "--time-budget", "5"],
           "--max-params apply to image models")
    _fails(["fit", str(table), "-t", "y", "--zero-cost-proxy", "naswot", "--time-budget", "5"],
           "--zero-cost-proxy apply to image models")


def test_deployment_constraints_and_the_zero_cost_screen(tmp_path: Path) -> None:
    images, labels = _digits((0, 1, 7), per_class=30)
    train = _write_folder(tmp_path / "train", images, labels)
    _fails(["fit", str(train), "--max-latency-ms", "0.000001", *FAST],
           "slower than --max-latency-ms 1e-06")
    _fails(["fit", str(train), "--zero-cost-proxy", "naswot", "--sampler", "random", *FAST],
           "use --sampler evolution")
    _fails(["fit", str(train), "--zero-cost-proxy", "synflow", *FAST],
           "unknown zero_cost_proxy 'synflow'")
    out = tmp_path / "model"
    result = runner.invoke(app, ["fit", str(train), "--out", str(out), "--max-latency-ms",
                                 "1000", "--zero-cost-proxy", "naswot", "--time-budget", "15",
                                 "--quiet", "--learners", "cnn"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["members"]) == 1  # a constrained run serves one network
    fallback = manifest["run"]["fallback"]
    if fallback is not None and fallback["served"] == "constant":  # a machine too busy to
        assert manifest["members"][0]["learner"] == "constant"  # train one in 15 s
        return
    # the best network's refit or, when that refit failed or ran out of time on a busy
    # machine, the next best network's refit or a trial's kept network: all constrained
    assert manifest["members"][0]["learner"] == "cnn"
    assert manifest["members"][0]["config"]["max_latency_ms"] == 1000
    assert accelml.load(out).evaluate(train)["accuracy"] > 0.8


def test_fine_tune_from_a_saved_image_model(image_model: tuple[Path, Path],
                                            tmp_path: Path) -> None:
    model, _ = image_model
    images, labels = _digits((4, 9), per_class=30)
    train = _write_folder(tmp_path / "train", images, labels)
    out = tmp_path / "tuned"
    # 14 s: each fine-tuning trial of the small network takes a fraction of a second
    result = runner.invoke(app, ["fit", str(train), "--backbone", str(model), "--out", str(out),
                                 "--time-budget", "14", "--quiet", "--learners", "transfer"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["members"][0]["learner"] == "transfer"
    assert manifest["members"][0]["config"]["backbone"] == str(model.resolve())
    predictor = accelml.load(out)
    assert predictor.evaluate(train)["accuracy"] > 0.8
