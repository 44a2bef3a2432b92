"""The zero-shot portfolio: an ordered list of configurations, across learners, that together
do well on many datasets, tried before any tuning.

``zeroshot.json`` (rebuilt by ``bench/build_portfolio.py``) holds every candidate config's
normalized loss on each dataset of a meta-training collection. A run picks its portfolio by
greedy selection (as TabRepo and AutoGluon's zero-shot portfolios do): first the config with
the lowest mean loss, then each time the one that most lowers the mean over datasets of the
best loss so far. A dataset of the collection is never used for its own portfolio: when the
data being fitted is one of them (same feature columns and target), it is left out first, so
the benchmark on that dataset measures a portfolio learned without it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

DATA_FILE = Path(__file__).with_name("zeroshot.json")
#: Configurations in a run's zero-shot portfolio.
PORTFOLIO_SIZE = 10


def data_key(feature_columns: Sequence[str], target: str) -> str:
    """What identifies a dataset of the collection: its feature columns and target."""
    text = json.dumps([sorted(str(c) for c in feature_columns), str(target)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@cache
def _collection() -> dict[str, Any]:
    if not DATA_FILE.is_file():
        return {}
    kinds: dict[str, Any] = json.loads(DATA_FILE.read_text())["kinds"]
    return kinds


def greedy_portfolio(matrix: np.ndarray, size: int) -> list[int]:
    """Candidate indices, in order: each lowers the mean (over rows: datasets) of the best
    normalized loss among those chosen the most; stops early once nothing improves."""
    chosen: list[int] = []
    best = np.full(matrix.shape[0], np.inf)
    for _ in range(min(size, matrix.shape[1])):
        scores = np.minimum(best[:, None], matrix).mean(axis=0)
        scores[chosen] = np.inf
        pick = int(np.argmin(scores))
        if chosen and scores[pick] >= best.mean() - 1e-9:
            break
        chosen.append(pick)
        best = np.minimum(best, matrix[:, pick])
    return chosen


def portfolio(kind: str, feature_columns: Sequence[str], target: str,
              learners: Sequence[str], size: int = PORTFOLIO_SIZE
              ) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The zero-shot portfolio for a run on this data, among ``learners``; and the datasets
    it was learned from (this data's own entry left out)."""
    entry = _collection().get(kind)
    if not entry:
        return [], []
    key = data_key(feature_columns, target)
    names = [name for name, data in entry["datasets"].items() if data["key"] != key]
    usable = [i for i, (learner, _) in enumerate(entry["candidates"]) if learner in learners]
    if not names or not usable:
        return [], names
    matrix = np.array([[entry["datasets"][name]["normalized"][i] for i in usable]
                       for name in names])
    picks = greedy_portfolio(matrix, size)
    chosen = [entry["candidates"][usable[i]] for i in picks]
    return [(str(learner), dict(config)) for learner, config in chosen], names
