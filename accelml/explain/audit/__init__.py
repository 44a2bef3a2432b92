"""The data audit: what a careful analyst checks in a table before trusting a model on it.

Every check reads the data once, cheaply (fits run it inside their time budget): leakage
(a feature that alone predicts the target almost perfectly, or copies it), identifiers,
duplicated rows and conflicting labels, rows shared with a test set, constant and
near-constant columns, missing values, class imbalance, high-cardinality categories and
target outliers. :func:`profile` keeps a small summary of the training columns in the run
record, so that :func:`drift` can later compare new data with it without the training data.

Only the core is imported here: the tabular modality runs the audit, so the audit cannot
lean on it (the import layers in ``pyproject.toml``); its column reading is its own and
lighter than the preprocessor's.

This module only re-exports; the work is split by job: :mod:`.run` (the :func:`audit`
entry point), :mod:`.table` (reading the columns once), :mod:`.columns`, :mod:`.target`,
:mod:`.rows` and :mod:`.leakage` (the checks), :mod:`.profiles` (profile and drift),
:mod:`.findings` (:class:`Finding`, grouping and ordering), :mod:`.thresholds` and
:mod:`.wording`.
"""

from accelml.explain.audit.findings import CHECKS, SEVERITIES, TASKS, Finding, high_notes
from accelml.explain.audit.profiles import drift, profile
from accelml.explain.audit.run import audit
from accelml.explain.audit.thresholds import (
    COPY_CORRELATION,
    DRIFT_Z,
    HIGH_CARDINALITY,
    ID_DISTINCT,
    IMBALANCE,
    LEAK_AUC,
    LEAK_R2,
    MAX_LISTED,
    MIN_CLASS_ROWS,
    MIN_ROWS,
    MISSING,
    MISSING_DRIFT,
    MODEL_ROWS,
    NEAR_CONSTANT,
    NOTABLE_SHARE,
    OUTLIER_IQR,
    PROFILE_BINS,
    PROFILE_VALUES,
    PSI_LEVELS,
    STATS_ROWS,
    TEXT_WORDS,
)

__all__ = [
    "CHECKS", "COPY_CORRELATION", "DRIFT_Z", "HIGH_CARDINALITY", "ID_DISTINCT", "IMBALANCE",
    "LEAK_AUC", "LEAK_R2", "MAX_LISTED", "MIN_CLASS_ROWS", "MIN_ROWS", "MISSING",
    "MISSING_DRIFT", "MODEL_ROWS", "NEAR_CONSTANT", "NOTABLE_SHARE", "OUTLIER_IQR",
    "PROFILE_BINS", "PROFILE_VALUES", "PSI_LEVELS", "SEVERITIES", "STATS_ROWS", "TASKS",
    "TEXT_WORDS", "Finding", "audit", "drift", "high_notes", "profile",
]
