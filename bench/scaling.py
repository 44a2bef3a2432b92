"""Scaling benchmark: trials per minute of the local and Ray executors with 1, 2 and 4 worker
processes, the overhead per trial of each, and the time a killed-and-resumed run loses.

Throughput drives each executor directly with the same trials (so the searcher's choices do
not differ between backends): N copies of one LightGBM config on a real dataset, one thread
each, the slots kept full; and N trials of a learner that does no work (the class prior), whose
wall time per trial is the executor's own overhead. Every worker process is started (by one
untimed trial each) before the clock starts. Ray runs on a private single-node Ray
instance with as many logical CPUs as workers.

Resume runs `accelml fit` on the dataset for the budget, once uninterrupted and once killed
with SIGKILL half way then resumed with `--resume`; it compares the wall time of the two
sessions together with the uninterrupted one.

    python bench/scaling.py throughput --dataset phoneme --trials 60 --out bench/results
    python bench/scaling.py resume --dataset phoneme --budget 60 --out bench/results
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from foundation import ROOT, load

DATASETS = ROOT.parent / "shared" / "datasets" / "tabular"

LEARNER_MODULES = ("accelml.tabular.learners", "accelml.testing.fake_learners")
LAYOUTS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2), ("ray", 4))
#: LightGBM's first portfolio entry (its defaults); the fidelity is left to the learner.
LIGHTGBM = {"learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 20,
            "feature_fraction": 1.0, "bagging_fraction": 1.0, "lambda_l1": 1e-8,
            "lambda_l2": 1e-8, "extra_trees": False}


def _view(dataset: str, workdir: Path) -> Path:
    """Prepare the dataset as a run would and write its view for the executors."""
    from accelml.api import split_target
    from accelml.config import RunConfig
    from accelml.core.engine import build_view
    from accelml.core.task import encode_target, infer_task
    from accelml.tabular.preprocess import TabularPreprocessor

    meta, train, _ = load(DATASETS / dataset)
    features_frame, y = split_target(train, meta["target"])
    task = infer_task(y, meta["target"], meta["task"], meta["metric"]["primary"], None)
    features = TabularPreprocessor().fit(features_frame).transform(features_frame)
    view = build_view(features, encode_target(y, task), task, RunConfig(seed=0))
    view.save(workdir / "view")
    return workdir / "view"


def _executor(backend: str, workers: int, view_dir: Path):
    if backend == "local":
        from accelml.core.executor import LocalExecutor

        return LocalExecutor(view_dir, workers, LEARNER_MODULES)
    from accelml.core.executor_ray import RayExecutor

    return RayExecutor(view_dir, workers, LEARNER_MODULES, num_cpus=workers)


def _drive(executor, learner: str, config: dict, trials: int, workdir: Path) -> dict:
    """Run ``trials`` copies of one trial with every slot kept busy; time them."""
    from accelml.core.trial import TrialSpec, TrialStatus

    executor.warm_up()
    for index in range(executor.free_slots()):  # untimed: start every worker process first
        executor.submit(TrialSpec(-1 - index, "prior", {"shrink": 0.0}, None, 60.0, 0, 1))
    while executor.running():
        list(executor.completed(timeout_s=0.1))
    started, submitted, results = time.monotonic(), 0, []
    while len(results) < trials:
        while submitted < trials and executor.free_slots() > 0:
            executor.submit(TrialSpec(submitted, learner, dict(config), None, 120.0, 0, 1,
                                      output_dir=workdir / learner / str(submitted)))
            submitted += 1
        results.extend(executor.completed(timeout_s=0.1))
    wall = time.monotonic() - started
    ok = sum(r.status is TrialStatus.OK for r in results)
    return {"learner": learner, "trials": trials, "ok": ok, "wall_s": round(wall, 2),
            "trials_per_min": round(60.0 * trials / wall, 1),
            "s_per_trial": round(wall / trials, 4),
            "mean_trial_cost_s": round(sum(r.cost_s for r in results) / len(results), 4)}


def throughput(dataset: str, trials: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="accelml-scaling-") as tmp:
        workdir = Path(tmp)
        view_dir = _view(dataset, workdir)
        for backend, workers in LAYOUTS:
            executor = _executor(backend, workers, view_dir)
            try:
                for learner, config in (("prior", {"shrink": 0.0}), ("lightgbm", LIGHTGBM)):
                    row = {"backend": backend, "workers": workers,
                           **_drive(executor, learner, config, trials, workdir)}
                    print(json.dumps(row), flush=True)
                    rows.append(row)
            finally:
                executor.shutdown()
    return rows


def _fit(train: Path, target: str, out: Path, budget: float, *extra: str
         ) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "accelml.cli", "fit", str(train), "--target", target,
         "--out", str(out), "--time-budget", str(budget), "--quiet", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def resume(dataset: str, budget: float) -> dict:
    import accelml

    folder = DATASETS / dataset
    meta, _, test = load(folder)
    target, metric = meta["target"], meta["metric"]["primary"]
    train = folder / "train.parquet"
    with tempfile.TemporaryDirectory(prefix="accelml-resume-") as tmp:
        straight, broken = Path(tmp) / "straight", Path(tmp) / "broken"
        started = time.monotonic()
        _, stderr = _fit(train, target, straight, budget).communicate()
        straight_wall = time.monotonic() - started
        assert (straight / "manifest.json").exists(), stderr

        started = time.monotonic()
        process = _fit(train, target, broken, budget)
        time.sleep(budget / 2)
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed_wall = time.monotonic() - started
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "accelml.cli", "fit", "--resume",
                               str(broken), "--quiet"], capture_output=True, text=True)
        resumed_wall = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        first, second = accelml.load(straight), accelml.load(broken)
        return {
            "dataset": dataset, "budget_s": budget,
            "uninterrupted_wall_s": round(straight_wall, 2),
            "uninterrupted_trials": first.info["trials"],
            "uninterrupted_score": round(first.evaluate(test)[metric], 5),
            "killed_session_wall_s": round(killed_wall, 2),
            "spent_before_kill_s": second.info["spent_before_resume_s"],
            "resumed_session_wall_s": round(resumed_wall, 2),
            "both_sessions_wall_s": round(killed_wall + resumed_wall, 2),
            "time_lost_s": round(killed_wall + resumed_wall - straight_wall, 2),
            "trials_kept": second.info["resumed_trials"], "trials": second.info["trials"],
            "resumed_score": round(second.evaluate(test)[metric], 5), "metric": metric,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("throughput", "resume"))
    parser.add_argument("--dataset", default="phoneme")
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.what == "throughput":
        result: object = throughput(args.dataset, args.trials)
    else:
        result = resume(args.dataset, args.budget)
        print(json.dumps(result, indent=2))
    (args.out / f"scaling_{args.what}.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
