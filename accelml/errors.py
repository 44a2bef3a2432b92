"""Typed errors: each names the problem, the value at fault and the fix.

The CLI prints ``str(error)`` as one line and exits non-zero; the Python API raises them as they
are. Every error AccelML raises on purpose derives from :class:`AccelMLError`.
"""

from __future__ import annotations


class AccelMLError(Exception):
    """Base of every error AccelML raises on purpose (bad input, bad state, missing extra)."""

    exit_code = 2


class DataError(AccelMLError, ValueError):
    """The data cannot be read or cannot be learned from (missing file, empty, one class...)."""


class TargetError(DataError):
    """The target column is absent or unusable."""


class SchemaError(DataError):
    """Prediction data does not match the schema the model was trained on."""


class ConfigError(AccelMLError, ValueError):
    """A run setting is invalid (a budget <= 0, an unknown metric or task...)."""


class ArtifactError(AccelMLError):
    """A model directory is not one, was changed after saving, or is of an unknown format."""


class MissingDependencyError(AccelMLError, ImportError):
    """An optional library is needed; the message names the extra that installs it."""


class NotFittedError(AccelMLError, AttributeError):
    """A predictor or estimator was used before it was fitted."""


class SearchError(AccelMLError, RuntimeError):
    """The search ended without a single usable model (every trial failed)."""
