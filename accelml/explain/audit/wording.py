"""How the audit words figures and names in its messages (percentages, counts, dates,
quoted column names) and the text a category value is known by, shared by every check
so that all findings read alike."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def _key(value: Any) -> str:
    """The text a category value is known by (3, 3.0 and '3' are one value)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _count(n: int, noun: str) -> str:
    """'1 row', '2 rows', '3 classes'."""
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{n:,} {noun if n == 1 else plural}"


def _rounded(shares: np.ndarray) -> list[float]:
    return [round(float(s), 6) for s in shares]


def _q(name: str) -> str:
    return repr(str(name))


def _short(value: Any, limit: int = 40) -> str:
    text = _key(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pct(share: float) -> str:
    value = 100 * float(share)
    if 99 <= value < 100:
        return f"{min(value, 99.9):.1f} %"
    if value == 0 or value >= 10:
        return f"{value:.0f} %"
    return f"{value:.1f} %" if value >= 0.1 else f"{value:.2f} %"


def _num(value: Any, date: bool = False) -> str:
    """A figure as people read it: dates as dates, thousands separated, 4 digits."""
    number = float(value)
    if math.isnan(number):
        return "n/a"
    if date:
        return str(pd.Timestamp(number, unit="s"))
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return f"{number:,.1f}" if abs(number) >= 1000 else f"{number:.4g}"
