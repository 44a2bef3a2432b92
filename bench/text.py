"""Text classification benchmark: AccelML next to TF-IDF + logistic regression (defaults),
FLAML and AutoGluon, on ../shared/datasets/text, each system in its own interpreter, one run
at a time, the same train/test split and budget.

  .venv/bin/python bench/text.py --out bench/results_text            # every set, every system
  .venv/bin/python bench/text.py --datasets sst2 --budgets 120,600 --systems accelml

SST-2 runs at 120 s and 600 s, the other sets at 300 s (--budgets overrides). For each
AccelML model, one sentence through ``accelml serve`` (1,000 requests on loopback: median and
p99) and the server's resident memory. ``accelml_random_splits`` is AccelML with plain
k-fold / holdout splits instead of near-duplicate groups: its validation score against its
test accuracy shows what grouping guards against. Writes OUT/text.json and OUT/text.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, log_loss

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "text"
PEERS = ROOT / "bench" / ".peers"
DEFAULT_BUDGETS = {"sst2": [120, 600]}
SYSTEMS = ["accelml", "tfidf_lr", "flaml", "autogluon"]


def interpreter(system: str) -> Path:
    """The Python that runs ``system``: a peer's venv, else AccelML's."""
    if system in ("flaml", "autogluon"):
        return PEERS / system / "bin" / "python"
    return ROOT / ".venv" / "bin" / "python"


def run_one(system: str, dataset: Path, budget: float, out: Path) -> dict[str, object]:
    """Fit and predict in a child process; score its test labels."""
    out.mkdir(parents=True, exist_ok=True)
    command = [str(interpreter(system)), str(ROOT / "bench" / "text_runner.py"), "--system",
               system, "--dataset", str(dataset), "--budget", str(budget), "--out", str(out)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=budget * 3 + 600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        return {"system": system, "error": done.stderr[-2000:], "wall_s": round(wall, 1)}
    facts = json.loads((out / "facts.json").read_text())
    test = pd.read_parquet(dataset / "test.parquet")
    labels = np.load(out / "labels.npy")
    binary = test["label"].nunique() == 2
    scores = {"accuracy": round(float(accuracy_score(test["label"], labels)), 4),
              "f1": round(float(f1_score(test["label"], labels,
                                         average="binary" if binary else "macro")), 4)}
    if (out / "proba.npy").is_file():
        scores["test_log_loss"] = round(float(log_loss(test["label"],
                                                       np.load(out / "proba.npy"))), 4)
    return {"system": system, **scores, "wall_s": round(wall, 1), **facts}


def serve_latency(model: Path, sentence: str, requests: int = 1000) -> dict[str, float]:
    """Median and p99 of one-sentence requests to ``accelml serve``; its resident memory."""
    sys.path.insert(0, str(ROOT / "bench"))
    from serving import server_timings

    body = json.dumps({"rows": [{"text": sentence}]}).encode()
    return server_timings(interpreter("accelml"), model, "/v1/predict", lambda _: body,
                          requests)


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| dataset | budget s | system | accuracy | F1 | validation score | "
             "test log loss | fit s | serve median ms | serve p99 ms | server MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        serve = row.get("serve") or {}
        lines.append(
            f"| {row['dataset']} | {row['budget']} | {row['system']} | "
            f"{row.get('accuracy', 'error')} | {row.get('f1', '')} | "
            f"{_fmt(row.get('validation_score'))} | {row.get('test_log_loss', '')} | "
            f"{row.get('fit_s', row.get('wall_s'))} | "
            f"{serve.get('median_ms', '')} | {serve.get('p99_ms', '')} | "
            f"{serve.get('server_rss_mb', '')} |")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="sst2,rotten_tomatoes,ag_news_subset,"
                        "movie_reviews_polarity_v2")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--budgets", default=None, help="comma-separated, for every dataset")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_text")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    results = args.out / "text.json"
    if results.is_file():
        rows = json.loads(results.read_text())
    for name in args.datasets.split(","):
        budgets = ([float(b) for b in args.budgets.split(",")] if args.budgets
                   else DEFAULT_BUDGETS.get(name, [300]))
        for budget in budgets:
            for system in args.systems.split(","):
                out = args.out / f"{name}_{int(budget)}_{system}"
                row = {"dataset": name, "budget": budget,
                       **run_one(system, args.data / name, budget, out)}
                if system.startswith("accelml") and "error" not in row:
                    row["serve"] = serve_latency(out / "model", "a gorgeous, witty film")
                print(json.dumps(row, default=str), flush=True)
                rows = [r for r in rows if (r["dataset"], r["budget"], r["system"]) !=
                        (name, budget, system)] + [row]
                results.write_text(json.dumps(rows, indent=1, default=str))
    (args.out / "text.md").write_text(table(rows) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
