"""A crafted model is refused by the server before it listens: app creation and `accelml serve`
fail with an error naming the type, and the code the file carries never runs."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from accelml.errors import ArtifactError
from accelml.serve.app import ServeSettings, create_app
from tests.tabular.test_safe_load import PAYLOADS, craft_model_dir

CASES = ("runstring", "os.system")


@pytest.fixture(scope="module")
def linear_model(linear_cancer_model: Path) -> Path:
    return linear_cancer_model  # each test tampers with a copy


def _crafted(linear_model: Path, case: str, tmp_path: Path) -> tuple[str, Path, Path]:
    type_name, payload = PAYLOADS[case]
    marker = tmp_path / "ran.txt"
    model = Path(shutil.copytree(linear_model, tmp_path / "model"))
    craft_model_dir(model, payload(marker))
    return type_name, model, marker


@pytest.mark.parametrize("case", CASES)
def test_the_app_is_not_created_for_a_crafted_model(case: str, linear_model: Path,
                                                    tmp_path: Path) -> None:
    type_name, model, marker = _crafted(linear_model, case, tmp_path)
    with pytest.raises(ArtifactError, match=rf"\({type_name}\); refusing to load it"):
        create_app(ServeSettings(str(model)))
    assert not marker.exists()


def test_accelml_serve_refuses_a_crafted_model_before_listening(linear_model: Path,
                                                                tmp_path: Path) -> None:
    type_name, model, marker = _crafted(linear_model, "runstring", tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "accelml.cli", "serve", str(model), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = server.communicate(timeout=120)  # a served model would never exit
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 2, output
    assert f"({type_name}); refusing to load it" in " ".join(output.split())
    assert "error:" in output and "Traceback" not in output
    assert not marker.exists()
