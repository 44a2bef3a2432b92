"""Import, in the background, the libraries the driver needs to load the final models.

A learner imports its library lazily, so ``import accelml`` stays light; the driver then
imports it first when it loads the blend after the search, where the budget keeps about a
second for loading and saving. skops alone (it walks every scikit-learn estimator) took 2.7 s
there on a 2-core machine, and a 10 s run took 11.5 s (torch, which the walk imported, no
longer comes with it: see :mod:`accelml.tabular.learners._skops_io`).
A thread imports them instead while the workers start; should the driver
reach a module first, Python's import lock makes it wait for that one import, not redo it.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable, Sequence

from accelml.core.learner import Learner, capabilities


def load_modules(learners: Iterable[Learner]) -> list[str]:
    """The modules the learners' ``load`` imports lazily (their ``load_modules``), once each."""
    return sorted({module for learner in learners
                   for module in capabilities(learner).load_modules})


def preload(modules: Sequence[str]) -> threading.Thread:
    """Start importing ``modules`` in a daemon thread and return it."""
    thread = threading.Thread(target=_import_each, args=(tuple(modules),),
                              name="accelml-preload", daemon=True)
    thread.start()
    return thread


def _import_each(modules: Sequence[str]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - loading the model reports the broken library itself
            continue
