"""Rebuild the zero-shot portfolio data (accelml/tabular/zeroshot.json): every candidate
configuration of every tabular learner, validated on every tabular dataset of the benchmark
collection.

Candidates, per task kind: each learner's hand-written portfolio plus a few configurations drawn
at random from its search space (seeded). Each dataset: the training split, subsampled to at
most --max-rows rows, prepared as a run prepares it, validated with 3-fold cross-validation
(the dataset's own metric), two trials at a time with one thread each, at most --trial-limit
seconds per trial (a trial past it counts as the worst). The file keeps, per dataset, each
candidate's loss normalized to [0, 1] (0 the best candidate there, 1 the worst or a failure)
and its seconds; the run picks its portfolio from it by greedy selection, leaving out the
dataset it is run on (accelml.tabular.zeroshot).

    python bench/build_portfolio.py --out accelml/tabular/zeroshot.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from foundation import ROOT, load

DATASETS = ROOT.parent / "shared" / "datasets" / "tabular"
MODULES = ("accelml.tabular.learners",)
#: Random configurations drawn per learner, besides its hand-written portfolio.
RANDOM_PER_LEARNER = {"lightgbm": 8, "xgboost": 5, "catboost": 3, "extra_trees": 2,
                      "random_forest": 2, "linear": 2, "knn": 2}
#: The nominal data size the candidate spaces are drawn for.
NOMINAL_ROWS, NOMINAL_FEATURES = 3000, 20


def candidates(kind: str, seed: int = 0) -> list[tuple[str, dict]]:
    """(learner, config) pairs for one task kind: hand-written portfolios, then random draws."""
    from accelml.core.data import DataShape
    from accelml.core.learner import discover, learners_for
    from accelml.core.samplers import make_sampler
    from accelml.core.task import Task, TaskKind

    discover(MODULES)
    task_kind = TaskKind(kind)
    task = Task(task_kind, "y", "rmse" if kind == "regression" else "log_loss",
                (0, 1, 2) if kind == "multiclass" else (0, 1), 1 if kind == "binary" else None)
    pairs: list[tuple[str, dict]] = []
    shape = DataShape(NOMINAL_ROWS, NOMINAL_FEATURES)
    for learner in learners_for(task_kind, None, (), "tabular"):
        pairs += [(learner.name, dict(config)) for config in learner.portfolio(task, shape)]
        space = dict(learner.space(task, shape))
        if not space:
            continue
        sampler = make_sampler("random", space, seed + len(pairs), None)
        for _ in range(RANDOM_PER_LEARNER.get(learner.name, 2)):
            handle, config = sampler.ask()
            sampler.tell(handle, 0.0)
            pairs.append((learner.name, config))
    return pairs


def data_key(feature_columns: list[str], target: str) -> str:
    from accelml.tabular.zeroshot import data_key as key

    return key(feature_columns, target)


def evaluate(folder: Path, pairs: list[tuple[str, dict]], max_rows: int, limit_s: float
             ) -> dict:
    """Every candidate's loss and seconds on one dataset."""
    from accelml.api import split_target
    from accelml.config import RunConfig
    from accelml.core.engine import build_view
    from accelml.core.executor import LocalExecutor
    from accelml.core.metrics import get_metric
    from accelml.core.task import encode_target, infer_task
    from accelml.core.trial import TrialSpec, TrialStatus
    from accelml.tabular.preprocess import TabularPreprocessor

    meta, train, _ = load(folder)
    if len(train) > max_rows:
        train = train.sample(n=max_rows, random_state=0).reset_index(drop=True)
    features_frame, y = split_target(train, meta["target"])
    metric = meta["metric"]["primary"]
    task = infer_task(y, meta["target"], meta["task"], metric, None)
    features = TabularPreprocessor().fit(features_frame).transform(features_frame)
    view = build_view(features, encode_target(y, task), task,
                      RunConfig(cv_folds=3, holdout_min_rows=10**9, seed=0))
    losses: list[float | None] = [None] * len(pairs)
    seconds = [limit_s] * len(pairs)
    with tempfile.TemporaryDirectory(prefix="accelml-portfolio-") as tmp:
        view.save(Path(tmp) / "view")
        executor = LocalExecutor(Path(tmp) / "view", 2, MODULES)
        try:
            executor.warm_up()
            queue = list(enumerate(pairs))
            while queue or executor.running():
                while queue and executor.free_slots() > 0:
                    index, (learner, config) = queue.pop(0)
                    executor.submit(TrialSpec(index, learner, dict(config), None, limit_s, 0, 1,
                                              output_dir=Path(tmp) / "trials" / str(index)))
                for result in executor.completed(timeout_s=0.2):
                    index = result.spec.trial_id
                    seconds[index] = round(result.cost_s, 3)
                    if result.status is TrialStatus.OK and result.score is not None:
                        losses[index] = get_metric(metric).as_loss(result.score)
        finally:
            executor.shutdown()
    return {"key": data_key(list(features_frame.columns), meta["target"]), "metric": metric,
            "rows": len(train), "normalized": normalize(losses), "seconds": seconds}


def normalize(losses: list[float | None]) -> list[float]:
    """0 for the best candidate, 1 for the worst (and for failures), linear between."""
    done = [loss for loss in losses if loss is not None and np.isfinite(loss)]
    if not done:
        return [1.0] * len(losses)
    best, worst = min(done), max(done)
    span = worst - best or 1.0
    return [1.0 if loss is None or not np.isfinite(loss) else round((loss - best) / span, 5)
            for loss in losses]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=ROOT / "accelml" / "tabular" / "zeroshot.json")
    parser.add_argument("--max-rows", type=int, default=3000)
    parser.add_argument("--trial-limit", type=float, default=20.0)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--datasets", nargs="*", default=None)
    where.add_argument("--half", choices=["development", "confirmation"],
                       help="the datasets of one half of bench/protocol.json")
    parser.add_argument("--reuse", type=Path, help="a portfolio file whose candidates are "
                        "kept and whose measurements are copied instead of run again")
    args = parser.parse_args(argv)
    names = (json.loads((ROOT / "bench" / "protocol.json").read_text())[args.half]
             if args.half else args.datasets)
    names = sorted(names or (p.name for p in DATASETS.iterdir() if p.is_dir()))
    earlier = json.loads(args.reuse.read_text())["kinds"] if args.reuse else {}
    kinds: dict[str, dict] = {}
    started = time.monotonic()
    for name in names:
        kind = json.loads((DATASETS / name / "meta.json").read_text())["task"]
        old = earlier.get(kind, {})
        entry = kinds.setdefault(kind, {  # reusing: that file's candidates, so its
            "candidates": [tuple(pair) for pair in old["candidates"]]  # rows stay comparable
            if old else candidates(kind), "datasets": {}})
        if name in old.get("datasets", {}):
            entry["datasets"][name] = old["datasets"][name]
            continue
        entry["datasets"][name] = evaluate(DATASETS / name, entry["candidates"],
                                           args.max_rows, args.trial_limit)
        print(f"{time.monotonic() - started:7.1f}s {name} ({kind}, "
              f"{len(entry['candidates'])} candidates)", flush=True)
    about = "built by bench/build_portfolio.py" + (
        f" on the {args.half} half of bench/protocol.json" if args.half else "")
    document = {"about": about, "max_rows": args.max_rows,
                "folds": 3, "trial_limit_s": args.trial_limit,
                "kinds": {kind: {"candidates": [[learner, config]
                                                for learner, config in entry["candidates"]],
                                 "datasets": entry["datasets"]}
                          for kind, entry in kinds.items()}}
    args.out.write_text(json.dumps(document, indent=1, default=float))
    print(f"wrote {args.out} in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
