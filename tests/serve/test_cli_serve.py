"""`accelml serve` as a user runs it: a real server process, a request, the access log, a
graceful stop; and its option errors."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from accelml.cli import app
from accelml.errors import ConfigError
from accelml.serve.run import serve_model
from tests.serve.conftest import request_rows

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, data: bytes | None = None, key: str | None = None) -> tuple[int, dict]:
    headers = {"content-type": "application/json", **({"x-api-key": key} if key else {})}
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_serve_answers_logs_and_stops_gracefully(served_model: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text("s3cret-key-for-tests-only\n")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "accelml.cli", "serve", str(served_model), "--port", str(port),
         "--api-key-file", str(key_file)], stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if _get(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        body = json.dumps({"rows": request_rows(2)}).encode()
        status, answer = _get(f"{base}/v1/predict", body, key="s3cret-key-for-tests-only")
        assert status == 200 and len(answer["predictions"]) == 2
        assert _get(f"{base}/v1/predict", body)[0] == 401
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=20)
    # Uvicorn finishes in-flight requests, then re-raises the signal: killed by SIGTERM, cleanly
    assert server.returncode in (0, -signal.SIGTERM), stderr
    assert "Traceback" not in stderr
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    predicted = [entry for entry in logged if entry["path"] == "/v1/predict"]
    assert [entry["status"] for entry in predicted] == [200, 401]
    assert all(entry["ms"] > 0 and entry["method"] == "POST" for entry in predicted)


def test_two_worker_processes_share_the_port(served_model: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "accelml.cli", "serve", str(served_model), "--port", str(port),
         "--workers", "2", "--no-access-log"], stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        ready = False
        for _ in range(300):
            try:
                ready = _get(f"{base}/readyz")[0] == 200
                break
            except OSError:
                time.sleep(0.1)
        assert ready
        body = json.dumps({"rows": request_rows(3)}).encode()
        answers = [_get(f"{base}/v1/predict", body) for _ in range(4)]
        assert all(status == 200 and len(a["predictions"]) == 3 for status, a in answers)
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode in (0, -signal.SIGTERM), stderr
    assert "Traceback" not in stderr and not [ln for ln in stderr.splitlines()
                                              if ln.startswith('{"time"')]


def test_serve_option_errors(served_model: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    for args, message in (
        (["--api-key-file", str(empty)], "is empty; write the key into it"),
        (["--api-key-file", str(tmp_path / "none.txt")], "cannot read the API key file"),
        (["--workers", "0"], "--workers must be >= 1"),
    ):
        result = runner.invoke(app, ["serve", str(served_model), *args])
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    missing = runner.invoke(app, ["serve", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_a_taken_port_is_one_error_line(served_model: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", str(served_model), "--port", str(port)])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert lines == [f"error: port {port} on 127.0.0.1 is already in use (another server "
                         "listens there); stop it, or pass a free --port"], result.output
        with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is already in use"):
            serve_model(served_model, "127.0.0.1", port, None, 1, 10, False, Console())
    outside = runner.invoke(app, ["serve", str(served_model), "--port", "70000"])
    assert outside.exit_code == 2 and "--port must be 0 to 65535, got 70000" in outside.output
