"""GPU check (one prepared run of at most 10 minutes on a lent CUDA machine): the network search
on the CIFAR-10 subset, next to a fixed ResNet-18-style network given the same time.

Prints test accuracy, training images per second and device-seconds for both.

    python bench/vision_gpu.py --budget 240

The device machine receives the repository alone, so the data travels with it: copy
``cifar10_subset`` into a folder that ``.git/info/exclude`` ignores (``.data/``), carry that
folder and pass ``--root .data``. A smoke run on CPU: ``--budget 20 --n-jobs 2``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vision import ROOT, accuracy, load, run_fixed  # noqa: E402

RESNET18 = {"n_stages": 4, "depth_0": 2, "depth_1": 2, "depth_2": 2, "depth_3": 2,
            "width_0": 64, "width_1": 128, "width_2": 256, "width_3": 512, "kernel": 3,
            "block": "residual", "se": False, "norm": "batch", "activation": "relu",
            "stem": "conv3", "downsample": "stride", "dropout": 0.0, "resolution": 32,
            "lr_scale": 1.0, "weight_decay": 5e-4, "batch_size": 256, "label_smoothing": 0.1,
            "aug_strength": 0.5, "flip": True, "mixup": 0.0, "optimizer": "sgd"}


def images_per_s(info: dict) -> float:
    """Training throughput of a fitted network: images stepped through over its
    device-seconds (start-up and the holdout pass included, so a floor)."""
    seconds = max(float(info.get("device_s") or 1e-9), 1e-9)
    return round(float(info.get("images_seen") or 0) / seconds, 1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=240.0)
    parser.add_argument("--root", type=Path, default=ROOT.parent / "shared" / "datasets" /
                        "image")
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1,
                        help="CPU threads for each run (the search and the fixed network)")
    args = parser.parse_args()
    import torch

    import accelml

    print(json.dumps({"cuda": torch.cuda.is_available(),
                      "device": torch.cuda.get_device_name(0) if torch.cuda.is_available()
                      else "cpu"}), flush=True)
    x_train, y_train, x_test, y_test = load("cifar10_subset", args.root)
    searched = accelml.fit((x_train, y_train), time_budget=args.budget, quiet=True,
                            n_jobs=args.n_jobs)
    cost = searched.info["search_cost"]
    final = searched.members[0].fitted.info
    print(json.dumps({"method": "accelml_search", "test_accuracy": accuracy(
        searched, x_test, y_test), "search_cost": cost, "trials": searched.info["trials"],
        "final_images_per_s": images_per_s(final)}), flush=True)
    predictor, info = run_fixed(x_train, y_train, args.budget, 0, config=RESNET18,
                                n_jobs=args.n_jobs)
    print(json.dumps({"method": "resnet18_fixed", "test_accuracy": accuracy(
        predictor, x_test, y_test), "images_per_s": images_per_s(info),
        **info}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
