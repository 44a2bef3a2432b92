"""Serving benchmark: single-row latency in process and over HTTP, batch throughput and memory.

  .venv/bin/python bench/serving.py --dataset ../shared/datasets/tabular/adult --out bench/results

1. Fits two AccelML models on the dataset's train split (or reuses them from --out): one
   single LightGBM model (``ensemble_size=1``), one with every default (on adult: a blend).
2. In process: the median and p99 of 200 single-row predictions, through a one-row DataFrame
   (as peers are timed) and through a JSON-like record (the server's path).
3. Over HTTP on loopback: `accelml serve` in its own process (access log on, written to a
   file), a bounded Python client with keep-alive connections, 1 and 16 concurrent clients,
   p50 / p99 of the request round trip. Client and server share the machine's cores.
4. Batch: `accelml predict` on a Parquet file 10x the training rows, wall time, rows/s and the
   peak resident memory of the process.
Prints one JSON object per measurement and writes them all to --out/serving.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

import accelml

ROOT = Path(__file__).resolve().parents[1]


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 3)}


def _records(frame: pd.DataFrame) -> list[dict]:
    plain = frame.astype(object).where(frame.notna(), None)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in plain.to_dict("records")]


def fit_models(train: pd.DataFrame, target: str, budget: float, out: Path) -> dict[str, Path]:
    models = {"lightgbm": out / "serving_lightgbm", "default": out / "serving_default"}
    for name, path in models.items():
        if not (path / "manifest.json").exists():
            single = {"learners": ("lightgbm",), "ensemble_size": 1} if name == "lightgbm" else {}
            accelml.fit(train, target, time_budget=budget, quiet=True, out=path, **single)
    return models


def in_process(model: Path, test: pd.DataFrame, repeats: int = 200) -> dict[str, object]:
    predictor = accelml.load(model)
    row_frame, row_record = test.iloc[[0]], _records(test.iloc[[0]])
    result: dict[str, object] = {"members": [m.learner for m in predictor.members]}
    for label, call in (("dataframe", lambda: predictor.predict_proba(row_frame)),
                        ("record", lambda: predictor.predict_with_proba(row_record))):
        call()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        result[label] = _percentiles(times)
    return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(port: int) -> bool:
    """Whether a server on ``port`` answers its readiness probe."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/readyz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the server's worker)."""
    total = 0.0
    pids = [pid, *(int(p) for p in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split())]
    for one in pids:
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return round(total, 1)


def server_timings(python: Path, model: Path, path: str, body_of: Callable[[int], bytes],
                   requests: int = 1000, warm: int = 50) -> dict[str, float]:
    """Median and p99 of ``requests`` POSTs to ``path`` of ``accelml serve`` (one keep-alive
    connection, after ``warm`` untimed ones; request i sends ``body_of(i)``), and the
    server's resident memory."""
    port = _free_port()
    server = subprocess.Popen([str(python), "-m", "accelml.cli", "serve", str(model),
                               "--port", str(port)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not _ready(port) and time.monotonic() < deadline:
            time.sleep(0.1)  # polling the readiness probe: the event is the port answering
        connection = http.client.HTTPConnection("127.0.0.1", port)
        headers = {"content-type": "application/json"}
        seconds: list[float] = []
        for index in range(warm + requests):
            started = time.perf_counter()
            connection.request("POST", path, body_of(index), headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
            if index >= warm:
                seconds.append(time.perf_counter() - started)
        rss = rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    ordered = sorted(seconds)
    return {"median_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 3),
            "server_rss_mb": rss}


def _client(port: int, body: bytes, count: int, times: list[float]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"content-type": "application/json"}
    for _ in range(count):
        start = time.perf_counter()
        connection.request("POST", "/v1/predict", body, headers)
        response = connection.getresponse()
        response.read()
        times.append(time.perf_counter() - start)
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
    connection.close()


def over_http(model: Path, row: dict, out: Path) -> dict[str, object]:
    port = _free_port()
    log = (out / f"access_{model.name}.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "accelml.cli", "serve", str(model),
                               "--port", str(port)], stderr=log)
    try:
        for _ in range(300):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", "/readyz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        body = json.dumps({"rows": [row]}).encode()
        _client(port, body, 200, [])  # warm-up
        result: dict[str, object] = {}
        for clients, per_client in ((1, 2000), (16, 250)):
            times: list[float] = []
            threads = [threading.Thread(target=_client, args=(port, body, per_client, times))
                       for _ in range(clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
            result[f"{clients}_clients"] = {**_percentiles(times), "requests": len(times),
                                           "requests_per_s": round(len(times) / wall, 1)}
        return result
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def batch(model: Path, train: pd.DataFrame, target: str, out: Path) -> dict[str, object]:
    big = out / "serving_big.parquet"
    rows = 10 * len(train)
    if not big.exists():
        frame = pd.concat([train.drop(columns=[target])] * 10, ignore_index=True)
        frame.to_parquet(big, index=False, row_group_size=50_000)
    output = out / "serving_big_predictions.parquet"
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "accelml.cli",
                           "predict", str(model), str(big), "-o", str(output)],
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    peak_kb = int(done.stderr.strip().splitlines()[-1])
    return {"rows": rows, "input_mb": round(big.stat().st_size / 2**20, 1),
            "wall_s": round(wall, 2), "rows_per_s": round(rows / wall),
            "peak_rss_mb": round(peak_kb / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "datasets" /
                        "tabular" / "adult")
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    meta = json.loads((args.dataset / "meta.json").read_text())
    target = meta["target"]
    train = pd.read_parquet(args.dataset / "train.parquet")
    test = pd.read_parquet(args.dataset / "test.parquet").drop(columns=[target])
    models = fit_models(train, target, args.budget, args.out)
    report: dict[str, object] = {"dataset": meta["name"], "cpu_count": os.cpu_count()}
    for name, model in models.items():
        report[f"{name}_in_process"] = in_process(model, test)
        print(json.dumps({name: report[f"{name}_in_process"]}), flush=True)
        report[f"{name}_http"] = over_http(model, _records(test.iloc[[0]])[0], args.out)
        print(json.dumps({name: report[f"{name}_http"]}), flush=True)
    report["batch"] = batch(models["default"], train, target, args.out)
    print(json.dumps({"batch": report["batch"]}), flush=True)
    (args.out / "serving.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
