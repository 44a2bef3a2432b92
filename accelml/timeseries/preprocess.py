"""The forecasting preprocessor: regular series in, engine rows out, and back.

It keeps what a forecast needs after training: the columns, the frequency (or integer
step), the season, each series' id, first timestamp and length, and the history itself
(values and covariates, saved beside the JSON state as arrays). From them it builds the
rows of a history (:mod:`accelml.core.forecasting`: series code, position, time, covariates)
and the rows of the steps after it, and turns positions back into the user's timestamps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from accelml.core.data import Features
from accelml.errors import DataError, SchemaError
from accelml.timeseries.data import ID, TIME, VALUE, PreparedSeries, SeriesColumns

KIND = "timeseries"
HISTORY_FILE = "history.npz"


def seasons_of(frequency: str | None, season_length: int) -> tuple[int, ...]:
    """Every seasonal period worth modelling: the season, and for data finer than a day
    whose season is the day, the week too (hours: 24 and 168)."""
    if frequency is None or season_length <= 1:
        return (season_length,)
    offset = pd.tseries.frequencies.to_offset(frequency)
    try:
        step = pd.Timedelta(offset)
    except ValueError:
        return (season_length,)
    if step * season_length == pd.Timedelta(days=1):
        return (season_length, 7 * season_length)
    return (season_length,)


@dataclass
class ForecastPreprocessor:
    """What a fitted forecasting run knows of its series.

    Attributes:
        columns: the user's id (None: one series), time, target and covariate columns.
        frequency: a pandas offset alias for dates; None for integer time.
        step: the spacing of integer time (1 for dates).
        season_length, seasons, horizon: as the run used them.
        ids: the series ids (strings), in code order; ``integer_ids`` whether they were
            all whole numbers (they are written back as such).
        starts: each series' first timestamp (ISO text for dates, an integer otherwise).
        lengths: each series' number of steps.
        nonnegative: every training value was 0 or more (forecasts are kept so).
        quantiles: the quantiles forecast beside the point forecast.
    """

    columns: SeriesColumns
    frequency: str | None
    step: int
    season_length: int
    seasons: tuple[int, ...]
    horizon: int
    ids: list[str]
    integer_ids: bool
    starts: list[Any]
    lengths: list[int]
    nonnegative: bool
    quantiles: tuple[float, ...] = ()
    history: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    kind: str = KIND

    @classmethod
    def fit(cls, prepared: PreparedSeries, columns: SeriesColumns, horizon: int,
            quantiles: Sequence[float] = ()) -> ForecastPreprocessor:
        frame = prepared.frame
        bounds = frame.groupby(ID, sort=True)[TIME].agg(["first", "size"])
        ids = [str(i) for i in bounds.index]
        dates = prepared.frequency is not None
        starts = [pd.Timestamp(t).isoformat() if dates else int(t) for t in bounds["first"]]
        integer_ids = columns.id is not None and all(_is_integer(i) for i in ids)
        pre = cls(columns, prepared.frequency, prepared.step, prepared.season_length,
                  seasons_of(prepared.frequency, prepared.season_length), horizon, ids,
                  integer_ids, starts, [int(n) for n in bounds["size"]],
                  bool((frame[VALUE] >= 0).all()), tuple(quantiles))
        pre.history = pre._arrays(frame)
        return pre

    # rows ---------------------------------------------------------------------------
    def block_info(self) -> dict[str, Any]:
        return {"series": {"season_length": self.season_length, "horizon": self.horizon,
                           "seasons": list(self.seasons), "frequency": self.frequency,
                           "n_series": len(self.ids)}}

    def names(self) -> list[str]:
        return ["series", "position", "time", *self.columns.covariates]

    def _arrays(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The history of a regular frame (sorted by id, then time) as arrays."""
        codes = self.codes(frame[ID])
        order = np.lexsort((np.arange(len(frame)), codes))
        frame = frame.iloc[order]
        codes = codes[order]
        position = frame.groupby(ID, sort=False).cumcount().to_numpy(np.int64)
        covariates = (frame[list(self.columns.covariates)].to_numpy(np.float64)
                      if self.columns.covariates else np.zeros((len(frame), 0)))
        return {"series": codes, "position": position,
                "time": self._time_numbers(frame[TIME]), "y": frame[VALUE].to_numpy(np.float64),
                "covariates": covariates}

    def codes(self, ids: pd.Series) -> np.ndarray:
        """Each id's series code; an unknown id is an error naming it."""
        lookup = {name: code for code, name in enumerate(self.ids)}
        codes = ids.astype(str).map(lookup)
        if codes.isna().any():
            unknown = sorted(set(ids.astype(str)[codes.isna()]))[:5]
            raise DataError(f"series {unknown} were not in the training data; forecast them "
                            "from their own history with --history")
        return codes.to_numpy(np.int64)

    def _time_numbers(self, stamps: pd.Series) -> np.ndarray:
        """Timestamps as numbers: seconds since the epoch for dates, the integer itself."""
        if self.frequency is None:
            return stamps.to_numpy(np.float64)
        values = pd.to_datetime(stamps).to_numpy("datetime64[ns]").astype(np.int64)
        return values.astype(np.float64) / 1e9

    def features(self) -> tuple[Features, np.ndarray]:
        """The rows of the history and their values."""
        h = self.history
        X = np.column_stack([h["series"], h["position"], h["time"], h["covariates"]])
        return Features(X.astype(np.float64), names=self.names(),
                        block_info=self.block_info()), h["y"]

    def frame(self) -> pd.DataFrame:
        """The history as a long frame (unique_id, ds, y, covariates)."""
        h = self.history
        frame = pd.DataFrame({ID: np.asarray(self.ids, dtype=object)[h["series"]],
                              TIME: self.stamps(h["series"], h["position"]), VALUE: h["y"]})
        for index, name in enumerate(self.columns.covariates):
            frame[name] = h["covariates"][:, index]
        return frame

    def stamps(self, codes: np.ndarray, positions: np.ndarray) -> pd.Series:
        """The timestamps of (series, position) pairs."""
        codes = np.asarray(codes, dtype=np.int64)
        positions = np.asarray(positions, dtype=np.int64)
        if self.frequency is None:
            starts = np.asarray(self.starts, dtype=np.int64)
            return pd.Series(starts[codes] + positions * self.step)
        out = np.empty(len(codes), dtype="datetime64[ns]")
        for code in np.unique(codes):
            rows = codes == code
            grid = pd.date_range(pd.Timestamp(self.starts[code]),
                                 periods=int(positions[rows].max()) + 1, freq=self.frequency)
            out[rows] = grid.to_numpy("datetime64[ns]")[positions[rows]]
        return pd.Series(out)

    def future(self, codes: Sequence[int], horizon: int,
               covariates: pd.DataFrame | None = None) -> Features:
        """The rows of the ``horizon`` steps after each series' history; covariates come
        from ``covariates`` (id, time and each covariate column, as the user names them)."""
        codes = np.repeat(np.asarray(codes, dtype=np.int64), horizon)
        steps = np.tile(np.arange(horizon), len(codes) // max(horizon, 1))
        lengths = np.asarray(self.lengths, dtype=np.int64)
        positions = lengths[codes] + steps
        stamps = self.stamps(codes, positions)
        X = np.column_stack([codes, positions, self._time_numbers(stamps)]).astype(np.float64)
        if self.columns.covariates:
            X = np.column_stack([X, self._future_covariates(codes, stamps, covariates)])
        return Features(X, names=self.names(), block_info=self.block_info())

    def _future_covariates(self, codes: np.ndarray, stamps: pd.Series,
                           table: pd.DataFrame | None) -> np.ndarray:
        names = list(self.columns.covariates)
        if table is None:
            raise DataError(f"the model uses the covariates {names}; their future values are "
                            "needed to forecast: pass them with --future FILE (id, time and "
                            f"{', '.join(names)} for each step ahead)")
        columns = self.columns
        needed = [c for c in (columns.id, columns.time, *names) if c is not None]
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise SchemaError(f"the future covariates lack the columns {missing}; they need "
                              f"{needed}")
        keys = pd.DataFrame({ID: np.asarray(self.ids, dtype=object)[codes],
                             TIME: stamps.to_numpy()})
        given = pd.DataFrame({ID: (table[columns.id].astype(str) if columns.id is not None
                                   else self.ids[0]),
                              TIME: _same_time(table[columns.time], self.frequency)})
        for name in names:
            given[name] = pd.to_numeric(table[name], errors="coerce")
        given = given.drop_duplicates([ID, TIME], keep="last")
        joined = keys.merge(given, on=[ID, TIME], how="left")
        absent = joined[names].isna().any(axis=1)
        if absent.any():
            first = joined[absent].iloc[0]
            raise DataError(f"{int(absent.sum())} future steps lack covariate values, such as "
                            f"series {first[ID]!r} at {first[TIME]}; the file given with "
                            "--future must hold every covariate for every step forecast")
        return joined[names].to_numpy(np.float64)

    # output ---------------------------------------------------------------------------
    def user_frame(self, codes: np.ndarray, positions: np.ndarray) -> pd.DataFrame:
        """The id and time columns of rows, under the user's names and types."""
        out = pd.DataFrame()
        if self.columns.id is not None:
            ids = np.asarray(self.ids, dtype=object)[np.asarray(codes, dtype=np.int64)]
            out[self.columns.id] = [int(i) for i in ids] if self.integer_ids else ids
        out[self.columns.time] = self.stamps(codes, positions).to_numpy()
        return out

    # state --------------------------------------------------------------------------
    def transform(self, data: Any) -> Features:
        """A forecaster is asked for steps, not rows; see :meth:`future`."""
        raise DataError("forecasting models forecast steps after their history: use "
                        "predictor.forecast(horizon=...) or `accelml forecast`")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "columns": {"id": self.columns.id, "time": self.columns.time,
                                          "target": self.columns.target,
                                          "covariates": list(self.columns.covariates)},
                "frequency": self.frequency, "step": self.step,
                "season_length": self.season_length, "seasons": list(self.seasons),
                "horizon": self.horizon, "ids": self.ids, "integer_ids": self.integer_ids,
                "starts": self.starts, "lengths": self.lengths,
                "nonnegative": self.nonnegative, "quantiles": list(self.quantiles)}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> ForecastPreprocessor:
        c = state["columns"]
        columns = SeriesColumns(c["id"], c["time"], c["target"], tuple(c["covariates"]))
        return cls(columns, state["frequency"], int(state["step"]),
                   int(state["season_length"]), tuple(state["seasons"]),
                   int(state["horizon"]), list(state["ids"]), bool(state["integer_ids"]),
                   list(state["starts"]), [int(n) for n in state["lengths"]],
                   bool(state["nonnegative"]), tuple(state["quantiles"]))

    def save_files(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(directory / HISTORY_FILE, **self.history)

    def load_files(self, directory: Path) -> None:
        with np.load(directory / HISTORY_FILE, allow_pickle=False) as data:
            self.history = {name: data[name] for name in data.files}


def _is_integer(text: str) -> bool:
    try:
        return str(int(text)) == text
    except ValueError:
        return False


def _same_time(column: pd.Series, frequency: str | None) -> np.ndarray:
    """A user's time column in the form the history's timestamps take."""
    if frequency is None:
        return pd.to_numeric(column, errors="coerce").astype("Int64").to_numpy()
    return pd.to_datetime(column, errors="coerce").to_numpy("datetime64[ns]")
