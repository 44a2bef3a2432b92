"""Image benchmark: AccelML's network search next to (a) a fixed hand-designed CNN trained for
the same budget and (b) random search over the same space at the same budget, with the
hand-designed seeds first (as the search has them) and without.

Datasets: scikit-learn's digits (fixed stratified 75/25 split, seed 0), and
../shared/datasets/image/{mnist_subset, cifar10_subset} (their fixed train/test files).

    python bench/vision.py --budget 300 --out bench/results
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ["digits", "mnist_subset", "cifar10_subset"]
#: random_search runs the hand-designed seeds first, as the search does; random_unseeded is
#: random search over the space alone (no seeds).
METHODS = ["accelml", "random_search", "random_unseeded", "fixed_cnn"]
#: The fixed network's planned epochs: more than any budget here fits (the deadline decides).
UNBOUNDED_EPOCHS = 100_000


def load(name: str, root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test), x uint8 N x H x W [x C]."""
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        x = np.clip(digits.images * 16, 0, 255).astype(np.uint8)
        x_train, x_test, y_train, y_test = train_test_split(
            x, digits.target, test_size=0.25, random_state=0, stratify=digits.target)
        return x_train, y_train, x_test, y_test
    train = np.load(root / name / "train.npz")
    test = np.load(root / name / "test.npz")
    return train["x"], train["y"], test["x"], test["y"]


def run_search(x: np.ndarray, y: np.ndarray, budget: float, method: str, seed: int) -> tuple:
    import accelml

    options = {"quiet": True, "seed": seed}
    if method in ("random_search", "random_unseeded"):
        options.update(sampler="random", multi_fidelity=False,
                       portfolios=method == "random_search")
    predictor = accelml.fit((x, y), time_budget=budget, **options)
    return predictor, predictor.info


def run_fixed(x: np.ndarray, y: np.ndarray, budget: float, seed: int,
              config: dict | None = None, n_jobs: int = 2) -> tuple:
    """One fixed network (the first hand-designed seed, the small ResNet, or the tiny-image
    net on images of 16 pixels or less, unless ``config`` is given) trained
    from scratch for the whole budget: asked for more epochs than can fit, its schedule is
    re-planned after each epoch to end, annealed, at the deadline. (Timing one epoch up front
    overstated an epoch's cost on tiny images, where start-up is most of it, and left most of
    the budget unused.)"""
    import pandas as pd

    from accelml.core.budget import Budget
    from accelml.core.learner import discover, get_learner
    from accelml.core.predictor import Member, Predictor
    from accelml.core.task import encode_target, infer_task
    from accelml.vision.data import load_training_images
    from accelml.vision.preprocess import ImagePreprocessor
    from accelml.vision.space import image_shape_from, seed_architectures

    clock = Budget(budget)
    discover(("accelml.vision.learners",))
    images = load_training_images((x, y))
    labels = pd.Series(images.labels)
    task = infer_task(labels, "label", "multiclass", "log_loss")
    preprocessor = ImagePreprocessor().fit(images)
    features = preprocessor.transform(images)
    codes = encode_target(labels, task)
    learner = get_learner("cnn")
    shape = features.item_shape
    default = seed_architectures(image_shape_from(0, shape))[0]  # the dependable default
    config = learner.resolve(config or default, shape)
    fitted = learner.fit(features, codes, config, task=task, fidelity=UNBOUNDED_EPOCHS,
                         deadline=clock.deadline(reserve_s=1.0), n_jobs=n_jobs, seed=seed)
    epochs = fitted.info.get("epochs_done")
    predictor = Predictor(task, preprocessor, [Member("cnn", config, fitted)])
    return predictor, {"fit_wall_s": round(clock.elapsed(), 2), "epochs": epochs, "trials": 1,
                       "epochs_done": epochs,
                       "device": fitted.info.get("device"),
                       "device_s": fitted.info.get("device_s"),
                       "images_seen": fitted.info.get("images_seen")}


def accuracy(predictor, x: np.ndarray, y: np.ndarray) -> float:
    predicted = np.asarray(predictor.predict(x))
    return float(np.mean(predicted.astype(np.int64) == y))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--datasets", nargs="*", default=DATASETS)
    parser.add_argument("--methods", nargs="*", default=METHODS)
    parser.add_argument("--root", type=Path, default=ROOT.parent / "shared" / "datasets" /
                        "image")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        x_train, y_train, x_test, y_test = load(name, args.root)
        for method in args.methods:
            started = time.monotonic()
            if method == "fixed_cnn":
                predictor, info = run_fixed(x_train, y_train, args.budget, args.seed)
            else:
                predictor, info = run_search(x_train, y_train, args.budget, method, args.seed)
            wall = time.monotonic() - started
            row = {"dataset": name, "method": method, "budget_s": args.budget,
                   "test_accuracy": round(accuracy(predictor, x_test, y_test), 4),
                   "fit_wall_s": round(wall, 1), "trials": info.get("trials"),
                   "pruned_trials": info.get("pruned_trials"),
                   "search_ended_by": info.get("search_ended_by"),
                   "search_cost": info.get("search_cost"),
                   "final": info.get("final_learner"), "epochs": info.get("epochs"),
                   "final_fidelity": info.get("final_fidelity"),
                   "ensemble": info.get("ensemble"), "phases_s": info.get("phases_s")}
            print(json.dumps(row), flush=True)
            (args.out / f"vision_{name}_{method}.json").write_text(json.dumps(row, indent=2))
            if hasattr(predictor, "leaderboard"):
                predictor.leaderboard().to_csv(args.out / f"vision_{name}_{method}_board.csv",
                                               index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
