"""Small check helpers shared by the engine: close-match suggestions for names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """A ' (did you mean ...?)' hint, or an empty string when nothing is close."""
    pool = [str(c) for c in candidates]
    found = difflib.get_close_matches(str(name), pool, n=n, cutoff=0.6)
    if not found:
        lowered = {c.lower(): c for c in pool}
        found = [lowered[c] for c in difflib.get_close_matches(str(name).lower(), lowered, n=n)]
    return f" (did you mean {', '.join(repr(f) for f in found)}?)" if found else ""


def check_target_column(columns: Iterable[object], target: str) -> None:
    """Raise TargetError naming close matches when ``target`` is not a column."""
    from accelml.errors import TargetError

    names = [str(c) for c in columns]
    if target not in names:
        shown = ", ".join(repr(n) for n in names[:20]) + (" ..." if len(names) > 20 else "")
        raise TargetError(
            f"target column {target!r} is not in the data{close_matches(target, names)}; "
            f"columns are: {shown}"
        )
