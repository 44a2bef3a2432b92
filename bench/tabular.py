"""Side-by-side tabular benchmark: AccelML and the peers on the same data, splits, budget and
cores, one run at a time.

  .venv/bin/python bench/tabular.py --systems accelml,flaml,autogluon,h2o,lightgbm-default \\
      --budget 60 --datasets ../shared/datasets/tabular/credit_g ... --out bench/results

Each system runs bench/tabular_runner.py in its own interpreter (peers: bench/.peers/<name>,
made by bench/setup_peers.sh) under /usr/bin/time for the peak memory; this script scores the
test predictions with the dataset's metric (meta.json) plus accuracy or RMSE, and writes a
markdown table, each system's mean rank, mean normalized score ((score - worst) / (best -
worst) per dataset, 1 is best) and worst overrun to OUT/tabular.md.
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
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "bench" / ".peers"
LOWER_IS_BETTER = {"log_loss", "rmse"}


def interpreter(system: str) -> str:
    if system.startswith("accelml") or system == "lightgbm-default":
        return sys.executable
    python = PEERS / system / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{system} is not installed: run bash bench/setup_peers.sh {system}")
    return str(python)


def score(meta: dict, y: pd.Series, pred: np.ndarray, classes: list[str]) -> dict[str, float]:
    """The primary metric and accuracy (classification) or RMSE (regression)."""
    metric = meta["metric"]["primary"]
    if meta["task"] == "regression":
        rmse = float(np.sqrt(np.mean((y.to_numpy(dtype=float) - pred) ** 2)))
        return {metric: rmse, "rmse": rmse}
    labels = sorted(set(y.astype(str).unique()) | set(classes))
    proba = np.zeros((len(y), len(labels)))
    for j, name in enumerate(classes):
        proba[:, labels.index(name)] = pred[:, j]
    proba = np.clip(proba, 1e-15, 1.0)
    proba /= proba.sum(axis=1, keepdims=True)
    truth = y.astype(str).to_numpy()
    result = {"accuracy": float(accuracy_score(truth, np.array(labels)[proba.argmax(axis=1)]))}
    if metric == "roc_auc":
        positive = str(meta.get("positive_class", labels[-1]))
        result[metric] = float(roc_auc_score(truth == positive, proba[:, labels.index(positive)]))
    else:
        result[metric] = float(log_loss(truth, proba, labels=labels))
    return result


def run(system: str, folder: Path, budget: float, out: Path) -> dict:
    meta = json.loads((folder / "meta.json").read_text())
    where = out / "runs" / meta["name"] / system
    command = ["/usr/bin/time", "-f", "peak_kb=%M", interpreter(system),
               str(ROOT / "bench" / "tabular_runner.py"), "--system", system, "--dataset",
               str(folder), "--budget", str(budget), "--out", str(where)]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=4 * budget + 300)
    wall = time.monotonic() - started
    row = {"dataset": meta["name"], "system": system, "metric": meta["metric"]["primary"],
           "wall_s": round(wall, 1)}
    peak = [ln for ln in done.stderr.splitlines() if ln.startswith("peak_kb=")]
    row["peak_mb"] = round(int(peak[-1].split("=")[1]) / 1024) if peak else None
    if done.returncode != 0 or not (where / "facts.json").exists():
        where.mkdir(parents=True, exist_ok=True)
        (where / "stderr.txt").write_text(done.stderr)  # the whole story of a failed run
        lines = [ln for ln in done.stderr.strip().splitlines() if not ln.startswith(
            ("peak_kb=", "Command exited"))]
        row["error"] = " ".join(lines[-3:])[:300]
        return row
    facts = json.loads((where / "facts.json").read_text())
    test = pd.read_parquet(folder / "test.parquet")
    row.update(score(meta, test[meta["target"]], np.load(where / "pred.npy"), facts["classes"]))
    row.update({k: facts[k] for k in ("fit_s", "predict_s", "single_row_ms", "models_tried")})
    row["overrun"] = round(facts["fit_s"] / budget - 1, 3)
    return row


def summary(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame([r for r in rows if "error" not in r])
    ranks, normalized = [], []
    for _, group in frame.groupby("dataset"):
        metric = group["metric"].iloc[0]
        values = group[metric] * (-1 if metric in LOWER_IS_BETTER else 1)  # higher is better
        ranks.append(values.rank(ascending=False).rename("rank"))
        spread = values.max() - values.min()
        normalized.append(((values - values.min()) / spread if spread else values * 0 + 1)
                          .rename("normalized"))
    frame = frame.join(pd.concat(ranks)).join(pd.concat(normalized))
    return frame.groupby("system").agg(
        datasets=("dataset", "count"), mean_normalized_score=("normalized", "mean"),
        mean_rank=("rank", "mean"), worst_overrun=("overrun", "max"),
        median_single_row_ms=("single_row_ms", "median"),
    ).sort_values("mean_rank").round(3)


def markdown(rows: list[dict], budget: float, systems: list[str]) -> str:
    lines = [f"| dataset | metric | {' | '.join(systems)} |",
             "|---|---|" + "---|" * len(systems)]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        cells = []
        metric = ""
        for system in systems:
            found = [r for r in rows if r["dataset"] == name and r["system"] == system]
            if not found:
                cells.append("")
                continue
            r = found[0]
            metric = r["metric"]
            cells.append("failed" if "error" in r else
                         f"{r[metric]:.4f} ({r['fit_s']:.0f}s, {r['models_tried']} models, "
                         f"{r['peak_mb']} MB)")
        lines.append(f"| {name} | {metric} | {' | '.join(cells)} |")
    lines += ["", f"Budget {budget:g} s. Cells: test score (fit seconds, models tried, peak "
              "memory of the process).", "", summary_markdown(rows)]
    return "\n".join(lines)


def summary_markdown(rows: list[dict]) -> str:
    """Each system's mean rank, mean normalized score and worst overrun, as a markdown table."""
    table = summary(rows).reset_index()
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--systems", default="accelml,flaml,autogluon,h2o,lightgbm-default")
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--datasets", nargs="+", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows OUT/tabular.jsonl already holds for this budget "
                        "and run only the missing (dataset, system) pairs")
    args = parser.parse_args(argv)
    systems = args.systems.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "tabular.jsonl"  # one row per finished run, as it finishes
    done = [json.loads(line) for line in log.read_text().splitlines()] \
        if args.resume and log.exists() else []
    done = [r for r in done if r.get("budget") == args.budget]
    if not args.resume:
        log.write_text("")
    rows = []
    for folder in args.datasets:
        name = json.loads((folder / "meta.json").read_text())["name"]
        for system in systems:
            kept = [r for r in done if r["dataset"] == name and r["system"] == system]
            if kept:
                rows.append(kept[-1])
                continue
            rows.append({**run(system, folder, args.budget, args.out), "budget": args.budget})
            with log.open("a") as handle:
                handle.write(json.dumps(rows[-1]) + "\n")
            print(json.dumps(rows[-1]), flush=True)
    (args.out / "tabular.json").write_text(json.dumps(rows, indent=1))
    text = markdown(rows, args.budget, systems)
    (args.out / "tabular.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
