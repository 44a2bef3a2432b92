"""AccelML's forecasts on ../shared/datasets/timeseries next to statsforecast's baselines
(``bench/forecast_baselines.py``), scored by the same code (MASE with each meta.json's
seasonality, sMAPE), with the fit time and the forecast latency of one series and of all.

  .venv/bin/python bench/forecast.py m3_monthly --budget 240
  .venv/bin/python bench/forecast.py --table      # the markdown table of bench/RESULTS.md

Each run writes OUT/accelml_SET.json; the table reads those and the baselines' files.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "timeseries"
OUT = ROOT / "bench" / "results_forecast"
SETS = ("m3_monthly", "m3_quarterly", "m3_yearly", "m3_other", "m4_hourly", "m4_weekly")
#: The reference figures the baselines were first measured at on this machine: (the best
#: MASE of the row, the seconds it took).
REFERENCE = {"m3_monthly": (0.841, 259), "m3_quarterly": (1.075, 390),
             "m3_yearly": (2.598, 2), "m3_other": (1.801, 1), "m4_hourly": (1.193, 0),
             "m4_weekly": (2.498, 274)}
LATENCY_REPEATS = 20


def run(name: str, budget: float, seed: int) -> dict[str, object]:
    import accelml
    from accelml.timeseries.metrics import score_forecasts

    meta = json.loads((DATA / name / "meta.json").read_text())
    train, test = (pd.read_parquet(DATA / name / f"{p}.parquet") for p in ("train", "test"))
    season, horizon = int(meta["seasonality"]), int(meta["horizon"])
    mase_season = int(meta["metric"].get("mase_seasonality", season))
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        accelml.fit(train, "y", budget, task="forecast", id_column="unique_id",
                    time_column="ds", horizon=horizon, season_length=season,
                    seed=seed, out=Path(scratch) / "model", quiet=True)
        fit_s = time.perf_counter() - started
        loaded = accelml.load(Path(scratch) / "model")
    started = time.perf_counter()
    forecast = loaded.forecast()
    all_s = time.perf_counter() - started
    one = str(train["unique_id"].iloc[0])
    times = []
    for _ in range(LATENCY_REPEATS):
        started = time.perf_counter()
        loaded.forecast(ids=[one])
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    loaded.forecast(history=train)  # every member applied to a history given at call time
    history_all_s = time.perf_counter() - started
    alone = train[train["unique_id"] == one]
    started = time.perf_counter()
    loaded.forecast(history=alone)
    history_one_s = time.perf_counter() - started
    quantiles = loaded.preprocessor.quantiles  # type: ignore[attr-defined]
    scored = forecast.rename(columns={f"y_q{q:g}": f"q{q:g}" for q in quantiles})
    scores = score_forecasts(test, scored, train, mase_season, quantiles=quantiles)
    board = loaded.leaderboard()
    board.to_csv(OUT / f"leaderboard_{name}.csv", index=False)
    result = {"mase": round(scores["mase"], 4), "smape": round(scores["smape"], 3),
              "coverage_0.1_0.9": round(scores.get("coverage_0.1_0.9", float("nan")), 3),
              "budget_s": budget, "fit_s": round(fit_s, 1),
              "forecast_all_s": round(all_s, 3),
              "forecast_one_ms": round(1000 * statistics.median(times), 1),
              "history_all_s": round(history_all_s, 2),
              "history_one_ms": round(1000 * history_one_s, 1),
              "seed": seed, "trials": int(len(board)),
              "ensemble": [{"learner": board.set_index("trial").loc[m["trial"], "learner"],
                            "weight": m["weight"]} for m in loaded.info["ensemble"]],
              "backtests": next((n for n in loaded.info["notes"] if "backtest" in n), ""),
              "best_by_learner": {k: round(float(v), 4) for k, v in
                                  board[board.status == "ok"].groupby("learner")["mase"]
                                  .min().items()}}
    print(name, json.dumps(result), flush=True)
    return result


def table(out: Path) -> str:
    rows = ["| set | budget (s) | AccelML MASE | sMAPE | fit (s) | best baseline here "
            "(s) | issue's best (s) | below the best, in less time | forecast all / one "
            "series | from a new history: all / one |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name in SETS:
        path = out / f"accelml_{name}.json"
        if not path.exists():
            continue
        mine = json.loads(path.read_text())
        base = json.loads((out / f"baselines_{name}.json").read_text())
        label, best = min(base.items(), key=lambda item: item[1]["mase"])
        ref, ref_s = REFERENCE[name]
        wins = mine["mase"] < min(ref, best["mase"]) and mine["fit_s"] < max(ref_s, 1)
        rows.append(f"| {name} | {mine['budget_s']:g} | {mine['mase']:.3f} | "
                    f"{mine['smape']:.2f} | {mine['fit_s']:.0f} | {best['mase']:.3f} {label} "
                    f"({best['seconds']:.0f}) | {ref:.3f} ({ref_s}) | "
                    f"{'yes' if wins else 'no'} | {1000 * mine['forecast_all_s']:.0f} ms / "
                    f"{mine['forecast_one_ms']:.1f} ms | {mine.get('history_all_s', 0):.1f} s / "
                    f"{mine.get('history_one_ms', 0):.0f} ms |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*")
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    for name in args.datasets:
        result = run(name, args.budget, args.seed)
        (args.out / f"accelml_{name}.json").write_text(json.dumps(result, indent=1))
    if args.table:
        print(table(args.out))


if __name__ == "__main__":
    main()
