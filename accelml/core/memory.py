"""A memory cap per trial (``--max-trial-memory``) and telling out-of-memory failures apart.

The cap is an address-space limit (``RLIMIT_AS``) set in the worker for the length of one
trial, at what the worker already maps plus the cap: an allocation past it fails inside the
trial (numpy's MemoryError, a library's bad_alloc) instead of pushing the machine into the
kernel's OOM killer, and the trial is recorded as out of memory. The limit is lifted again
after the trial, so a worker reused for the next trial starts clean. Linux only; elsewhere the
cap is not applied.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

#: Messages of the allocation failures of the libraries trials use; "failed to map" is a
#: shared library (catboost's, libgomp's) that could not be mapped under the cap.
OUT_OF_MEMORY_MARKERS = ("bad_alloc", "can't allocate memory", "cannot allocate memory",
                         "out of memory", "failed to allocate", "memoryerror",
                         "failed to map")


def mapped_bytes() -> int:
    """The worker's current virtual size in bytes (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    import resource

    return pages * resource.getpagesize()


@contextlib.contextmanager
def memory_limit(max_mb: float | None) -> Iterator[None]:
    """Cap what the block may allocate at ``max_mb`` megabytes more than is mapped now."""
    if max_mb is None or not sys.platform.startswith("linux"):
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = mapped_bytes() + int(max_mb * 1024 * 1024)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def is_out_of_memory(error: BaseException) -> bool:
    """True for an allocation failure, whichever library raised it."""
    if isinstance(error, MemoryError):
        return True
    text = f"{type(error).__name__}: {error}".lower()
    return any(marker in text for marker in OUT_OF_MEMORY_MARKERS)
