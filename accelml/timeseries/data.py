"""Long-format series in, clean regular series out.

The user's table has one row per (series id, timestamp) with a value and optional covariates.
Preparation checks the columns and values, sorts, aggregates duplicate timestamps, finds the
frequency (dates) or the step (integer time), puts every series on its regular grid, fills
the gaps, and says in ``notes`` what it decided: forecasting models assume one observation
per step, and a silent fix would hide why a forecast looks the way it does.

The output frame uses the ``unique_id`` / ``ds`` / ``y`` column names of the forecasting
libraries, so models and metrics need no renaming.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from functools import reduce

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from accelml.errors import ConfigError, DataError, SchemaError

ID, TIME, VALUE = "unique_id", "ds", "y"
#: The id of the one series when the data has no id column.
SINGLE_ID = "series"
#: Series named in a note or an error, at most.
MAX_NAMED = 5
#: Windows of three timestamps per series used to guess the frequency of series with gaps.
MAX_VOTE_WINDOWS = 20
#: Series that vote on the inferred frequency, at most (every series is then checked on it).
MAX_VOTERS = 200
#: A frequency that would put more steps than this many times the rows on a series' grid
#: (and more than MIN_GRID_CHECK steps) is a mistake, not a gap to fill.
MAX_GRID_GROWTH = 100
MIN_GRID_CHECK = 10_000
DUPLICATE_POLICIES = ("mean", "error")
#: Periods per natural cycle, by the base of a frequency alias: a week of days, a year of
#: weeks, months or quarters; a year of years is no season.
_CALENDAR_CYCLE = {
    "D": 7, "B": 5, "C": 5, "W": 52,
    **dict.fromkeys(("M", "MS", "ME", "BM", "BMS", "BME", "CBMS", "CBME"), 12),
    **dict.fromkeys(("SM", "SMS", "SME"), 24),
    **dict.fromkeys(("Q", "QS", "QE", "BQ", "BQS", "BQE"), 4),
    **dict.fromkeys(("Y", "YS", "YE", "A", "AS", "BA", "BAS", "BY", "BYS", "BYE"), 1),
}
#: Seconds per step of the sub-daily bases (old upper-case aliases included).
_SUBDAILY_SECONDS = {"h": 3600, "H": 3600, "min": 60, "T": 60, "s": 1, "S": 1}
_SUBSECOND = ("ms", "L", "us", "U", "ns", "N")
#: A sub-daily season is the day, else the hour, else the minute: the first whose number of
#: steps is at most this many.
MAX_SUBDAILY_SEASON = 288


@dataclass(frozen=True)
class SeriesColumns:
    """The caller's column names; ``id`` None means the table is one series."""

    id: str | None
    time: str
    target: str
    covariates: tuple[str, ...] = ()


@dataclass
class PreparedSeries:
    """Regular series, sorted by (unique_id, ds), and what preparation decided.

    ``frequency`` is a pandas offset alias for dates and None for integer time, whose
    spacing is ``step`` (1 for dates). ``short_series`` are the ids with fewer than two
    seasons of history: they are kept, for models that need no season.
    """

    frame: pd.DataFrame
    frequency: str | None
    step: int
    season_length: int
    short_series: list[str]
    notes: list[str]


def _named(ids: list[str]) -> str:
    """Up to MAX_NAMED ids quoted, and how many more."""
    shown = ", ".join(repr(i) for i in ids[:MAX_NAMED])
    return shown + (f" and {len(ids) - MAX_NAMED} more" if len(ids) > MAX_NAMED else "")


def _cycle(periods: int, n: int) -> int:
    """Steps of ``n`` periods in a cycle of ``periods``; 1 when they do not divide it."""
    return periods // n if periods % n == 0 and periods // n >= 2 else 1


def season_length_of(frequency: str | None) -> int:
    """The number of steps in one season of a frequency alias ("D" -> 7, "MS" -> 12).

    Sub-daily steps take the day as their season, or the hour (then the minute) when a day
    has more than MAX_SUBDAILY_SEASON steps ("h" -> 24, "30min" -> 48, "min" -> 60); a
    multiple divides the season ("2h" -> 12, "6MS" -> 2) or, when it cannot, gives 1. Old
    aliases ("M", "A", "H", "T") count as their new names. None (integer time) gives 1.
    """
    if frequency is None:
        return 1
    match = re.fullmatch(r"\s*(\d*)\s*([A-Za-z]+)(?:-[A-Za-z0-9]+)?\s*", str(frequency))
    if match is None or (match.group(1) and int(match.group(1)) < 1):
        raise ConfigError(f"the frequency {frequency!r} is not a pandas offset alias; use "
                          "one such as h, D, W, MS, QS or YS")
    n, base = int(match.group(1) or 1), match.group(2)
    if base in _SUBDAILY_SECONDS:
        seconds = n * _SUBDAILY_SECONDS[base]
        for cycle in (86_400, 3_600, 60):
            if cycle % seconds == 0 and 2 <= cycle // seconds <= MAX_SUBDAILY_SEASON:
                return cycle // seconds
        return 1
    if base in _SUBSECOND:
        return 1
    if base.upper() in _CALENDAR_CYCLE:
        return _cycle(_CALENDAR_CYCLE[base.upper()], n)
    raise ConfigError(f"the frequency {frequency!r} is not a pandas offset alias; use one "
                      "such as h, D, W, MS, QS or YS")


def _check_options(horizon: int, season_length: int | None, duplicates: str) -> None:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ConfigError(f"the horizon must be a whole number of steps, 1 or more; got "
                          f"{horizon!r}: pass --horizon 7 for a week of daily data")
    if season_length is not None and (isinstance(season_length, bool)
                                      or not isinstance(season_length, int | np.integer)
                                      or season_length < 1):
        raise ConfigError(f"the season length must be a whole number, 1 or more; got "
                          f"{season_length!r}: pass 1 for no season, or leave it out to "
                          "take it from the frequency")
    if duplicates not in DUPLICATE_POLICIES:
        raise ConfigError(f"duplicates={duplicates!r} is not a policy; use one of "
                          f"{', '.join(DUPLICATE_POLICIES)}")


def _check_columns(data: pd.DataFrame, columns: SeriesColumns) -> None:
    from accelml.core.validation import close_matches

    present = [str(c) for c in data.columns]
    roles = [("id", columns.id), ("time", columns.time), ("target", columns.target)]
    roles += [("covariate", name) for name in columns.covariates]
    for role, name in roles:
        if name is not None and name not in data.columns:
            shown = ", ".join(repr(c) for c in present[:20]) + (" ..." if len(present) > 20
                                                                 else "")
            raise SchemaError(f"the {role} column {name!r} is not in the data"
                              f"{close_matches(name, present)}; columns are: {shown}")
    named = [name for _, name in roles[:3] if name is not None]
    if len(set(named)) < len(named):
        raise ConfigError(f"the id, time and target columns must differ; got id="
                          f"{columns.id!r}, time={columns.time!r}, target={columns.target!r}")
    clash = [c for c in columns.covariates if c in named or c in (ID, TIME, VALUE)]
    if clash or len(set(columns.covariates)) < len(columns.covariates):
        raise ConfigError(f"covariates {list(columns.covariates)!r} repeat a column or use a "
                          f"reserved name ({clash!r}); name each covariate once, and not the "
                          f"id, time or target column nor {ID!r}, {TIME!r}, {VALUE!r}")
    if data.empty:
        raise DataError("the data has no rows; pass a table with one row per series id, "
                        "timestamp and value")


def _ids(column: pd.Series) -> pd.Series:
    """Series ids as strings (1.0 reads as "1"); missing ids stay missing."""
    if pd.api.types.is_float_dtype(column) and (column.dropna() % 1 == 0).all():
        column = column.astype("Int64")
    return column.astype(object).map(str, na_action="ignore")


def _target(column: pd.Series, name: str) -> pd.Series:
    """The target as floats; a value that is not a number is an error naming it."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.astype(np.float64)
    numbers = pd.to_numeric(column, errors="coerce")
    bad = column[numbers.isna() & column.notna()]
    if len(bad) or pd.api.types.is_bool_dtype(column):
        example = bad.iloc[0] if len(bad) else column.iloc[0]
        raise DataError(f"the target column {name!r} holds non-numeric values such as "
                        f"{example!r} ({max(len(bad), 1)} rows or more); forecasts need "
                        "numbers: fix or drop those rows, or name the numeric column")
    return numbers.astype(np.float64)


def _integer_time(numbers: pd.Series, name: str) -> pd.Series:
    present = numbers.dropna()
    fractional = present[present % 1 != 0]
    if len(fractional):
        raise DataError(f"the time column {name!r} holds numbers that are not whole, such as "
                        f"{fractional.tolist()[0]!r}; time must be dates or integer steps "
                        "(1, 2, 3, ...): round them or pass dates")
    return numbers.astype("Int64")


def _time(column: pd.Series, name: str) -> pd.Series:
    """Dates (datetime64) or integer steps (Int64); anything else is an error."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return column
    if pd.api.types.is_bool_dtype(column):
        raise DataError(f"the time column {name!r} holds True/False values; time must be "
                        "dates or integer steps (1, 2, 3, ...)")
    if pd.api.types.is_numeric_dtype(column):
        return _integer_time(column, name)
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.notna().sum() == column.notna().sum():
        return _integer_time(numbers, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dates = pd.to_datetime(column, errors="coerce")
        if (dates.isna() & column.notna()).any():
            dates = pd.to_datetime(column, errors="coerce", format="mixed")
    bad = column[dates.isna() & column.notna()]
    if len(bad):
        raise DataError(f"the time column {name!r} holds values that are neither dates nor "
                        f"integers, such as {bad.iloc[0]!r} ({len(bad)} rows); pass dates "
                        "(2024-01-31) or integer steps (1, 2, 3, ...), or fix those rows")
    return dates


def _table(data: pd.DataFrame, columns: SeriesColumns, notes: list[str]) -> pd.DataFrame:
    """A new frame of unique_id, ds, y and the covariates; rows without an id or a time are
    dropped, as they cannot be placed in a series."""
    ids = _ids(data[columns.id]) if columns.id is not None else SINGLE_ID
    work = pd.DataFrame({ID: ids, TIME: _time(data[columns.time], columns.time),
                         VALUE: _target(data[columns.target], columns.target)},
                        index=data.index)
    for name in columns.covariates:
        work[name] = data[name].copy()
    placed = work[ID].notna() & work[TIME].notna()
    if not placed.all():
        notes.append(f"dropped {int((~placed).sum())} rows without a series id or a time")
        work = work[placed]
    if work.empty:
        raise DataError("no row has both a series id and a time; fill the id and time "
                        "columns")
    if pd.api.types.is_integer_dtype(work[TIME]):
        work[TIME] = work[TIME].astype(np.int64)
    work[ID] = work[ID].astype(str)
    return work.reset_index(drop=True)


def _sort(work: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    in_order = work.groupby(ID, sort=False)[TIME].is_monotonic_increasing
    if not in_order.all():
        unsorted = [str(i) for i in in_order.index[~in_order.to_numpy()]]
        notes.append(f"sorted the timestamps of {len(unsorted)} series that were out of "
                     f"order ({_named(unsorted)})")
    return work.sort_values([ID, TIME], kind="stable").reset_index(drop=True)


def _deduplicate(work: pd.DataFrame, covariates: tuple[str, ...], policy: str,
                 notes: list[str]) -> pd.DataFrame:
    """One row per (series, timestamp): the mean target (numeric covariates averaged, others
    the first value), or an error when the policy is "error"."""
    repeated = work.duplicated([ID, TIME], keep="first")
    if not repeated.any():
        return work
    series = list(dict.fromkeys(work.loc[repeated, ID]))
    if policy == "error":
        raise DataError(f"{int(repeated.sum())} rows repeat a timestamp of their series "
                        f"({len(series)} series: {_named(series)}); keep one row per series "
                        "and timestamp, or aggregate them with --duplicates mean")
    how = {VALUE: "mean"} | {c: "mean" if pd.api.types.is_numeric_dtype(work[c])
                             and not pd.api.types.is_bool_dtype(work[c]) else "first"
                             for c in covariates}
    merged = work.groupby([ID, TIME], sort=False, as_index=False).agg(how)
    notes.append(f"averaged {int(repeated.sum())} duplicate rows (a timestamp repeated within "
                 f"its series) into one row each ({len(series)} series: {_named(series)})")
    return merged[work.columns].reset_index(drop=True)


def _infer(stamps: pd.DatetimeIndex) -> str | None:
    """pandas' inferred alias, or None (fewer than 3 timestamps, or irregular)."""
    if len(stamps) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            found = pd.infer_freq(stamps)
        except (TypeError, ValueError):
            return None
    return None if found is None else getattr(found, "freqstr", str(found))


def _vote(stamps: pd.DatetimeIndex) -> str | None:
    """A series' frequency: its own when pandas infers one, else the most common among
    windows of three consecutive timestamps (a series with gaps is regular between them)."""
    found = _infer(stamps)
    if found is not None or len(stamps) < 4:
        return found
    starts = np.unique(np.linspace(0, len(stamps) - 3, MAX_VOTE_WINDOWS).astype(int))
    votes = Counter(v for s in starts if (v := _infer(stamps[s:s + 3])) is not None)
    return votes.most_common(1)[0][0] if votes else None


#: Aliases older pandas accepted, by the name current pandas gives them (pandas 3 refuses
#: the old ones, pandas 2 warns).
OLD_ALIASES = {"M": "ME", "BM": "BME", "SM": "SME", "CBM": "CBME", "Q": "QE", "BQ": "BQE",
               "A": "YE", "Y": "YE", "BA": "BYE", "BY": "BYE", "H": "h", "BH": "bh",
               "CBH": "cbh", "T": "min", "S": "s", "L": "ms", "U": "us", "N": "ns"}


def _current_alias(frequency: str) -> str:
    """``frequency`` with an old alias (M, Q-DEC, A, H, 15T, ...) in today's name."""
    match = re.fullmatch(r"(\d*)([A-Za-z]+)(-[A-Za-z]+)?", frequency.strip())
    if match is None:
        return frequency
    count, name, anchor = match.group(1), match.group(2), match.group(3) or ""
    return count + OLD_ALIASES.get(name, name) + anchor


def _offset(frequency: str) -> pd.DateOffset:
    """The offset of a user's alias (old aliases accepted); a bad alias is a ConfigError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            offset = to_offset(_current_alias(frequency))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"the frequency {frequency!r} is not a pandas offset alias; use "
                          "one such as h, D, W, MS, QS or YS") from error
    season_length_of(offset.freqstr)  # an alias with no known season is refused up front
    return offset


def _smallest_step(work: pd.DataFrame) -> str | None:
    """The smallest gap between timestamps, when every gap is a whole number of it and the
    series hold at least half of that grid: daily data with missing days in series too
    short for pandas to infer anything from."""
    gaps = work.groupby(ID, sort=False)[TIME].diff().dropna()
    if gaps.empty or gaps.min() <= pd.Timedelta(0):
        return None
    step = gaps.min()
    if (gaps % step != pd.Timedelta(0)).any() or (gaps / step).sum() > 2 * len(gaps):
        return None
    return str(to_offset(step).freqstr)


def _common_frequency(work: pd.DataFrame) -> str:
    """The most common frequency of the series (each votes for one), else their common
    step; irregular dates are an error asking for the frequency."""
    voters = work[work[ID].isin(work[ID].drop_duplicates().iloc[:MAX_VOTERS])]
    votes = Counter(v for _, ds in voters.groupby(ID, sort=False)[TIME]
                    if (v := _vote(pd.DatetimeIndex(ds))) is not None)
    if not votes and (step := _smallest_step(work)) is not None:
        return step
    if not votes:
        raise DataError("could not infer the frequency of the dates: the timestamps are "
                        "irregular or each series has fewer than 3; pass --frequency (for "
                        "example D, W, MS)")
    return votes.most_common(1)[0][0]


def _date_grid(ds: pd.Series, offset: pd.DateOffset) -> pd.DatetimeIndex | None:
    """The regular grid from a series' first to last timestamp, or None when a timestamp is
    off it or the grid would be absurdly large for the series."""
    first, last = ds.iloc[0], ds.iloc[-1]
    if isinstance(offset, pd.offsets.Tick):
        steps = (last - first) / pd.Timedelta(offset)
        if steps > max(MIN_GRID_CHECK, MAX_GRID_GROWTH * len(ds)):
            return None
    grid = pd.date_range(first, last, freq=offset, unit=ds.dt.unit)
    if len(grid) == 0 or grid[0] != first or not ds.isin(grid).all():
        return None
    return grid


def _dates_onto_grid(work: pd.DataFrame, offset: pd.DateOffset,
                     inferred: bool) -> pd.DataFrame:
    """The (unique_id, ds) pairs of every series' regular grid."""
    grids, off = [], []
    for uid, ds in work.groupby(ID, sort=False)[TIME]:
        grid = _date_grid(ds, offset)
        if grid is None:
            off.append(str(uid))
        else:
            grids.append(pd.DataFrame({ID: uid, TIME: grid}))
    if off:
        fix = ("the frequency was inferred from the other series: pass --frequency (for "
               "example D, W, MS)") if inferred else "pass the frequency of the data"
        raise DataError(f"the timestamps of {len(off)} series ({_named(off)}) are not on a "
                        f"regular {offset.freqstr!r} grid; {fix}, or fix those timestamps")
    return pd.concat(grids, ignore_index=True)


def _integer_grid(work: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The (unique_id, ds) pairs of every series' grid, and the step: the greatest common
    divisor of the differences between consecutive times."""
    gaps = work.groupby(ID, sort=False)[TIME].diff().dropna().astype(np.int64).to_numpy()
    step = int(reduce(math.gcd, gaps.tolist(), 0)) or 1
    bounds = work.groupby(ID, sort=False)[TIME].agg(["first", "last", "size"])
    wide = bounds.index[(bounds["last"] - bounds["first"]) / step
                        > np.maximum(MIN_GRID_CHECK, MAX_GRID_GROWTH * bounds["size"])]
    if len(wide):
        raise DataError(f"the integer times of {len(wide)} series ({_named(list(wide))}) "
                        f"would need mostly missing steps of {step}; time must count steps "
                        "(1, 2, 3, ...): renumber them or pass dates")
    grids = [pd.DataFrame({ID: uid, TIME: np.arange(row["first"], row["last"] + 1, step)})
             for uid, row in bounds.iterrows()]
    return pd.concat(grids, ignore_index=True), step


def _regularise(work: pd.DataFrame, frequency: str | None,
                notes: list[str]) -> tuple[pd.DataFrame, str | None, int]:
    """Every series on its regular grid (missing timestamps inserted as missing values);
    the frequency alias (dates) and the step (integer time)."""
    if pd.api.types.is_integer_dtype(work[TIME]):
        if frequency is not None:
            raise ConfigError(f"frequency={frequency!r} applies to dates, but the time "
                              "column holds integer steps; leave --frequency out")
        grid, step = _integer_grid(work)
        alias = None
    else:
        offset = _offset(frequency) if frequency is not None else None
        if offset is None:
            offset = to_offset(_common_frequency(work))
        grid, step, alias = _dates_onto_grid(work, offset, frequency is None), 1, offset.freqstr
    inserted = len(grid) - len(work)
    if inserted:
        short = work.groupby(ID, sort=False).size()
        filled = grid.groupby(ID, sort=False).size()
        gapped = [str(i) for i in filled.index[filled.to_numpy() > short[filled.index]]]
        notes.append(f"inserted {inserted} missing timestamps in {len(gapped)} series "
                     f"({_named(gapped)}) to make every series regular")
    return grid.merge(work, on=[ID, TIME], how="left", validate="one_to_one"), alias, step


def _fill(frame: pd.DataFrame, covariates: tuple[str, ...], notes: list[str]) -> None:
    """Missing targets interpolated linearly within each series (the first known value
    before it, the last after it); covariates carried forward then back."""
    missing = frame[VALUE].isna()
    if missing.any():
        counts = frame.loc[missing, ID].value_counts()
        known = (~missing).groupby(frame[ID], sort=False).any()
        empty = [str(i) for i in known.index[~known.to_numpy()]]
        if empty:
            raise DataError(f"{len(empty)} series have no target value at all "
                            f"({_named(empty)}); drop them or fill their values")
        frame[VALUE] = frame.groupby(ID, sort=False)[VALUE].transform(
            lambda s: s.interpolate(method="linear").bfill())
        notes.append(f"filled {int(missing.sum())} missing target values in {len(counts)} "
                     "series by linear interpolation within each series (leading gaps take "
                     "the first value, trailing gaps the last)")
    if covariates:
        before = int(frame[list(covariates)].isna().sum().sum())
        grouped = frame.groupby(ID, sort=False)[list(covariates)]
        frame[list(covariates)] = grouped.ffill()
        frame[list(covariates)] = frame.groupby(ID, sort=False)[list(covariates)].bfill()
        if before:
            notes.append(f"filled {before} missing covariate values by carrying the last "
                         "known value forward (leading gaps take the first)")


def _check_lengths(frame: pd.DataFrame, horizon: int, season_length: int,
                   notes: list[str]) -> list[str]:
    """The short series (under two seasons); an error when no series outlasts the horizon."""
    lengths = frame.groupby(ID, sort=False).size()
    if lengths.max() <= horizon:
        longest = str(lengths.idxmax())
        raise DataError(f"the horizon of {horizon} steps is not shorter than the longest "
                        f"series ({longest!r}, {int(lengths.max())} steps); forecasting needs "
                        f"more history than horizon: lower --horizon below {lengths.max()}")
    below = [str(i) for i in lengths.index[lengths.to_numpy() <= horizon]]
    if below:
        notes.append(f"{len(below)} series have no more steps than the horizon of {horizon} "
                     f"({_named(below)}); they are kept, but cannot be backtested")
    short = [str(i) for i in lengths.index[lengths.to_numpy() < 2 * season_length]]
    if short:
        notes.append(f"{len(short)} series have fewer than two seasons "
                     f"({2 * season_length} steps) of history ({_named(short)}); they are "
                     "kept, and forecast with simpler models")
    return short


def prepare_series(data: pd.DataFrame, columns: SeriesColumns, horizon: int, *,
                   frequency: str | None = None, season_length: int | None = None,
                   duplicates: str = "mean") -> PreparedSeries:
    """Clean, regular series from a long-format table; ``data`` is left unchanged.

    Args:
        data: One row per (series id, timestamp), with the target and any covariates.
        columns: Which columns hold the id (None: one series), time, target, covariates.
        horizon: Steps to forecast; no series may be that short but some may.
        frequency: A pandas offset alias for dates ("D", "W", "MS"); inferred when None.
        season_length: Steps per season; from the frequency when None.
        duplicates: "mean" averages rows that repeat a series' timestamp, "error" refuses.

    Raises:
        SchemaError: A named column is not in the data.
        DataError: Values that cannot make series (non-numeric target, irregular dates...).
        ConfigError: A bad horizon, season length, frequency or policy.
    """
    _check_options(horizon, season_length, duplicates)
    _check_columns(data, columns)
    notes: list[str] = []
    work = _table(data, columns, notes)
    work = _deduplicate(_sort(work, notes), columns.covariates, duplicates, notes)
    frame, alias, step = _regularise(work, frequency, notes)
    _fill(frame, columns.covariates, notes)
    season = int(season_length) if season_length is not None else season_length_of(alias)
    short = _check_lengths(frame, int(horizon), season, notes)
    return PreparedSeries(frame=frame, frequency=alias, step=step, season_length=season,
                          short_series=short, notes=notes)


def cutoffs(frame: pd.DataFrame, horizon: int, windows: int,
            season_length: int = 1) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """Rolling-origin backtests: for each window w = windows..1, each series is cut
    ``w * horizon`` steps before its end; the train part is what comes before the cut and
    the validation part the ``horizon`` steps after it.

    A series is left out of a window where its train part would have fewer than
    ``season_length + 1`` steps (2 without a season), so a seasonal model sees a full season
    and a lag; the frame must be regular, as :func:`prepare_series` makes it.

    Raises:
        ConfigError: ``horizon``, ``windows`` or ``season_length`` under 1.
        DataError: No series is long enough for even one window.
    """
    for name, value in (("horizon", horizon), ("windows", windows),
                        ("season_length", season_length)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ConfigError(f"{name} must be a whole number, 1 or more; got {value!r}")
    ordered = frame.sort_values([ID, TIME], kind="stable").reset_index(drop=True)
    position = ordered.groupby(ID, sort=False).cumcount().to_numpy()
    length = ordered.groupby(ID, sort=False)[TIME].transform("size").to_numpy()
    least = max(season_length + 1, 2)
    folds = []
    for w in range(windows, 0, -1):
        cut = length - w * horizon
        usable = cut >= least
        train = ordered[usable & (position < cut)].reset_index(drop=True)
        valid = ordered[usable & (position >= cut) & (position < cut + horizon)]
        if len(train):
            folds.append((train, valid.reset_index(drop=True)))
    if not folds:
        longest = int(length.max()) if len(length) else 0
        raise DataError(f"no series is long enough to backtest: {windows} windows of "
                        f"{horizon} steps after {least} training steps need "
                        f"{windows * horizon + least} steps, the longest series has "
                        f"{longest}; lower the number of windows or the horizon")
    return folds
