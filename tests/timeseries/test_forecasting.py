"""Forecasting end to end: fit from long series, forecast (from the training history or a
new one, with covariates), intervals, evaluation, saving, the CLI, the server; and every
bad input it handles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import accelml
from accelml.cli import app
from accelml.core.forecasting import backtest_truth, mase, series_scales
from accelml.core.predictor import Predictor
from accelml.core.task import Task, TaskKind
from accelml.errors import ConfigError, DataError
from accelml.testing.forecast_data import HORIZON, SEASON, series_frame
from accelml.timeseries.metrics import seasonal_scale
from accelml.timeseries.modality import Backtests, backtest_windows

pytest.importorskip("statsforecast")
pytest.importorskip("mlforecast")

RUN = {"task": "forecast", "id_column": "store", "time_column": "month", "horizon": HORIZON,
       "season_length": SEASON, "time_budget": 15, "quiet": True, "n_workers": 1,
       "max_trials": 6}
LEARNERS = ("seasonal_naive", "theta", "global_lightgbm")
LENGTH = 48


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return series_frame(n_series=5, length=LENGTH + HORIZON, seed=1)


@pytest.fixture(scope="module")
def history(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["month"] <= LENGTH]


@pytest.fixture(scope="module")
def actuals(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["month"] > LENGTH]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, history: pd.DataFrame) -> Path:
    out = tmp_path_factory.mktemp("forecast") / "model"
    accelml.fit(history, "sales", learners=LEARNERS, out=out, **RUN)
    return out


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Predictor:
    return accelml.load(model_dir)


def test_a_forecast_holds_every_series_step_and_quantile(model: Predictor) -> None:
    forecast = model.forecast()
    assert list(forecast.columns) == ["store", "month", "sales", "sales_q0.1", "sales_q0.9"]
    assert len(forecast) == 5 * HORIZON
    first = forecast[forecast["store"] == "s0"]
    assert first["month"].tolist() == list(range(LENGTH + 1, LENGTH + HORIZON + 1))
    assert (forecast["sales_q0.1"] <= forecast["sales"]).all()
    assert (forecast["sales"] <= forecast["sales_q0.9"]).all()
    shorter = model.forecast(horizon=2, ids=["s1"])
    assert len(shorter) == 2 and set(shorter["store"]) == {"s1"}


def test_a_precomputed_forecast_is_the_forecast_the_members_give(model: Predictor) -> None:
    from accelml.timeseries.forecast import PRECOMPUTED, PRECOMPUTED_COLUMNS

    assert model.info["precomputed_forecast"] is True
    looked_up = model.forecast(horizon=4, ids=["s3", "s1"])
    kept = {k: model.preprocessor.history.pop(k) for k in (PRECOMPUTED, PRECOMPUTED_COLUMNS)}
    try:
        computed = model.forecast(horizon=4, ids=["s3", "s1"])
    finally:
        model.preprocessor.history.update(kept)
    pd.testing.assert_frame_equal(looked_up, computed)


def test_the_model_beats_seasonal_naive_and_its_interval_covers(model: Predictor,
                                                               actuals: pd.DataFrame) -> None:
    scores = model.evaluate(actuals)
    assert {"mase", "smape", "mape", "mae", "rmse", "pinball_0.1", "coverage_0.1_0.9"} <= set(
        scores)
    assert scores["mase"] < 1.0  # better than the in-sample seasonal naive error
    assert scores["coverage_0.1_0.9"] >= 0.5
    assert model.info["intervals"]["residuals"] > 0
    assert model.info["ensemble"]


def test_a_new_history_is_forecast_without_refitting_the_search(model: Predictor,
                                                               frame: pd.DataFrame) -> None:
    newer = frame[frame["month"] <= LENGTH + 2].copy()
    newer.loc[newer["store"] == "s0", "sales"] += 100.0
    forecast = model.forecast(history=newer)
    assert forecast["month"].min() == LENGTH + 3
    base = model.forecast()
    shifted = forecast[forecast["store"] == "s0"]["sales"].mean()
    assert shifted > base[base["store"] == "s0"]["sales"].mean() + 50


def test_dates_and_covariates_need_their_future_values(tmp_path: Path) -> None:
    data = series_frame(n_series=3, length=40, dates=True)
    model = accelml.fit(data, "sales", covariates=("price",), learners=("global_lightgbm",),
                        quantiles=(0.1, 0.5, 0.9), **{**RUN, "season_length": None})
    with pytest.raises(DataError, match="--future"):
        model.forecast()
    last = data["month"].max()
    months = pd.date_range(last, periods=HORIZON + 1, freq="MS")[1:]
    future = pd.DataFrame([(s, m, 10.0) for s in ("s0", "s1", "s2") for m in months],
                          columns=["store", "month", "price"])
    forecast = model.forecast(future=future)
    assert forecast["month"].min() == months[0]
    assert {"sales_q0.1", "sales_q0.5", "sales_q0.9"} <= set(forecast.columns)
    with pytest.raises(DataError, match="lack covariate values"):
        model.forecast(future=future.iloc[:-1])


def test_cli_fits_forecasts_plots_and_evaluates(tmp_path: Path, model_dir: Path,
                                               actuals: pd.DataFrame) -> None:
    runner = CliRunner()
    out = tmp_path / "fc.csv"
    result = runner.invoke(app, ["forecast", str(model_dir), "-o", str(out), "--plot", "s0,s2"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert len(written) == 5 * HORIZON and "sales_q0.9" in written
    plot = tmp_path / "fc_plot.png"
    assert plot.read_bytes()[:4] == b"\x89PNG"
    held = tmp_path / "actuals.csv"
    actuals.to_csv(held, index=False)
    result = runner.invoke(app, ["evaluate", str(model_dir), str(held), "--json"])
    assert result.exit_code == 0 and '"mase"' in result.output
    result = runner.invoke(app, ["forecast", str(model_dir), "--horizon", "99",
                                 "-o", str(tmp_path / "long.csv")])
    assert result.exit_code == 2 and "--horizon 99" in result.output
    assert not (tmp_path / "long.csv").exists()


def test_cli_fit_refuses_a_non_numeric_target_and_a_missing_horizon(tmp_path: Path) -> None:
    data = series_frame(n_series=2, length=30)
    data["sales"] = data["sales"].astype(object)
    data.loc[3, "sales"] = "lots"
    path = tmp_path / "bad.csv"
    data.to_csv(path, index=False)
    runner = CliRunner()
    base = ["fit", str(path), "--task", "forecast", "--id", "store", "--time", "month",
            "--target", "sales", "--time-budget", "5", "-o", str(tmp_path / "m"), "--quiet"]
    result = runner.invoke(app, [*base, "--horizon", "3"])
    assert result.exit_code == 2 and "non-numeric" in result.output
    result = runner.invoke(app, base)
    assert result.exit_code == 2 and "--horizon" in result.output
    assert not (tmp_path / "m").exists()


def test_the_server_forecasts_named_series(model_dir: Path) -> None:
    from fastapi.testclient import TestClient

    from accelml.serve.app import ServeSettings, create_app

    client = TestClient(create_app(ServeSettings(str(model_dir), access_log=False)))
    answer = client.post("/v1/forecast", json={"id": "s1", "horizon": 3})
    assert answer.status_code == 200, answer.text
    rows = answer.json()["forecast"]
    assert [row["month"] for row in rows] == [LENGTH + 1, LENGTH + 2, LENGTH + 3]
    assert {"store", "sales", "sales_q0.1", "sales_q0.9"} <= set(rows[0])
    assert client.post("/v1/forecast", json={"id": "nope"}).status_code == 422
    assert len(client.post("/v1/forecast", json={}).json()["forecast"]) == 5 * HORIZON


def test_short_and_unsorted_series_are_kept_and_said(history: pd.DataFrame) -> None:
    shuffled = history.sample(frac=1.0, random_state=0)
    short = pd.DataFrame({"store": "tiny", "month": range(1, 16), "sales": 5.0,
                          "price": 10.0})
    model = accelml.fit(pd.concat([shuffled, short]), "sales",
                        learners=("seasonal_naive", "theta"), **RUN)
    notes = " ".join(model.info["notes"])
    assert "sorted the timestamps" in notes and "fewer than two seasons" in notes
    forecast = model.forecast(ids=["tiny"])
    assert np.isfinite(forecast["sales"]).all()


def test_backtests_cut_each_series_one_horizon_per_window() -> None:
    series = np.repeat([0, 1], [20, 9])
    position = np.r_[np.arange(20), np.arange(9)]
    splits = Backtests(series, position, horizon=4, windows=2, least=3).split(
        np.zeros(29), Task(TaskKind.FORECAST, "y", "mase"))
    (train1, valid1), (train2, valid2) = splits
    assert position[valid1[series[valid1] == 0]].tolist() == [12, 13, 14, 15]
    assert position[valid2[series[valid2] == 0]].tolist() == [16, 17, 18, 19]
    assert (position[train1[series[train1] == 0]] < 12).all()
    assert position[valid2[series[valid2] == 1]].tolist() == [5, 6, 7, 8]
    assert not (series[valid1] == 1).any()  # too short for the older window
    assert backtest_windows(1, 28, None) == 3 and backtest_windows(2000, 18, None) == 1
    with pytest.raises(ConfigError, match="--backtests"):
        backtest_windows(10, 5, 0)


def test_backtest_scores_match_the_per_series_metrics() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(10, 3, 40)
    X = np.column_stack([np.repeat([0, 1], 20), np.tile(np.arange(20), 2),
                         np.zeros(40)]).astype(float)
    train = np.r_[np.arange(14), 20 + np.arange(14)]
    valid = np.r_[14 + np.arange(6), 34 + np.arange(6)]
    truth = backtest_truth(X, y, ((train, valid),), season_length=4, n_series=2)
    forecast = y[valid] + rng.normal(0, 1, len(valid))
    expected = np.mean([
        np.mean(np.abs(y[valid][s * 6:(s + 1) * 6] - forecast[s * 6:(s + 1) * 6]))
        / seasonal_scale(y[train][s * 14:(s + 1) * 14], 4) for s in (0, 1)])
    assert mase(truth[valid], forecast) == pytest.approx(expected)
    constant = series_scales(X, np.ones(40), np.arange(40), 4, 2)
    assert constant.tolist() == [1.0, 1.0]


def test_cli_refuses_or_averages_repeated_timestamps_and_names_irregular_dates(
        tmp_path: Path, history: pd.DataFrame) -> None:
    repeated = pd.concat([history, history[history["month"] == 5]])
    path = tmp_path / "repeated.csv"
    repeated.to_csv(path, index=False)
    runner = CliRunner()
    base = ["fit", str(path), "--task", "forecast", "--id", "store", "--time", "month",
            "--target", "sales", "--horizon", "6", "--time-budget", "5", "--quiet",
            "--learners", "seasonal_naive"]
    result = runner.invoke(app, [*base, "--duplicates", "error", "-o", str(tmp_path / "a")])
    assert result.exit_code == 2 and "repeat a timestamp" in result.output
    assert "--duplicates mean" in result.output and not (tmp_path / "a").exists()
    irregular = pd.DataFrame({"day": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05",
                                                     "2024-01-11", "2024-01-12",
                                                     "2024-01-30"]),
                              "sales": [1.0, 2, 3, 4, 5, 6]})
    path = tmp_path / "irregular.csv"
    irregular.to_csv(path, index=False)
    result = runner.invoke(app, ["fit", str(path), "--task", "forecast", "--time", "day",
                                 "--target", "sales", "--horizon", "2", "--quiet",
                                 "-o", str(tmp_path / "b")])
    assert result.exit_code == 2 and "--frequency" in result.output


def test_the_report_draws_the_forecasts_and_scores_the_actuals(model: Predictor,
                                                               actuals: pd.DataFrame) -> None:
    from accelml.explain.report import build_report

    page = build_report(model, actuals)
    assert 'id="modality-1"' in page and "<h2>Forecasts</h2>" in page
    assert "5 series, 6 steps ahead" in page
    assert page.count("<img") >= 3  # the forecasts, the search over time, the ensemble
    assert "mase" in page  # the metrics of the actuals given
