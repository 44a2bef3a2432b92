"""How long explanations and the report take: SHAP contributions with per-row reasons,
permutation importance and partial dependence of 1,000 rows for a LightGBM model and a
blend (adult, 60 s fits) and a stacked model (jungle_chess, where the stacker wins its
cross-validation; on adult it does not and the blend is served), and the HTML report of the
largest table of ../shared/datasets/tabular (diamonds), with its test rows, a slice and the
explanations.

  .venv/bin/python bench/explain.py            # writes bench/results_explain/timings.json
  .venv/bin/python bench/explain.py --parts stacked   # one part again, the others kept

One fit at a time, both cores; the timings are of this machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "tabular"
OUT = ROOT / "bench" / "results_explain"
ROWS = 1000
#: name: (dataset, fit options) of the three models explained.
MODELS = {"lightgbm": ("adult", {"learners": ["lightgbm"], "ensemble_size": 1,
                                 "stacking": False}),
          "blend": ("adult", {"stacking": False}),
          "stacked": ("jungle_chess", {"stacking": True})}


def load(name: str) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    folder = DATA / name
    meta = json.loads((folder / "meta.json").read_text())
    return meta, pd.read_parquet(folder / "train.parquet"), pd.read_parquet(
        folder / "test.parquet")


def timed(step: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = step()
    return result, round(time.perf_counter() - started, 2)


def explain_time(label: str, budget: float) -> dict[str, Any]:
    import accelml
    from accelml.explain.dependence import partial_dependence
    from accelml.explain.importance import permutation_importance

    name, options = MODELS[label]
    meta, train, test = load(name)
    rows = test.sample(ROWS, random_state=0)
    predictor = accelml.fit(train, meta["target"], time_budget=budget, seed=0, quiet=True,
                            **options)
    reasons, reasons_s = timed(lambda: predictor.explain(rows, max_rows=ROWS))
    importance, importance_s = timed(lambda: permutation_importance(predictor, rows,
                                                                    max_rows=ROWS))
    top = list(importance["feature"][:3])
    _, dependence_s = timed(lambda: partial_dependence(predictor, rows, top))
    found = {"model": label, "dataset": name,
             "members": [m.learner for m in predictor.members],
             "stacked": predictor.stacker is not None,
             "method": reasons.attrs["method"], "exact": reasons.attrs["exact"],
             "reasons_s": reasons_s, "importance_s": importance_s,
             "dependence_s": dependence_s, "top_features": top}
    print(found, flush=True)
    return found


def report_time(name: str, budget: float, slice_by: str) -> dict[str, Any]:
    import accelml
    from accelml.explain.report import write_report

    meta, train, test = load(name)
    predictor = accelml.fit(train, meta["target"], time_budget=budget, seed=0, quiet=True)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.html"
        _, seconds = timed(lambda: write_report(predictor, path, test, slice_by=[slice_by]))
        size = path.stat().st_size
    found = {"dataset": name, "train_rows": len(train), "test_rows": len(test),
             "report_s": seconds, "report_bytes": size, "slice_by": slice_by}
    print(found, flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--parts", default="lightgbm,blend,stacked,report")
    parser.add_argument("--report-dataset", default="diamonds")
    parser.add_argument("--slice-by", default="cut")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "timings.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    for part in args.parts.split(","):
        results[part] = (report_time(args.report_dataset, args.budget, args.slice_by)
                         if part == "report" else explain_time(part, args.budget))
        path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
