"""Recommendation benchmark: AccelML at the stated budgets next to the baselines of
bench/recsys_baselines.py (most popular, implicit ALS defaults, EASE / item-kNN / iALS each
tuned by grid), on ../shared/datasets/recsys, every system ranking the whole catalogue for
each test user (relevant = the user's test items, and = those rated 4 or more).

  .venv/bin/python bench/recsys.py                      # both sets, their budgets
  .venv/bin/python bench/recsys.py --datasets movielens_100k --budgets 120

MovieLens 100K runs at 120 s and 600 s, MovieLens latest-small at 300 s. For each AccelML
model: time to the first model, one user's top 10 in process and over HTTP (1,000 calls to
``accelml serve``: median and p99), 1,000 users in one call, and peak memory of the run and
of the server. ``--relevant-min 4`` validates counting only ratings of 4 or more as relevant
(the second relevance definition); ``--busy`` keeps one of the two cores busy with another
process for the whole run. Writes OUT/recsys.json and OUT/recsys.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "recsys"
PYTHON = ROOT / ".venv" / "bin" / "python"
BUDGETS = {"movielens_100k": [120, 600], "movielens_latest_small": [300]}
BASELINES = ("popularity", "ials_defaults", "ease_grid", "item_knn_grid", "ials_grid")


def over_http(model: Path, users: list[object], calls: int = 1000) -> dict[str, float]:
    """Median and p99 of one-user /v1/recommend requests to ``accelml serve``, and the
    server's resident memory."""
    sys.path.insert(0, str(ROOT / "bench"))
    from serving import server_timings

    def body(index: int) -> bytes:
        return json.dumps({"user": users[index % len(users)], "k": 10}).encode()

    return server_timings(PYTHON, model, "/v1/recommend", body, calls)


def label(run: dict[str, object]) -> str:
    """How a run is named in the tables."""
    extra = [f"relevant-min {run['relevant_min']:g}"] if run.get("relevant_min") else []
    extra += ["one core busy"] if run.get("busy") else []
    return f"AccelML {run['budget']} s" + (f" ({', '.join(extra)})" if extra else "")


def _key(run: dict[str, object]) -> tuple[object, ...]:
    return run["dataset"], run["budget"], run.get("relevant_min"), bool(run.get("busy"))


def run_accelml(dataset: str, budget: int, out: Path, relevant_min: float | None = None,
                busy: bool = False) -> dict[str, object]:
    setting = {"relevant_min": relevant_min, "busy": busy}
    folder = out / (f"{dataset}_{budget}" + (f"_min{relevant_min:g}" if relevant_min else "")
                    + ("_busy" if busy else ""))
    folder.mkdir(parents=True, exist_ok=True)
    command = [str(PYTHON), str(ROOT / "bench" / "recsys_runner.py"), "--dataset",
               str(DATA / dataset), "--budget", str(budget), "--out", str(folder)]
    if relevant_min is not None:
        command += ["--relevant-min", str(relevant_min)]
    load = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=budget * 3 + 600)
    finally:
        if load is not None:
            load.kill()
    if done.returncode != 0:
        return {"dataset": dataset, "budget": budget, **setting, "error": done.stderr[-2000:]}
    facts = json.loads((folder / "facts.json").read_text())
    import pandas as pd

    users = pd.read_parquet(DATA / dataset / "test.parquet").user_id.unique().tolist()
    facts["one_user_http"] = over_http(folder / "model", users)
    return {"dataset": dataset, "budget": budget, **setting, **facts}


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
                lines.append(f"| {label(run)} | " + " | ".join(
                    f"{scores[m]:.4f}" for m in metrics) + " |")
            for name in BASELINES:
                scores = baselines.get(dataset, {}).get(name, {}).get(relevance)
                if scores:
                    lines.append(f"| {name} | " + " | ".join(
                        f"{scores[m]:.4f}" for m in metrics) + " |")
    lines += ["\n| dataset | run | fit s | first model s | trials | members | "
              "one user in process median / p99 ms | over HTTP median / p99 ms | "
              "1,000 users ms | run peak MB | server MB |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        if "test" not in run:
            lines.append(f"| {run['dataset']} | {label(run)} | error | | | | | | | | |")
            continue
        local, http_ = run["one_user_in_process"], run["one_user_http"]
        members = ", ".join(f"{m['learner']} {m['weight']}" for m in run["members"])
        lines.append(
            f"| {run['dataset']} | {label(run)} | {run['fit_s']} | {run['first_model_s']} | "
            f"{run['trials']} | {members} | {local['median_ms']} / {local['p99_ms']} | "
            f"{http_['median_ms']} / {http_['p99_ms']} | {run['thousand_users_batch_ms']} | "
            f"{run['peak_rss_mb']} | {http_['server_rss_mb']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(BUDGETS))
    parser.add_argument("--budgets", default=None, help="Comma-separated, for every set.")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_recsys")
    parser.add_argument("--relevant-min", type=float, default=None)
    parser.add_argument("--busy", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    record = args.out / "recsys.json"
    runs = json.loads(record.read_text()) if record.is_file() else []
    for dataset in args.datasets.split(","):
        budgets = ([int(b) for b in args.budgets.split(",")] if args.budgets
                   else BUDGETS[dataset])
        for budget in budgets:
            result = run_accelml(dataset, budget, args.out, args.relevant_min, args.busy)
            runs = [r for r in runs if _key(r) != _key(result)]
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
