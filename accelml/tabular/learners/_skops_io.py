"""skops.io, imported without the torch import it would otherwise bring.

skops lists the scikit-learn types it trusts by walking every scikit-learn package when it is
imported, and the walk imports scikit-learn's bundled array-API shim for torch, which imports
torch: 2.1 s of skops' 3 s import on a 2-core machine, paid by each worker's first save and
each process's first load of a scikit-learn model (a linear member's refit took 3 s, not
0.1 s). While torch is not imported, the shim is hidden from the walk (the walk skips
packages that fail to import) and restored right after; no scikit-learn estimator lives in it.
"""

from __future__ import annotations

import sys
from types import ModuleType

#: The package of scikit-learn's walk that imports torch.
TORCH_SHIM = "sklearn.externals.array_api_compat.torch"


def import_skops_io() -> ModuleType:
    """``skops.io``, imported without importing torch when torch is not imported yet."""
    if "skops.io" in sys.modules or "torch" in sys.modules or TORCH_SHIM in sys.modules:
        import skops.io

        return skops.io
    sys.modules[TORCH_SHIM] = None  # type: ignore[assignment]  # (import fails: skipped)
    try:
        import skops.io
    finally:
        if sys.modules.get(TORCH_SHIM, ...) is None:
            del sys.modules[TORCH_SHIM]
    return skops.io


sio = import_skops_io()
