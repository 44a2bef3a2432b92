"""Recommendation benchmark: AccelML at the stated budgets next to the baselines of
bench/recsys_baselines.py (most popular, implicit ALS defaults, EASE / item-kNN / iALS each
tuned by grid), on ../shared/datasets/recsys, every system ranking the whole catalogue for
each test user (relevant = the user's test items, and = those rated 4 or more).

  .venv/bin/python bench/recsys.py                      # both sets, their budgets
  .venv/bin/python bench/recsys.py --datasets movielens_100k --budgets 120

MovieLens 100K runs at 120 s and 600 s, MovieLens latest-small at 300 s. For each AccelML
model: time to the first model, one user's top 10 in process and over HTTP (1,000 calls to
``accelml serve``: median and p99), 1,000 users in one call, and peak memory of the run and
of the server. Writes OUT/recsys.json and OUT/recsys.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "recsys"
PYTHON = ROOT / ".venv" / "bin" / "python"
BUDGETS = {"movielens_100k": [120, 600], "movielens_latest_small": [300]}
BASELINES = ("popularity", "ials_defaults", "ease_grid", "item_knn_grid", "ials_grid")


def _ready(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/readyz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def over_http(model: Path, users: list[object], calls: int = 1000) -> dict[str, float]:
    """Median and p99 of one-user /v1/recommend requests to ``accelml serve``, and the
    server's resident memory."""
    sys.path.insert(0, str(ROOT / "bench"))
    from serving import _free_port
    from text import _rss_mb

    port = _free_port()
    server = subprocess.Popen([str(PYTHON), "-m", "accelml.cli", "serve", str(model),
                               "--port", str(port)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not _ready(port) and time.monotonic() < deadline:
            time.sleep(0.1)  # polling the readiness probe: the event is the port answering
        connection = http.client.HTTPConnection("127.0.0.1", port)
        headers = {"content-type": "application/json"}
        seconds: list[float] = []
        for index in range(calls + 50):
            body = json.dumps({"user": users[index % len(users)], "k": 10}).encode()
            started = time.perf_counter()
            connection.request("POST", "/v1/recommend", body, headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
            if index >= 50:  # the first 50 warm the connection
                seconds.append(time.perf_counter() - started)
        rss = _rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    ordered = sorted(seconds)
    return {"median_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 3),
            "server_rss_mb": rss}


def run_accelml(dataset: str, budget: int, out: Path) -> dict[str, object]:
    folder = out / f"{dataset}_{budget}"
    folder.mkdir(parents=True, exist_ok=True)
    command = [str(PYTHON), str(ROOT / "bench" / "recsys_runner.py"), "--dataset",
               str(DATA / dataset), "--budget", str(budget), "--out", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=budget * 3 + 600)
    if done.returncode != 0:
        return {"dataset": dataset, "budget": budget, "error": done.stderr[-2000:]}
    facts = json.loads((folder / "facts.json").read_text())
    import pandas as pd

    users = pd.read_parquet(DATA / dataset / "test.parquet").user_id.unique().tolist()
    facts["one_user_http"] = over_http(folder / "model", users)
    return {"dataset": dataset, "budget": budget, **facts}


def table(runs: list[dict[str, object]], baselines: dict[str, dict]) -> str:  # type: ignore
    metrics = ("ndcg@10", "recall@10", "precision@10", "map@10", "coverage@10")
    lines = []
    for dataset in sorted({str(r["dataset"]) for r in runs} | set(baselines)):
        for relevance in ("all", "rating>=4"):
            lines += [f"\n**{dataset}**, relevant = "
                      f"{'test items' if relevance == 'all' else 'test items rated >= 4'}\n",
                      "| system | " + " | ".join(metrics) + " |",
                      "|---|" + "---|" * len(metrics)]
            for run in runs:
                if run["dataset"] != dataset or "test" not in run:
                    continue
                scores = run["test"][relevance]  # type: ignore[index]
                lines.append(f"| AccelML {run['budget']} s | " + " | ".join(
                    f"{scores[m]:.4f}" for m in metrics) + " |")
            for name in BASELINES:
                scores = baselines.get(dataset, {}).get(name, {}).get(relevance)
                if scores:
                    lines.append(f"| {name} | " + " | ".join(
                        f"{scores[m]:.4f}" for m in metrics) + " |")
    lines += ["\n| dataset | budget s | fit s | first model s | trials | members | "
              "one user in process median / p99 ms | over HTTP median / p99 ms | "
              "1,000 users ms | run peak MB | server MB |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        if "test" not in run:
            lines.append(f"| {run['dataset']} | {run['budget']} | error | | | | | | | | |")
            continue
        local, http_ = run["one_user_in_process"], run["one_user_http"]
        members = ", ".join(f"{m['learner']} {m['weight']}" for m in run["members"])
        lines.append(
            f"| {run['dataset']} | {run['budget']} | {run['fit_s']} | {run['first_model_s']} | "
            f"{run['trials']} | {members} | {local['median_ms']} / {local['p99_ms']} | "
            f"{http_['median_ms']} / {http_['p99_ms']} | {run['thousand_users_batch_ms']} | "
            f"{run['peak_rss_mb']} | {http_['server_rss_mb']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(BUDGETS))
    parser.add_argument("--budgets", default=None, help="Comma-separated, for every set.")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_recsys")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    record = args.out / "recsys.json"
    runs = json.loads(record.read_text()) if record.is_file() else []
    for dataset in args.datasets.split(","):
        budgets = ([int(b) for b in args.budgets.split(",")] if args.budgets
                   else BUDGETS[dataset])
        for budget in budgets:
            result = run_accelml(dataset, budget, args.out)
            runs = [r for r in runs if (r["dataset"], r["budget"]) != (dataset, budget)]
            runs.append(result)
            print(json.dumps({k: result.get(k) for k in ("dataset", "budget", "fit_s")}),
                  flush=True)
            record.write_text(json.dumps(runs, indent=1, default=str))
    baselines = {}
    for path in args.out.glob("baselines_*.json"):
        baselines[path.stem.removeprefix("baselines_")] = json.loads(path.read_text())
    (args.out / "recsys.md").write_text(table(runs, baselines))
    print((args.out / "recsys.md").read_text())


if __name__ == "__main__":
    main()
