"""What every forecaster shares: its modality and task kind, how rows become series, and
plain-array saving (no pickles).

Rows are observations of regular series (:mod:`accelml.core.forecasting`): series code,
position, time, covariates. ``fit`` learns from the history rows; ``predict`` answers rows
that lie after each series' last training row (the next steps), one value per row.
A forecaster also implements ``with_history(fitted, features, y, config, deadline)``: the
model applied to another history (a local model is fitted again on it, a global one keeps
its weights), which is how ``accelml forecast --history`` forecasts from new data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from accelml.core import arrays as arrays_file
from accelml.core.arrays import save_arrays as save_arrays
from accelml.core.data import Features
from accelml.core.forecasting import POSITION, SERIES, series_facts
from accelml.core.learner import Fidelity, LearnerBase
from accelml.core.task import TaskKind
from accelml.errors import ArtifactError, DataError

FORECAST = frozenset({TaskKind.FORECAST})


class Forecaster(LearnerBase):
    """Defaults of every forecaster."""

    modality: ClassVar[str] = "timeseries"
    task_kinds: ClassVar[frozenset[TaskKind]] = FORECAST
    uses_gpu: ClassVar[bool] = False
    fidelity: ClassVar[Fidelity | None] = None


@dataclass(frozen=True)
class SeriesSetup:
    """The facts of a forecast task a forecaster reads."""

    season_length: int
    horizon: int
    seasons: tuple[int, ...]
    n_series: int

    @classmethod
    def of(cls, features: Features) -> SeriesSetup:
        facts = series_facts(dict(features.block_info))
        season = int(facts["season_length"])  # type: ignore[call-overload]
        seasons = tuple(int(s) for s in facts.get("seasons") or (season,))  # type: ignore
        return cls(season, int(facts["horizon"]), seasons,  # type: ignore[call-overload]
                   int(facts["n_series"]))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Series:
    """The rows of ``features`` cut into series: ``codes[i]``'s values are
    ``values[starts[i]:ends[i]]`` in time order, its last position ``last[i]``."""

    codes: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    last: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, features: Features, y: np.ndarray) -> Series:
        series = np.asarray(features.X[:, SERIES], dtype=np.int64)
        position = np.asarray(features.X[:, POSITION], dtype=np.int64)
        order = np.lexsort((position, series))
        series, position, values = series[order], position[order], np.asarray(y)[order]
        codes, starts = np.unique(series, return_index=True)
        ends = np.r_[starts[1:], len(series)]
        return cls(codes, starts, ends, position[ends - 1], values.astype(np.float64))

    def history(self, index: int) -> np.ndarray:
        """The values of the ``index``-th series."""
        return self.values[self.starts[index]:self.ends[index]]


def steps_ahead(codes: np.ndarray, last: np.ndarray, features: Features,
                horizon: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``features``: the index of its series in ``codes`` and how many steps
    after that series' last training row it lies (0 = the next step)."""
    series = np.asarray(features.X[:, SERIES], dtype=np.int64)
    index = np.searchsorted(codes, series)
    known = (index < len(codes)) & (codes[np.minimum(index, len(codes) - 1)] == series)
    if not known.all():
        missing = sorted(set(series[~known].tolist()))[:5]
        raise DataError(f"rows of series {missing} come after no training history; a "
                        "forecast needs each series' past")
    step = np.asarray(features.X[:, POSITION], dtype=np.int64) - last[index] - 1
    if (step < 0).any():
        raise DataError("rows at or before the end of their series' history were asked "
                        "for; a forecaster answers the steps after it")
    if horizon is not None and (step >= horizon).any():
        raise DataError(f"a forecast {int(step.max()) + 1} steps ahead was asked of a model "
                        f"that forecasts {horizon}; fit with a longer --horizon")
    return index, step


def load_arrays(directory: Path, learner: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """What :func:`save_arrays` wrote; a directory of another learner is refused."""
    arrays, info = arrays_file.load_arrays(directory, "forecasting model")
    if info.get("learner") != learner:
        raise ArtifactError(f"{directory} holds a {info.get('learner')!r} model, not "
                            f"{learner!r}")
    return arrays, info
