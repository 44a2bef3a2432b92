"""Forecasting baselines on ../shared/datasets/timeseries: statsforecast's SeasonalNaive,
AutoETS, AutoTheta and AutoARIMA, each timed on one core, and their combinations (the mean
and the median of the three automatic models, and ETS with Theta), scored as AccelML scores
forecasts (:mod:`accelml.timeseries.metrics`: MASE with each meta.json's seasonality, sMAPE).

  .venv/bin/python bench/forecast_baselines.py m3_yearly m3_other --out bench/results_forecast

AutoARIMA is skipped where it would take about an hour (monthly, hourly and weekly sets);
``--arima`` runs it anyway. Writes OUT/baselines_SET.json per set.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pandas as pd  # noqa: E402

from accelml.timeseries.metrics import score_forecasts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "timeseries"
SLOW_ARIMA = ("m3_monthly", "m4_hourly", "m4_weekly")


def forecast(model: object, train: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, float]:
    """One statsforecast model's forecasts of every series, and the seconds they took."""
    from statsforecast import StatsForecast

    started = time.perf_counter()
    frame = StatsForecast(models=[model], freq=1, n_jobs=1).forecast(df=train, h=horizon)
    seconds = time.perf_counter() - started
    column = [c for c in frame.columns if c not in ("unique_id", "ds")][0]
    return frame.rename(columns={column: "y"})[["unique_id", "ds", "y"]], seconds


def run(name: str, arima: bool) -> dict[str, object]:
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

    meta = json.loads((DATA / name / "meta.json").read_text())
    train, test = (pd.read_parquet(DATA / name / f"{p}.parquet") for p in ("train", "test"))
    season, horizon = int(meta["seasonality"]), int(meta["horizon"])
    mase_season = int(meta["metric"].get("mase_seasonality", season))
    models = {"seasonal_naive": SeasonalNaive(season), "auto_ets": AutoETS(season_length=season),
              "auto_theta": AutoTheta(season_length=season)}
    if arima or name not in SLOW_ARIMA:
        models["auto_arima"] = AutoARIMA(season_length=season)
    forecasts, results = {}, {}
    for label, model in models.items():
        forecasts[label], seconds = forecast(model, train, horizon)
        scores = score_forecasts(test, forecasts[label], train, mase_season)
        results[label] = {"mase": round(scores["mase"], 4), "smape": round(scores["smape"], 3),
                          "seconds": round(seconds, 1)}
        print(name, label, results[label], flush=True)
    automatic = [m for m in ("auto_ets", "auto_theta", "auto_arima") if m in forecasts]
    combos = {"ets_theta": ["auto_ets", "auto_theta"]}
    if len(automatic) == 3:
        combos.update({"mean_of_3": automatic, "median_of_3": automatic})
    for label, members in combos.items():
        stacked = pd.concat([forecasts[m].set_index(["unique_id", "ds"])["y"]
                             for m in members], axis=1)
        values = stacked.median(axis=1) if label.startswith("median") else stacked.mean(axis=1)
        combined = values.rename("y").reset_index()
        scores = score_forecasts(test, combined, train, mase_season)
        results[label] = {"mase": round(scores["mase"], 4), "smape": round(scores["smape"], 3),
                          "seconds": round(sum(results[m]["seconds"] for m in members), 1)}
        print(name, label, results[label], flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_forecast")
    parser.add_argument("--arima", action="store_true", help="Run AutoARIMA everywhere.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        results = run(name, args.arima)
        (args.out / f"baselines_{name}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
