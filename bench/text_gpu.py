"""GPU check of the fine-tuned transformer (part of one prepared run of at most 10 minutes on a
lent CUDA machine): SST-2, the text_transformer learner fine-tuned directly with its first
portfolio config, then a search of that learner alone through ``accelml.fit`` (successive
halving over steps, warm-started promotions, the final fit).

Prints one JSON line per step: the device, then test accuracy (the 872 GLUE dev sentences),
steps and device-seconds of each method. The target is 0.91 accuracy within about 8 minutes
on an H100.

    python bench/text_gpu.py --data-dir .data/sst2

The device machine receives the repository alone, so the data travels with it (``prepare``
in ``bench/gpu_check.sh`` copies it into ``.data/``). Without CUDA it stops with exit code 2;
smoke runs on CPU: ``--allow-cpu --train-rows 4000 --steps 200 --budget 0 --n-jobs 1``
(the fine-tuning alone), ``--allow-cpu --train-rows 1500 --steps 0 --budget 120`` (the
search alone).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
#: Where SST-2 may lie: beside the repository, inside it, or where gpu_check.sh copies it.
DATA_DIRS = (ROOT.parent / "shared" / "datasets" / "text" / "sst2",
             ROOT / "shared" / "datasets" / "text" / "sst2", ROOT / ".data" / "sst2")


def find_data(given: Path | None) -> Path:
    """The SST-2 folder (train.parquet, test.parquet): the one given, else the first found."""
    for folder in ([given] if given is not None else DATA_DIRS):
        if (folder / "train.parquet").is_file() and (folder / "test.parquet").is_file():
            return folder
    looked = [str(given)] if given is not None else [str(d) for d in DATA_DIRS]
    raise SystemExit(f"SST-2 not found (train.parquet and test.parquet) in {', '.join(looked)}; "
                     "pass --data-dir")


def read(folder: Path, rows: int | None, seed: int = 0) -> tuple:
    """(train, test) frames with columns text and label; ``rows`` samples the training set."""
    import pandas as pd

    train = pd.read_parquet(folder / "train.parquet")[["text", "label"]]
    test = pd.read_parquet(folder / "test.parquet")[["text", "label"]]
    if rows is not None and rows < len(train):
        train = train.sample(rows, random_state=seed).reset_index(drop=True)
    return train, test


def text_features(texts) -> object:
    """Features of raw texts, as the text modality hands them to the transformer."""
    import numpy as np

    from accelml.core.data import Features

    block = np.empty(len(texts), dtype=object)
    block[:] = [str(t) for t in texts]
    return Features(np.empty((len(block), 0)), blocks={"text": block})


def fine_tune(train, test, steps: int, seconds: float, n_jobs: int) -> dict:
    """The learner alone: its first portfolio config for ``steps`` steps (``seconds`` at most)."""
    import numpy as np

    from accelml.core.budget import Deadline
    from accelml.core.data import DataShape
    from accelml.core.task import Task, TaskKind
    from accelml.text.learners.transformer import TextTransformer

    learner = TextTransformer()
    task = Task(TaskKind.BINARY, "label", "log_loss", (0, 1), 1)
    config = learner.portfolio(task, DataShape(len(train), 0))[0]
    started = time.monotonic()
    fitted = learner.fit(text_features(train["text"]), train["label"].to_numpy(np.int64),
                         config, task=task, fidelity=steps, deadline=Deadline.in_seconds(seconds),
                         n_jobs=n_jobs, seed=0)
    trained_s = time.monotonic() - started
    proba = learner.predict(fitted, text_features(test["text"]))
    info = fitted.info
    return {"method": "fine_tune", "config": config,
            "test_accuracy": round(float(np.mean(proba.argmax(axis=1) == test["label"])), 4),
            "steps": info["steps"], "deadline_hit": info["deadline_hit"],
            "step_s": info["step_s"], "train_s": round(trained_s, 1),
            "device_s": round(time.monotonic() - started, 1), "device": info["device"],
            "final_lr_share": info["final_lr_share"]}


def search(train, test, budget: float, n_jobs: int) -> dict:
    """``accelml.fit`` with the transformer alone, for ``budget`` seconds."""
    import numpy as np

    import accelml

    started = time.monotonic()
    predictor = accelml.fit(train, target="label", learners=["text_transformer"],
                            time_budget=budget, quiet=True, n_jobs=n_jobs)
    fitted_s = time.monotonic() - started
    predicted = np.asarray(predictor.predict(test[["text"]]))
    info = predictor.info
    return {"method": "accelml_search", "budget_s": budget,
            "test_accuracy": round(float(np.mean(predicted == test["label"].to_numpy())), 4),
            "fit_s": round(fitted_s, 1), "device_s": round(time.monotonic() - started, 1),
            "trials": info.get("trials"), "search_cost": info.get("search_cost"),
            "final_steps": predictor.members[0].fitted.info.get("steps")}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=6000,
                        help="steps of the direct fine-tuning (6000: about 3 passes at "
                        "32; 0: none)")
    parser.add_argument("--seconds", type=float, default=200.0,
                        help="the direct fine-tuning's deadline")
    parser.add_argument("--budget", type=float, default=180.0,
                        help="time budget of the search (0: no search)")
    parser.add_argument("--train-rows", type=int, default=None, help="sample the training set")
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--allow-cpu", action="store_true", help="a smoke run without CUDA")
    args = parser.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    print(json.dumps({"cuda": cuda, "device": torch.cuda.get_device_name(0) if cuda
                      else "cpu"}), flush=True)
    if not cuda and not args.allow_cpu:
        print("no CUDA device: this check fine-tunes on a GPU (--allow-cpu for a smoke run)",
              file=sys.stderr)
        return 2
    train, test = read(find_data(args.data_dir), args.train_rows)
    if args.steps > 0:
        print(json.dumps(fine_tune(train, test, args.steps, args.seconds, args.n_jobs)),
              flush=True)
    if args.budget > 0:
        print(json.dumps(search(train, test, args.budget, args.n_jobs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
