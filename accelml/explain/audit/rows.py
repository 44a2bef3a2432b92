"""The checks of whole rows: exact duplicates (weighed against how often rows repeat by
chance), equal features with conflicting labels, and test rows already in the training
data. Rows are compared by a 64-bit hash of their value codes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from accelml.explain.audit.findings import Finding
from accelml.explain.audit.table import _codes, _Table
from accelml.explain.audit.thresholds import NOTABLE_SHARE
from accelml.explain.audit.wording import _count, _pct

_HASH_SEED = 20240611


def _row_hashes(columns: Sequence[np.ndarray]) -> np.ndarray:
    """One 64-bit hash per row of aligned code arrays (a random linear hash: equal rows
    always agree, different ones collide with negligible odds)."""
    rng = np.random.default_rng(_HASH_SEED)
    weights = rng.integers(1, 2**63, size=len(columns), dtype=np.uint64) | np.uint64(1)
    total = np.zeros(len(columns[0]) if columns else 0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for codes, weight in zip(columns, weights, strict=True):
            total += (codes + 2).astype(np.uint64) * weight
    return total


def _chance_share(table: _Table, features: np.ndarray) -> float:
    """At most this share of rows would repeat an earlier row by chance: equal rows are
    equal on the three most varied columns (fewer than all), which distinct rows share
    with probability P (no independence assumed), so about (n - 1) P / 2 of n rows."""
    distinct = ~pd.Series(features).duplicated().to_numpy()
    if len(table.features) == 1:  # nothing to compare with: repeats are chance
        distinct[:] = True
    varied = sorted(table.features, key=lambda c: -c.n_distinct)[:3]
    varied = varied[:max(1, min(3, len(table.features) - 1))]  # fewer than all columns
    _, counts = np.unique(_row_hashes([c.codes[distinct] for c in varied]),
                          return_counts=True)
    pairs = float(counts.sum()) * (float(counts.sum()) - 1)
    chance = float(np.sum(counts * (counts - 1.0))) / pairs if pairs else 1.0
    return min(1.0, (table.n_rows - 1) * chance / 2)


def _copy_verdict(table: _Table, features: np.ndarray) -> tuple[bool, float]:
    """Whether the training rows look copied (they repeat three times as often as chance
    allows, five rows at least), and the chance bound."""
    repeats = float(pd.Series(features).duplicated().mean())
    chance = _chance_share(table, features)
    return repeats >= 3 * chance and repeats * table.n_rows >= 5, chance


def _duplicate_findings(table: _Table) -> list[Finding]:
    if not table.features:
        return []
    features = _row_hashes([c.codes for c in table.features])
    with_target = features if table.target is None else _row_hashes(
        [c.codes for c in table.features] + [table.target.codes])
    copies = int(pd.Series(with_target).duplicated().sum())
    copied, chance = _copy_verdict(table, features)
    findings = []
    if copies:
        share = copies / table.n_rows
        what = "features and target" if table.target is not None else "every column"
        why = (f"; far more than chance allows (at most {_pct(chance)}): they look copied"
               if copied else "; the features take few enough values that repeats can be "
               "genuine")
        findings.append(Finding(  # genuine repeats recur in new data too: no bias
            "duplicate_rows", "medium" if copied and share >= NOTABLE_SHARE else "low", None,
            f"{_count(copies, 'row')} ({_pct(share)}) repeating an earlier row exactly ({what})"
            f"{table.sampled}{why}",
            "drop the copies (data.drop_duplicates()) unless they are genuine repeated "
            "observations: copies that land in both training and validation folds make "
            "validation scores optimistic"))
    if table.target is not None and (copied or table.task != "regression"):
        findings += _conflicts(table, features, copied)
    return findings


def _conflicts(table: _Table, features: np.ndarray, copied: bool) -> list[Finding]:
    """Rows with equal features and different targets."""
    target = table.target.codes  # type: ignore[union-attr]
    keep = target >= 0
    pairs = pd.DataFrame({"f": features[keep], "t": target[keep]}).drop_duplicates()
    mixed = pairs["f"][pairs["f"].duplicated()].unique()
    rows = int(np.isin(features[keep], mixed).sum())
    if not rows:
        return []
    share = rows / table.n_rows
    why = ("; the rows look copied, so these are records labelled twice"
           if copied else "; the features cannot tell these rows apart, which limits accuracy")
    return [Finding(
        "duplicate_rows", "medium" if copied and share >= NOTABLE_SHARE else "low", None,
        f"{_count(rows, 'row')} ({_pct(share)}) sharing their features with a row of another "
        f"target value ({_count(len(mixed), 'group')}){table.sampled}{why}",
        "check the labels of these rows: equal inputs with different targets are label "
        "noise, or a feature that tells them apart is missing")]


def _overlap_findings(table: _Table, test: pd.DataFrame) -> list[Finding]:
    """Rows of ``test`` equal to training rows on the feature columns both tables have,
    weighed against how often training rows repeat each other."""
    names = {str(c): i for i, c in enumerate(test.columns)}
    shared = [c for c in table.features if c.name in names]
    if not shared:
        return []
    codes, unseen = [], np.zeros(len(test), dtype=bool)
    for column in shared:
        own, values = _codes(test.iloc[:, names[column.name]])
        found = np.append(column.uniques.get_indexer(values), -1)[own]  # -1 -> missing
        unseen |= (found < 0) & (own >= 0)
        codes.append(found)
    train = _row_hashes([c.codes for c in shared])
    inside = np.isin(_row_hashes(codes), train) & ~unseen
    count = int(inside.sum())
    if not count:
        return []
    rate, repeat = count / len(test), float(pd.Series(train).duplicated(keep=False).mean())
    on = "" if len(shared) == len(table.features) else (
        f" (on the {len(shared)} feature columns the test table has)")
    copied = _copy_verdict(table, _row_hashes([c.codes for c in table.features]))[0]
    natural = not copied and rate <= max(2 * repeat, repeat + NOTABLE_SHARE)
    severity = ("low" if natural or rate < NOTABLE_SHARE else "high" if rate >= 0.05
                else "medium")
    why = (f"about as often as training rows repeat each other ({_pct(repeat)}), so they "
           "can be genuine repeats" if natural else "the training rows look copied too "
           "(see duplicate_rows), and the copies reach across the split" if copied else
           f"far more often than training rows repeat each other ({_pct(repeat)}): rows "
           "were copied across the split")
    return [Finding(
        "train_test_overlap", severity, None,
        f"{count:,} of {len(test):,} test rows ({_pct(rate)}) also appear in the training "
        f"data{on}{table.sampled}; {why}",
        "remove these rows from the test table (or from training) so the test score "
        "measures rows the model has not seen")]
