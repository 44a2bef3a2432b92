"""Live progress of a run (Rich): elapsed and remaining budget, trials, best score so far."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.text import Text

from accelml.core.budget import Budget
from accelml.core.trial import TrialResult, TrialStatus


class RunProgress:
    """Feed it TrialResults; it redraws one status line. Does nothing when quiet."""

    def __init__(self, budget: Budget, metric: str, quiet: bool = False,
                 console: Console | None = None) -> None:
        self._budget = budget
        self._metric = metric
        self._quiet = quiet
        self._console = console or Console(stderr=True)
        self._live: Live | None = None
        self.done = 0
        self.failed = 0
        self.pruned = 0
        self.best: tuple[float, str] | None = None
        self.stage = "searching"

    def __enter__(self) -> RunProgress:
        if not self._quiet:
            self._live = Live(get_renderable=self._render, console=self._console,
                              refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.__exit__(kind, error, tb)
            self._live = None
            if not self._console.is_terminal:
                self._console.line()

    def trial_done(self, result: TrialResult, best: tuple[float, str] | None) -> None:
        """Count a finished trial and remember the best (score, learner) so far."""
        self.done += 1
        if result.status is TrialStatus.PRUNED:
            self.pruned += 1
        elif result.status is not TrialStatus.OK:
            self.failed += 1
        self.best = best

    def set_stage(self, stage: str) -> None:
        """Say what the run is doing now (searching, refitting ..., saving)."""
        self.stage = stage

    def _render(self) -> Text:
        elapsed = self._budget.elapsed()
        remaining = max(0.0, self._budget.remaining())
        best = (f"best {self._metric} {self.best[0]:.5g} ({self.best[1]})" if self.best
                else "no model yet")
        text = Text()
        text.append(f"{self.stage} ", style="bold cyan")
        text.append(f"{elapsed:5.1f}s / {self._budget.total_s:g}s ({remaining:.1f}s left)  ")
        pruned = f", {self.pruned} pruned" if self.pruned else ""
        text.append(f"trials {self.done} ({self.failed} failed{pruned})  ")
        text.append(best, style="bold green" if self.best else "yellow")
        return text
