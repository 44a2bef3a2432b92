"""Counted work, for runs that must repeat exactly (``RunConfig.deterministic``).

A run scheduled by the clock stops wherever the clock says, so two runs with the same seed
try different trials. A deterministic run instead charges each finished trial the work it
did, counted from what it reports (rows x features x the fidelity units it trained, its
:attr:`~accelml.core.learner.FitFacts.units_trained`, x folds, x its learner's unit cost)
and converted to estimated core-seconds with fixed rates, and stops the search when that
count reaches the budget's share. The count is the same on every run with the same seed and
data; the clock stays a cap.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelml.core.trial import TrialResult

#: Estimated core-seconds of one trial's fixed overhead per fold (process hop, setup,
#: scoring) ... (0.03 undercounted: 38 trials on a 469-row table took 0.8 s each, and the
#: clock ended the search with a quarter of its counted work left) ...
TRIAL_OVERHEAD_S = 0.1
#: ... of one unit (a boosting round, a tree, an epoch) on one fold ...
UNIT_S = 1e-4
#: ... and of one unit per row and feature.
CELL_UNIT_S = 2e-9
#: Share of the budget's core-seconds the search may count; the rest is for the final fits.
SEARCH_SHARE = 0.35


def trial_work(result: TrialResult, relative_cost: float, n_rows: int, n_features: int,
               n_folds: int) -> float:
    """Estimated core-seconds of ``result``, from counts only (never from its timing): the
    units its fits report, else its fidelity."""
    units = result.facts.units_trained
    if units is None:
        units = result.spec.fidelity or 1
    per_fold = TRIAL_OVERHEAD_S + float(units) * (UNIT_S + CELL_UNIT_S * n_rows
                                                  * max(1, n_features))
    return relative_cost * n_folds * per_fold


@dataclass
class WorkBudget:
    """The counted work a deterministic search may do, and what it has done."""

    allowance: float
    done: float = 0.0

    @classmethod
    def for_budget(cls, time_budget: float, cores: int) -> WorkBudget:
        """The search's share of the budget's core-seconds."""
        return cls(SEARCH_SHARE * time_budget * cores)

    def charge(self, work: float) -> None:
        """Count a finished trial's work."""
        self.done += work

    def exhausted(self) -> bool:
        """True once the counted work reaches the allowance."""
        return self.done >= self.allowance
