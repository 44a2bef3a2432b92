"""GPU check (one prepared run of at most 10 minutes on a lent CUDA machine): the network search
on the CIFAR-10 subset, next to a fixed ResNet-18-style network given the same time.

Prints test accuracy, training images per second and device-seconds for both.

    python bench/vision_gpu.py --budget 240
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vision import ROOT, accuracy, load  # noqa: E402

RESNET18 = {"n_stages": 4, "depth_0": 2, "depth_1": 2, "depth_2": 2, "depth_3": 2,
            "width_0": 64, "width_1": 128, "width_2": 256, "width_3": 512, "kernel": 3,
            "block": "residual", "se": False, "norm": "batch", "activation": "relu",
            "stem": "conv3", "downsample": "stride", "dropout": 0.0, "resolution": 32,
            "lr_scale": 1.0, "weight_decay": 5e-4, "batch_size": 256, "label_smoothing": 0.1,
            "aug_strength": 0.5, "flip": True, "mixup": 0.0, "optimizer": "sgd"}


def resnet18_for(budget: float, x: np.ndarray, y: np.ndarray, seed: int) -> dict:
    """Train the fixed network for as many epochs as fit in ``budget``."""
    import pandas as pd

    from accelml.core.budget import Budget, Deadline
    from accelml.core.learner import discover, get_learner
    from accelml.core.predictor import Member, Predictor
    from accelml.core.task import encode_target, infer_task
    from accelml.vision.data import load_training_images
    from accelml.vision.preprocess import ImagePreprocessor

    clock = Budget(budget)
    discover(("accelml.vision.learners",))
    images = load_training_images((x, y))
    labels = pd.Series(images.labels)
    task = infer_task(labels, "label", "multiclass", "log_loss")
    preprocessor = ImagePreprocessor().fit(images)
    features = preprocessor.transform(images)
    codes = encode_target(labels, task)
    learner = get_learner("cnn")
    started = time.monotonic()
    learner.fit(features, codes, RESNET18, task=task, fidelity=1, deadline=Deadline.never(),
                n_jobs=16, seed=seed)
    epoch_s = time.monotonic() - started
    epochs = max(1, int(clock.remaining() * 0.92 / epoch_s))
    fitted = learner.fit(features, codes, RESNET18, task=task, fidelity=epochs,
                         deadline=clock.deadline(reserve_s=1.0), n_jobs=16, seed=seed)
    predictor = Predictor(task, preprocessor, [Member("cnn", RESNET18, fitted)])
    info = fitted.info
    return {"predictor": predictor, "epochs": info.get("epochs_done"),
            "device_s": info.get("device_s"), "device": info.get("device"),
            "images_per_s": round(len(x) * float(info.get("epochs_done", 0)) /
                                  max(float(info.get("device_s", 1e-9)), 1e-9), 1)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=240.0)
    parser.add_argument("--root", type=Path, default=ROOT.parent / "shared" / "datasets" /
                        "image")
    args = parser.parse_args()
    import torch

    import accelml

    print(json.dumps({"cuda": torch.cuda.is_available(),
                      "device": torch.cuda.get_device_name(0) if torch.cuda.is_available()
                      else "cpu"}), flush=True)
    x_train, y_train, x_test, y_test = load("cifar10_subset", args.root)
    searched = accelml.fit((x_train, y_train), time_budget=args.budget, quiet=True)
    cost = searched.info["search_cost"]
    final = searched.members[0].fitted.info
    print(json.dumps({"method": "accelml_search", "test_accuracy": accuracy(
        searched, x_test, y_test), "search_cost": cost, "trials": searched.info["trials"],
        "final_images_per_s": round(len(x_train) * float(final.get("epochs_done", 0)) / max(
            float(final.get("device_s", 1e-9)), 1e-9), 1)}), flush=True)
    baseline = resnet18_for(args.budget, x_train, y_train, seed=0)
    predictor = baseline.pop("predictor")
    print(json.dumps({"method": "resnet18_fixed", "test_accuracy": accuracy(
        predictor, x_test, y_test), **baseline}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
