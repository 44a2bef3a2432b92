"""Anytime benchmark: how soon a run has its first usable model, on every tabular dataset.

For each dataset of ../shared/datasets/tabular, one `accelml.fit` with a short budget; records
`first_model_s` (seconds from the start of the call, data checks and preprocessing included,
to the first trial that produced a model), the fit wall time and the test score. Writes
OUT/anytime.json and prints a markdown table.

    python bench/anytime.py --budget 10 --out bench/results
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from foundation import ROOT, load

TARGET_S = 5.0


def run_one(folder: Path, budget: float) -> dict:
    import accelml

    meta, train, test = load(folder)
    metric = meta["metric"]["primary"]
    started = time.monotonic()
    predictor = accelml.fit(train, meta["target"], budget, task=meta["task"], metric=metric,
                            quiet=True)
    wall = time.monotonic() - started
    return {"dataset": meta["name"], "rows_train": len(train), "columns": train.shape[1] - 1,
            "first_model_s": predictor.info["first_model_s"], "fit_wall_s": round(wall, 2),
            "trials": predictor.info["trials"], "metric": metric,
            "score": predictor.evaluate(test)[metric]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--root", type=Path, default=ROOT.parent / "shared" / "datasets" /
                        "tabular")
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    names = args.datasets or sorted(p.name for p in args.root.iterdir() if p.is_dir())
    rows = []
    for name in names:
        row = run_one(args.root / name, args.budget)
        print(json.dumps(row), flush=True)
        rows.append(row)
    (args.out / "anytime.json").write_text(json.dumps(rows, indent=1))
    print("| dataset | train rows | columns | first model s | fit wall s | trials |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dataset']} | {r['rows_train']} | {r['columns']} | {r['first_model_s']} | "
              f"{r['fit_wall_s']} | {r['trials']} |")
    late = [r["dataset"] for r in rows if (r["first_model_s"] or 1e9) > TARGET_S]
    print(f"within {TARGET_S:g} s: {len(rows) - len(late)} of {len(rows)}; later: {late}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
