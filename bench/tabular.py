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
import os
import subprocess
import sys
import threading
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
    venv = system.split("-")[0]  # autogluon-best runs in autogluon's environment
    python = PEERS / venv / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{system} is not installed: run bash bench/setup_peers.sh {venv}")
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


def busy_jiffies() -> int:
    """Busy jiffies of every CPU since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]
    return sum(fields) - fields[3] - fields[4]


def tree_jiffies(root: int, seen: dict[int, int]) -> None:
    """Record in ``seen`` the largest CPU jiffies (user + system) yet read of ``root`` and
    every process descending from it (the run's process tree: the H2O Java server starts in a
    session of its own, but is the runner's child). A process that ended keeps its last
    reading (reaped children's time is left out of their parents', or it would count twice)."""
    from accelml.core.cores import descendants, process_table

    parents, ticks = process_table()
    for pid in descendants(root, parents) & ticks.keys():
        seen[pid] = max(seen.get(pid, 0), ticks[pid][0] + ticks[pid][1])


class LoadWatch:
    """How many cores work outside one run kept busy while it ran: the machine's busy
    jiffies less the run's own, sampled every half second. A run that shared the machine is
    marked, so an 'idle machine' figure never hides a disturbed run."""

    def __init__(self, root: int) -> None:
        self.root, self.seen = root, {}
        self.start, self.started = busy_jiffies(), time.monotonic()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while not self.stop.wait(0.5):
            tree_jiffies(self.root, self.seen)

    def other_cores(self) -> float:
        self.stop.set()
        self.thread.join()
        elapsed = time.monotonic() - self.started
        others = busy_jiffies() - self.start - sum(self.seen.values())
        return max(0.0, others / os.sysconf("SC_CLK_TCK") / max(elapsed, 1e-9))


#: The second heavy job of a --busy run: one core, spinning, for as long as the run lasts.
BUSY_JOB = [sys.executable, "-c", "while True: pass"]


def run(system: str, folder: Path, budget: float, out: Path, busy: bool = False,
        seed: int = 0) -> dict:
    meta = json.loads((folder / "meta.json").read_text())
    where = out / "runs" / meta["name"] / (system if seed == 0 else f"{system}-seed{seed}")
    command = ["/usr/bin/time", "-f", "peak_kb=%M", interpreter(system),
               str(ROOT / "bench" / "tabular_runner.py"), "--system", system, "--dataset",
               str(folder), "--budget", str(budget), "--out", str(where), "--seed", str(seed)]
    neighbour = subprocess.Popen(BUSY_JOB, start_new_session=True) if busy else None
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    watch = LoadWatch(process.pid)
    try:
        _, stderr = process.communicate(timeout=4 * budget + 300)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        _, stderr = process.communicate()
    wall = time.monotonic() - started
    other = watch.other_cores()
    if neighbour is not None:
        neighbour.kill()
        neighbour.wait()
    done = subprocess.CompletedProcess(command, process.returncode, "", stderr)
    row = {"dataset": meta["name"], "system": system, "metric": meta["metric"]["primary"],
           "wall_s": round(wall, 1), "busy": busy, "other_cores": round(other, 2)}
    peak = [ln for ln in done.stderr.splitlines() if ln.startswith("peak_kb=")]
    row["peak_mb"] = round(int(peak[-1].split("=")[1]) / 1024) if peak else None
    if done.returncode != 0 or not (where / "facts.json").exists():
        where.mkdir(parents=True, exist_ok=True)
        (where / "stderr.txt").write_text(done.stderr)  # the whole story of a failed run
        lines = [ln for ln in done.stderr.strip().splitlines() if not ln.startswith(
            ("peak_kb=", "Command exited"))]
        row["error"] = " ".join(lines[-3:]).replace(f"{ROOT}/", "")[:300]  # (no local paths)
        return row
    facts = json.loads((where / "facts.json").read_text())
    test = pd.read_parquet(folder / "test.parquet")
    row.update(score(meta, test[meta["target"]], np.load(where / "pred.npy"), facts["classes"]))
    row.update({k: facts.get(k) for k in ("fit_s", "predict_s", "single_row_ms",
                                          "single_row_p99_ms", "models_tried")})
    row["overrun"] = round(facts["fit_s"] / budget - 1, 3)
    return row


def summary(rows: list[dict]) -> pd.DataFrame:
    """Each system's mean normalized score and mean rank over the datasets. A run that ended
    without a model (an error) ranks last on its dataset and scores 0 normalized, as the
    AutoML Benchmark counts a failure: the user got nothing."""
    frame = pd.DataFrame(rows)
    failed = frame["error"].notna() if "error" in frame else pd.Series(False, frame.index)
    ranks, normalized = [], []
    for _, group in frame.groupby("dataset"):
        metric = group["metric"].iloc[0]
        values = group[metric] * (-1 if metric in LOWER_IS_BETTER else 1)  # higher is better
        ok = values[~failed[group.index]]
        values = values.where(~failed[group.index], ok.min() - 1 if len(ok) else 0.0)
        ranks.append(values.rank(ascending=False).rename("rank"))
        spread = ok.max() - ok.min()
        normalized.append(((values - ok.min()) / spread if spread else (values * 0 + 1))
                          .where(~failed[group.index], 0.0)
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
            scores = [f[metric] for f in found if "error" not in f]
            if not scores:
                cells.append("failed")
                continue
            spread = f" ± {np.std(scores):.4f}, {len(scores)} seeds" if len(scores) > 1 else ""
            cells.append(f"{np.mean(scores):.4f}{spread} ({r['fit_s']:.0f}s, "
                         f"{r['models_tried']} models, {r['peak_mb']} MB)")
        lines.append(f"| {name} | {metric} | {' | '.join(cells)} |")
    lines += ["", f"Budget {budget:g} s. Cells: test score (fit seconds, models tried, peak "
              "memory of the process); with several seeds, the mean ± standard deviation "
              "(fit seconds etc. of the first).", ""]
    seeds = sorted({r.get("seed", 0) for r in rows})
    if len(seeds) == 1:
        return "\n".join(lines + [summary_markdown(rows)])
    for seed in seeds:  # AccelML's seed k against the peers' runs
        lines += [f"Seed {seed}:", "", summary_markdown(
            [r for r in rows if not r["system"].startswith("accelml") or
             r.get("seed", 0) == seed]), ""]
    return "\n".join(lines)


def summary_markdown(rows: list[dict]) -> str:
    """Each system's mean rank, mean normalized score and worst overrun, as a markdown table."""
    table = summary(rows).reset_index()
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines)


#: A run of the idle protocol beside more than this many cores of other work is re-run by
#: --resume (the scheduler's own work is about 0.05 cores).
DISTURBED_CORES = 0.3
DATASETS = ROOT.parent / "shared" / "datasets" / "tabular"


def protocol_half(half: str) -> list[Path]:
    """The datasets of one half of bench/protocol.json (or all 36, or the ten of the 300 s
    runs: ``long``)."""
    protocol = json.loads((ROOT / "bench" / "protocol.json").read_text())
    names = protocol["development"] + protocol["confirmation"] if half == "all" \
        else protocol[half]
    return [DATASETS / name for name in names]


def same_run(row: dict, name: str, system: str, budget: float, busy: bool, seed: int) -> bool:
    return (row["dataset"] == name and row["system"] == system and row.get("budget") == budget
            and bool(row.get("busy")) == busy and row.get("seed", 0) == seed)


def usable(row: dict) -> bool:
    """A finished run whose conditions held: a run meant for an idle machine that shared it
    with other work does not count. A stored row whose reading was set aside
    (``other_cores`` null, with a ``load_note`` saying why) counts."""
    return "error" not in row and (row.get("busy") or
                                   (row.get("other_cores") or 0.0) <= DISTURBED_CORES)


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] \
        if path.exists() else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--systems", default="accelml,flaml,autogluon,h2o,lightgbm-default")
    parser.add_argument("--budget", type=float, default=60.0)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--datasets", nargs="+", type=Path)
    where.add_argument("--half", choices=["development", "confirmation", "all", "long"],
                       help="one half of bench/protocol.json (long: its ten 300 s datasets)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--log", type=Path, help="the file every finished run is appended to "
                        "(default OUT/tabular.jsonl); bench/baselines/tabular.jsonl keeps the "
                        "peers' runs")
    parser.add_argument("--baseline", type=Path, action="append", default=[],
                        help="stored rows (bench/baselines/tabular.jsonl) of systems not run "
                        "now, compared as if run now (same budget and --busy)")
    parser.add_argument("--busy", action="store_true",
                        help="a second heavy job (one core, spinning) beside every run")
    parser.add_argument("--seeds", default="0", help="AccelML's seeds, e.g. 0,1,2")
    parser.add_argument("--resume", action="store_true",
                        help="run only the (dataset, system, seed) runs the log lacks, and "
                        "those an idle run shared with other work")
    args = parser.parse_args(argv)
    systems = args.systems.split(",")
    seeds = [int(v) for v in args.seeds.split(",")]
    folders = args.datasets or protocol_half(args.half)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.log or args.out / "tabular.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    logged = read_rows(log)
    rows = []
    for folder in folders:
        name = json.loads((folder / "meta.json").read_text())["name"]
        for system in systems:
            for seed in seeds if system.startswith("accelml") else [0]:
                kept = [r for r in logged if same_run(r, name, system, args.budget, args.busy,
                                                      seed) and usable(r)]
                if args.resume and kept:
                    rows.append(kept[-1])
                    continue
                row = run(system, folder, args.budget, args.out, args.busy, seed)
                rows.append({**row, "budget": args.budget, "seed": seed})
                with log.open("a") as handle:
                    handle.write(json.dumps(rows[-1]) + "\n")
                print(json.dumps(rows[-1]), flush=True)
    names = {json.loads((f / "meta.json").read_text())["name"] for f in folders}
    for path in args.baseline:
        for row in read_rows(path):
            if row["dataset"] in names and row["system"] not in systems \
                    and row.get("budget") == args.budget and bool(row.get("busy")) == args.busy \
                    and usable(row):
                rows = [r for r in rows if not same_run(r, row["dataset"], row["system"],
                                                        args.budget, args.busy, 0)] + [row]
    shown = systems + sorted({r["system"] for r in rows} - set(systems))
    (args.out / "tabular.json").write_text(json.dumps(rows, indent=1))
    text = markdown(rows, args.budget, shown)
    (args.out / "tabular.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
