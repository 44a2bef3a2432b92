"""AccelML: automated machine learning, accelerated.

Public names only; heavy modules load on first use, so ``import accelml`` stays light and loads
neither torch nor ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accelml._version import __version__

if TYPE_CHECKING:
    from accelml.api import audit, fit, load, resume
    from accelml.config import RunConfig
    from accelml.core.task import Task
    from accelml.sklearn import AccelClassifier, AccelRegressor

__all__ = ["AccelClassifier", "AccelRegressor", "RunConfig", "Task", "__version__", "audit",
           "fit", "load", "resume"]

_LAZY = {
    "audit": "accelml.api",
    "fit": "accelml.api",
    "load": "accelml.api",
    "resume": "accelml.api",
    "RunConfig": "accelml.config",
    "Task": "accelml.core.task",
    "AccelClassifier": "accelml.sklearn",
    "AccelRegressor": "accelml.sklearn",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'accelml' has no attribute {name!r}")
