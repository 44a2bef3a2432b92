"""What the audit returns: :class:`Finding`, the vocabulary of checks, severities and
tasks, and how findings are grouped, ordered and turned into the notes shown after a fit.
Every check module builds findings with it; none of them decides the final order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from accelml.errors import DataError
from accelml.explain.audit.thresholds import MAX_LISTED
from accelml.explain.audit.wording import _q

CHECKS = ("target_leakage", "id_like", "duplicate_rows", "train_test_overlap", "constant",
          "near_constant", "missing", "class_imbalance", "high_cardinality", "target_outliers",
          "drift")
SEVERITIES = ("high", "medium", "low")
TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class Finding:
    """One thing the audit found: what, how serious, where, and what to do about it.

    Attributes:
        check: which check found it (one of :data:`CHECKS`).
        severity: "high" (fix before trusting a model), "medium" (look at it), "low" (know it).
        column: the column concerned; None for whole-table findings.
        message: what was found, with the figures.
        action: what to do about it, concretely.
    """

    check: str
    severity: str
    column: str | None
    message: str
    action: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (run record, CLI ``--json``)."""
        return {"check": self.check, "severity": self.severity, "column": self.column,
                "message": self.message, "action": self.action}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Inverse of :meth:`to_dict` (a saved run record's findings)."""
        missing = [k for k in ("check", "severity", "message", "action") if k not in data]
        if missing:
            raise DataError(f"an audit finding lacks {', '.join(missing)}; it has "
                            f"{', '.join(map(str, data))}")
        if data["severity"] not in SEVERITIES:
            raise DataError(f"unknown audit severity {data['severity']!r}; use one of "
                            f"{', '.join(SEVERITIES)}")
        column = data.get("column")
        return cls(str(data["check"]), str(data["severity"]),
                   None if column is None else str(column), str(data["message"]),
                   str(data["action"]))


_GROUPED = {"constant": "hold one value", "near_constant": "are near-constant",
            "missing": "are mostly missing", "id_like": "look like row identifiers",
            "high_cardinality": "have many distinct category values"}


def _grouped(findings: list[Finding]) -> list[Finding]:
    """Many findings of one column check and severity (a bag of words has hundreds of
    near-constant columns) become one, naming the first few columns."""
    out: list[Finding] = []
    for check in dict.fromkeys(f.check for f in findings):
        for severity in SEVERITIES:
            same = [f for f in findings if f.check == check and f.severity == severity]
            if len(same) <= MAX_LISTED or check not in _GROUPED:
                out += same
                continue
            names = ", ".join(_q(f.column or "") for f in same[:5])
            out.append(Finding(check, severity, None,
                               f"{len(same)} columns {_GROUPED[check]}: {names} and "
                               f"{len(same) - 5} more; e.g. {same[0].message}",
                               same[0].action))
    return out


def _sorted(findings: list[Finding], order: Mapping[str, int]) -> list[Finding]:
    """High -> low severity, then column order (whole-table findings first)."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (
        rank[f.severity], -1 if f.column is None else order.get(f.column, len(order)),
        CHECKS.index(f.check)))


_LABELS = {"target_leakage": "possible leakage", "id_like": "an identifier",
           "duplicate_rows": "duplicates", "train_test_overlap": "test rows seen in training",
           "missing": "missing values", "class_imbalance": "rare class",
           "target_outliers": "target outliers", "drift": "drift"}


def high_notes(findings: Sequence[Finding]) -> list[str]:
    """One short sentence per high-severity finding, for the notes shown after a fit."""
    return [f"audit: {f.message.split('; ')[0]}: {_LABELS.get(f.check, f.check)}"
            for f in findings if f.severity == "high"]
