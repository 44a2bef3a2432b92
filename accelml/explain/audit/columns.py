"""The checks of one feature column at a time: mostly missing, constant and near-constant,
identifier-like, and high-cardinality categories (at most one finding besides missing per
column)."""

from __future__ import annotations

import re

import numpy as np

from accelml.explain.audit.findings import Finding
from accelml.explain.audit.table import _Column, _Table
from accelml.explain.audit.thresholds import (
    HIGH_CARDINALITY,
    ID_DISTINCT,
    MIN_ROWS,
    MISSING,
    NEAR_CONSTANT,
)
from accelml.explain.audit.wording import _count, _pct, _q, _short

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                   r"[0-9a-fA-F]{12}$")


def _column_findings(table: _Table) -> list[Finding]:
    findings: list[Finding] = []
    for column in table.features:
        missing = _missing(column)
        findings += [missing] if missing else []
        if column.missing_share >= MISSING[1]:
            continue  # an almost empty column: the missing finding says it all
        found = _constant(column) or _id_like(column) or _high_cardinality(column)
        findings += [found] if found else []
    return findings


def _missing(column: _Column) -> Finding | None:
    share = column.missing_share
    if share < MISSING[0]:
        return None
    q = _q(column.name)
    if column.n_present == 0:
        return Finding("missing", "high", column.name, f"column {q} has no values (all "
                       f"{column.n_rows:,} missing)", f"drop {q}: an empty column carries "
                       "nothing (AccelML leaves it out)")
    severity = "high" if share >= MISSING[1] else "medium"
    return Finding("missing", severity, column.name,
                   f"column {q} is missing in {_pct(share)} of rows "
                   f"({column.n_rows - column.n_present:,} of {column.n_rows:,})",
                   f"find out why {q} is missing so often; drop it unless the fact that it "
                   "is missing is itself informative (AccelML encodes missing values, so "
                   "keeping it is safe but adds little)")


def _constant(column: _Column) -> Finding | None:
    """One value in every row (or in all but a few), the rows without a value aside."""
    if column.n_present == 0:
        return None
    q = _q(column.name)
    top = int(column.counts.max())
    value = _short(column.uniques[int(column.counts.argmax())])
    if column.n_distinct == 1:
        rest = "" if column.n_present == column.n_rows else " where present (else missing)"
        return Finding("constant", "low", column.name,
                       f"column {q} holds one value{rest}: {value!r}",
                       f"drop {q}: one value carries no information (AccelML leaves a fully "
                       "constant column out; a missing-or-not column acts as a flag)")
    share = top / column.n_rows
    if share < NEAR_CONSTANT or column.n_rows < MIN_ROWS:
        return None
    return Finding("near_constant", "low", column.name,
                   f"column {q} is {value!r} in {_pct(share)} of rows; only "
                   f"{_count(column.n_rows - top, 'row')} differ (or are missing)",
                   f"drop {q} unless its rare values matter (a rare flag marking an "
                   "important case): a model can hardly learn from so few rows")


def _id_like(column: _Column) -> Finding | None:
    """Nearly all values distinct, as labels, UUIDs or integers counting rows."""
    present = column.n_present
    if present < MIN_ROWS or column.n_distinct < ID_DISTINCT * present:
        return None
    what: str | None = None
    if column.kind == "categorical":
        sample = [str(v) for v in column.uniques[:200]]
        uuid = sum(bool(_UUID.match(v)) for v in sample) >= 0.9 * len(sample)
        what = "distinct UUID-like strings" if uuid else "distinct labels"
    elif column.kind == "numeric" and column.numbers is not None:
        what = _integer_sequence(column.numbers[column.codes >= 0])
    else:
        return None
    if what is None:
        return None
    q = _q(column.name)
    every = _left_out_by_fit(column)
    kept = ("fitting leaves it out already (every value is present and distinct); drop it "
            "from the data too" if every else "fitting keeps it (it leaves out only "
            f"columns whose every value is distinct): drop it (data.drop(columns=[{q}]))")
    return Finding("id_like", "low" if every else "medium", column.name,
                   f"column {q} looks like a row identifier: {column.n_distinct:,} of "
                   f"{present:,} values ({_pct(column.n_distinct / present)}) are {what}",
                   f"{kept}: an identifier says nothing about new rows, and where it follows "
                   "the row order it can leak how the data was sorted")


def _left_out_by_fit(column: _Column) -> bool:
    """Whether fitting drops the column as an identifier by itself: every value present
    and distinct, and text labels or an integer-typed sequence (the tabular
    preprocessor's rule, which this package cannot import)."""
    if column.n_distinct < column.n_rows or column.dtype == "category":
        return False
    if column.kind == "categorical":
        return True
    integers = column.dtype.lower().startswith(("int", "uint")) or column.dtype == "object"
    values = column.numbers if column.numbers is not None else np.zeros(0)
    steps = np.diff(values)
    strict = len(values) > 0 and (values.max() - values.min() + 1 <= 2 * len(values)
                                  or bool(np.all(steps > 0) or np.all(steps < 0)))
    return integers and strict


def _integer_sequence(values: np.ndarray) -> str | None:
    """Distinct integers that count rows (a near-contiguous range, or sorted); distinct
    fractions and scattered integers are measurements, not identifiers."""
    if len(values) == 0 or not np.all(values == np.round(values)):
        return None
    if float(values.max() - values.min()) + 1 <= 2 * len(values):
        return "distinct integers in a near-contiguous range"
    steps = np.sign(np.diff(values))
    if max(float(np.mean(steps > 0)), float(np.mean(steps < 0))) >= ID_DISTINCT:
        return "distinct integers in sorted order"
    return None


def _high_cardinality(column: _Column) -> Finding | None:
    """A category column with so many values that each has few rows (text and dates
    are meant to vary, identifiers are their own finding)."""
    if column.kind != "categorical" or column.n_present < MIN_ROWS:
        return None
    share, count = column.n_distinct / column.n_present, column.n_distinct
    many = share > HIGH_CARDINALITY[0] and count >= 50
    if not many and count <= HIGH_CARDINALITY[1]:
        return None
    q = _q(column.name)
    return Finding("high_cardinality", "medium" if many else "low", column.name,
                   f"column {q} has {count:,} distinct values in {column.n_present:,} rows "
                   f"({column.n_present / count:.1f} rows per value on average)",
                   f"group rare values of {q} into 'other', or derive a coarser column "
                   "(a prefix, a region, a type): a model learns little from values seen a "
                   "few times")
