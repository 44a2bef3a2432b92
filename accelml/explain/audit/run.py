"""The audit itself: checks its arguments, reads the table once and runs every check on
it (columns, target, rows, leakage, and the test table's overlap), then groups and orders
what they found."""

from __future__ import annotations

import pandas as pd

from accelml.core.validation import check_target_column
from accelml.errors import ConfigError
from accelml.explain.audit.columns import _column_findings
from accelml.explain.audit.findings import TASKS, Finding, _grouped, _sorted
from accelml.explain.audit.leakage import _leakage_findings
from accelml.explain.audit.rows import _duplicate_findings, _overlap_findings
from accelml.explain.audit.table import _check_frame, _read_table
from accelml.explain.audit.target import _target_findings


def audit(data: pd.DataFrame, target: str | None = None, *, task: str | None = None,
          test: pd.DataFrame | None = None, seed: int = 0) -> list[Finding]:
    """Audit a training table (and the test table meant to score it) before fitting.

    Args:
        data: the training rows, target included.
        target: the column to predict; None audits the columns alone.
        task: "binary", "multiclass" or "regression"; inferred from the target when None.
        test: rows meant to test the model, checked for rows shared with ``data``.
        seed: the seed of the samples and folds the checks draw.

    Returns:
        Findings sorted high -> low severity, then by column order.
    """
    frame = _check_frame(data, "data")
    if test is not None:
        _check_frame(test, "test")
    if target is not None:
        check_target_column(frame.columns, target)
    if task is not None and task not in TASKS:
        raise ConfigError(f"unknown task {task!r} for the audit; use one of {', '.join(TASKS)}")
    table = _read_table(frame, target, task, seed)
    findings = [*_column_findings(table), *_target_findings(table),
                *_duplicate_findings(table), *_leakage_findings(table)]
    if test is not None:
        findings += _overlap_findings(table, test)
    order = {str(name): i for i, name in enumerate(frame.columns)}
    return _sorted(_grouped(findings), order)
