"""How many cores other work keeps busy while this run works: the machine's busy time less
this process tree's own (the driver, its forkserver and workers), read from /proc.

The run measures the load once before it starts (``budget.busy_cores``, while nothing of its
own runs); this watch keeps measuring during the search, so a second job that starts or ends
mid-run changes how many trials run side by side. Where /proc cannot be read (not Linux), it
reports nothing and the layout stays as it started."""

from __future__ import annotations

import os
import time

from accelml.core.budget import cpu_ticks

#: Seconds between two looks at the load (each reads /proc once: a few milliseconds).
EVERY_S = 2.0


def process_table() -> tuple[dict[int, int], dict[int, list[int]]]:
    """Every process's parent, and its /proc/<pid>/stat fields 14 to 17 (user and system
    ticks, then those of its reaped children)."""
    parents: dict[int, int] = {}
    ticks: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        ticks[pid] = [int(v) for v in fields[11:15]]
    return parents, ticks


def descendants(root: int, parents: dict[int, int]) -> set[int]:
    """``root`` and every process descending from it."""
    mine = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                grew = True
    return mine


def _tree_ticks(root: int) -> int:
    """CPU ticks (user + system, with those of reaped children) of ``root`` and every process
    descending from it, now."""
    parents, ticks = process_table()
    return sum(sum(ticks.get(pid, [])) for pid in descendants(root, parents))


class OtherLoad:
    """Cores busy with work outside this process tree, averaged over each window of at
    least :data:`EVERY_S` seconds."""

    def __init__(self, root: int | None = None) -> None:
        self.root = os.getpid() if root is None else root
        self._hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = self._read()

    def _read(self) -> tuple[float, int, int] | None:
        machine = cpu_ticks()
        if machine is None:
            return None
        return time.monotonic(), machine[0], _tree_ticks(self.root)

    def sample(self) -> float | None:
        """The cores other work kept busy since the last window closed, once a window of
        :data:`EVERY_S` has passed; None before that, or where /proc is not readable."""
        if self._last is None or time.monotonic() - self._last[0] < EVERY_S:
            return None
        now = self._read()
        if now is None:
            return None
        (then, machine_then, mine_then), (at, machine_now, mine_now) = self._last, now
        self._last = now
        others = (machine_now - machine_then) - max(0, mine_now - mine_then)
        return max(0.0, others / self._hz / max(at - then, 1e-9))
