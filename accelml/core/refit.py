"""The fits after the search: the best trial refit on all rows (or, when that fails or does
not fit in the time left, the next best, a trial's kept models, or the constant model), and
the blend's other members refit while the budget allows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from accelml.config import RunConfig
from accelml.core.budget import Budget, busy_cores
from accelml.core.data import DatasetView
from accelml.core.executor import Executor
from accelml.core.reserve import (
    MEMBER_LOAD_S,
    MIN_MEMBER_S,
    MIN_TRIAL_S,
    SAVE_MARGIN_S,
    STACKING_SHARE,
    final_fit_threads,
    validated_units,
)
from accelml.core.schedule import Schedule
from accelml.core.trial import TrialKind, TrialResult, TrialSpec, TrialStatus
from accelml.errors import SearchError

#: The final fit tries the best trials in this order, at most this many of them.
REFIT_CANDIDATES = 3
#: Refits are numbered from here so their ids never clash with search trials.
REFIT_ID_BASE = 1_000_000
#: A refit its deadline stopped before this share of the units (rounds, epochs) its trial
#: validated with is not served: a network stopped after its first epoch, its learning rate
#: still warming up, answers every row with about the class shares (segment at 60 s: a
#: member of a tenth of the blend's weight took its probabilities from 0.999 to 0.91).
CUT_SHORT_SHARE = 0.5


@dataclass
class SearchOutcome:
    """Every trial of the search and the refit that produced the final model."""

    results: list[TrialResult] = field(default_factory=list)
    refit: TrialResult | None = None
    chosen: TrialResult | None = None
    refit_attempts: list[TrialResult] = field(default_factory=list)
    member_refits: list[TrialResult] = field(default_factory=list)
    weights: dict[int, float] = field(default_factory=dict)  # trial id -> weight in the blend
    folds: dict[int, int] = field(default_factory=dict)  # trial id -> fold models it serves
    #: trial id -> the run's elapsed seconds when the trial's result arrived (the report's
    #: search-over-time figure); trials taken back from an earlier session have none.
    ended_s: dict[int, float] = field(default_factory=dict)
    #: What was served in place of the best trial's refit and why (None: nothing was).
    fallback: dict[str, Any] | None = None
    #: trial id -> one-row prediction milliseconds of its served model(s), measured in the
    #: run's process (served trials only, and only when the run had a latency goal).
    latency_ms: dict[int, float] = field(default_factory=dict)
    #: The latency goal's record (:func:`accelml.core.latency.keep_within`), or None.
    latency: dict[str, Any] | None = None
    #: Trials left out of the blend before its members were fitted on all rows: alone, their
    #: search-time one-row prediction would fill more of the latency goal than a member may.
    too_slow: list[int] = field(default_factory=list)
    #: The simpler config served in place of the best trial, within noise of it
    #: (:func:`accelml.core.noise.prefer_simpler`), or None.
    noise: dict[str, Any] | None = None


class RefitFailed(SearchError):
    """Trials finished, but no refit succeeded and no trial kept its models."""


@dataclass
class RunParts:
    """What the search and the final fits share: the data, the settings, the clock, the
    workers, where trial files go, what has finished so far, and how trials are scheduled;
    ``record`` writes a finished trial to the run store; ``threads`` is the search trials'
    thread count and ``slowness`` the driver's (see :func:`accelml.core.reserve.slowness`)."""

    view: DatasetView
    config: RunConfig
    budget: Budget
    executor: Executor
    workdir: Path
    outcome: SearchOutcome
    schedule: Schedule
    record: Callable[[TrialResult], None]
    threads: int = 1
    slowness: float = 1.0


class FinalFits:
    """Refits on all rows once the search has ended."""

    def __init__(self, parts: RunParts) -> None:
        self.parts = parts
        self._threads: int | None = None  # the final fits' threads, once measured
        #: What the clock took from the final fits of a run scheduled by counted work (a
        #: refit or member not attempted for lack of time, or killed at its limit): such a
        #: run may not repeat, and its report says it was cut by the clock.
        self.clock_cuts: list[str] = []

    def _note_clock_cut(self, candidate: TrialResult, result: TrialResult | None) -> None:
        """Record a final fit the clock cut, in a run scheduled by counted work."""
        if self.parts.schedule.timed:
            return  # a timed run never promised to repeat
        if result is None or result.status is TrialStatus.TIMEOUT or cut_short(candidate, result):
            self.clock_cuts.append(f"trial {candidate.spec.trial_id} ({candidate.spec.learner})")

    def save_margin(self) -> float:
        """Seconds kept at the end for loading the models and writing the model directory."""
        return SAVE_MARGIN_S * self.parts.slowness

    def stacking_share(self) -> float:
        """Seconds neither the search nor the member refits may take: the stacking level's."""
        parts = self.parts
        return STACKING_SHARE * parts.budget.total_s if parts.config.ensemble.stacking else 0.0

    def threads(self) -> int:
        """Threads of the final fits (:func:`accelml.core.reserve.final_fit_threads`),
        measured once, when the first needs them."""
        if self._threads is None:
            parts = self.parts
            self._threads = final_fit_threads(parts.config.execution, parts.threads, busy_cores(),
                                              parts.schedule.fixed_layout)
        return self._threads

    def refit_best(self, ranked: list[TrialResult], on_stage: Callable[[str], None]
                   ) -> SearchOutcome:
        """Refit the best of ``ranked`` on all rows. A best trial that kept its fold models (a
        bag) is served as it is. When the best's refit fails or cannot fit in the time left,
        the next best (of REFIT_CANDIDATES) is refit, or a candidate's kept models (fold
        models, or a holdout trial's model) are served as the search validated them; failing
        all that, the kept models of any good trial, a refit its deadline cut short
        (:func:`cut_short`), or the cheapest candidate's refit with whatever time is left.
        What was served instead of the best's refit, and why, goes to ``outcome.fallback``.

        Raises SearchError when no trial finished, RefitFailed when nothing could be served
        (see :meth:`serve_constant` for what the run serves then)."""
        outcome = self.parts.outcome
        if not ranked:
            raise SearchError(no_model_message(outcome.results, self.parts.budget))
        if ranked[0].bag_dir is not None:  # its fold models serve as they are
            outcome.refit, outcome.chosen = ranked[0], ranked[0]
            return outcome
        threads = self.threads()
        reasons: list[str] = []
        for candidate in ranked[:REFIT_CANDIDATES]:
            served = self._refit_or_keep(candidate, threads, reasons, on_stage)
            if served is not None:
                return self._served(served, candidate, ranked[0], reasons)
        kept = next((r for r in ranked if _kept(r)), None)
        if kept is not None:
            return self._served(kept, kept, ranked[0], reasons)
        short = next((r for r in outcome.refit_attempts if r.status is TrialStatus.OK), None)
        if short is not None:  # cut short, yet better than the constant model
            candidate = next(r for r in ranked
                             if REFIT_ID_BASE + r.spec.trial_id == short.spec.trial_id)
            return self._served(short, candidate, ranked[0], reasons)
        if not outcome.refit_attempts:  # none fitted: the cheapest gets what is left
            cheapest = min(ranked[:REFIT_CANDIDATES],
                           key=lambda candidate: self._refit_cost(candidate, threads))
            result = self._attempt(cheapest, self._refit_limit(), threads, on_stage)
            if result.status is TrialStatus.OK:
                return self._served(result, cheapest, ranked[0], reasons)
            reasons.append(_refit_failure(cheapest, result))
        raise RefitFailed(_refit_failed_message(reasons, outcome.refit_attempts))

    def _refit_limit(self) -> float:
        return self.parts.budget.remaining() - self.save_margin()

    def _refit_cost(self, candidate: TrialResult, threads: int) -> float:
        parts = self.parts
        return parts.schedule.refit_cost(candidate, parts.view, threads, parts.slowness)

    def _refit_or_keep(self, candidate: TrialResult, threads: int, reasons: list[str],
                       on_stage: Callable[[str], None]) -> TrialResult | None:
        """The candidate's refit when it fits in the time left and succeeds, else its kept
        models (the candidate itself) when it has some, else None; ``reasons`` gets why."""
        limit = self._refit_limit()
        estimate = self._refit_cost(candidate, threads)
        if limit >= MIN_TRIAL_S and estimate <= limit:
            result = self._attempt(candidate, limit, threads, on_stage)
            if result.status is TrialStatus.OK and not cut_short(candidate, result):
                return result
            self._note_clock_cut(candidate, result)
            reasons.append(_refit_failure(candidate, result))
        else:
            self._note_clock_cut(candidate, None)
            reasons.append(f"the refit of trial {candidate.spec.trial_id} "
                           f"({candidate.spec.learner}), about {estimate:.1f}s, did not fit in "
                           f"the {max(limit, 0.0):.1f}s left")
        return candidate if _kept(candidate) else None

    def _attempt(self, candidate: TrialResult, limit: float, threads: int,
                 on_stage: Callable[[str], None]) -> TrialResult:
        on_stage(f"refitting {candidate.spec.learner} on all rows")
        result = self._refit(candidate, max(limit, MIN_TRIAL_S), threads)
        self.parts.outcome.refit_attempts.append(result)
        return result

    def _served(self, model: TrialResult, candidate: TrialResult, best: TrialResult,
                reasons: list[str]) -> SearchOutcome:
        """Serve ``model`` (a refit, or a trial's kept models) for ``candidate``; say why
        when it is not the best trial's refit."""
        outcome = self.parts.outcome
        outcome.refit, outcome.chosen = model, candidate
        short = model is not candidate and cut_short(candidate, model)
        if model is candidate or candidate is not best or short:
            outcome.fallback = {
                "served": ("kept_models" if model is candidate else
                           "cut_short_refit" if short else "next_best_refit"),
                "trial": candidate.spec.trial_id, "learner": candidate.spec.learner,
                "why": "; ".join(reasons)}
        return outcome

    def serve_constant(self, why: str) -> SearchOutcome:
        """Serve the constant model (class prior, or mean), fitted in this process in a
        moment: validated on the run's splits like a trial, on the leaderboard as the
        fallback, with ``why`` (the run's own reason it has no other model)."""
        from accelml.core.constant import CONSTANT
        from accelml.core.evaluate import run_trial

        parts, outcome = self.parts, self.parts.outcome
        trial_id = 1 + max((r.spec.trial_id for r in outcome.results), default=-1)
        folder = parts.workdir / "final" / CONSTANT
        spec = TrialSpec(trial_id=trial_id, learner=CONSTANT, config={}, fidelity=None,
                         time_limit_s=parts.budget.total_s, seed=parts.config.seed, n_jobs=1,
                         output_dir=folder / "validated", timed=False)
        validated = run_trial(spec, parts.view)
        fitted = run_trial(replace(spec, kind=TrialKind.REFIT, output_dir=folder / "model"),
                           parts.view)
        if fitted.status is not TrialStatus.OK or validated.status is not TrialStatus.OK:
            raise SearchError(f"{why}; the constant model failed too ({fitted.error or ''}"
                              f"{validated.error or ''})")
        chosen = replace(validated, error=why, info={**validated.info, "fallback": True})
        outcome.results.append(chosen)
        outcome.refit, outcome.chosen = fitted, chosen
        outcome.fallback = {"served": CONSTANT, "trial": trial_id, "learner": CONSTANT,
                            "why": why}
        return outcome

    def refit_member(self, candidate: TrialResult,
                     on_stage: Callable[[str], None]) -> TrialResult | None:
        """Refit an ensemble member on all rows if the time left allows it; None when it
        does not, or when the refit fails (the blend is then chosen without it). The time
        left keeps the loading of the members refit so far: six members of a 14 s run,
        refit until the save margin, took 1.3 s more to load and ended the run past its
        budget."""
        parts = self.parts
        refit_so_far = sum(r.status is TrialStatus.OK for r in parts.outcome.member_refits)
        loads = MEMBER_LOAD_S * parts.slowness * refit_so_far
        limit = parts.budget.remaining() - self.save_margin() - self.stacking_share() - loads
        estimate = parts.schedule.member_cost(candidate, parts.view, parts.slowness,
                                              self.threads())
        if limit < max(MIN_MEMBER_S, estimate):  # counted runs: every member, clock as cap
            self._note_clock_cut(candidate, None)
            return None
        on_stage(f"refitting ensemble member {candidate.spec.learner}")
        result = self._refit(candidate, limit, self.threads())
        parts.outcome.member_refits.append(result)
        if result.status is not TrialStatus.OK or cut_short(candidate, result):
            self._note_clock_cut(candidate, result)
            return None
        return result

    def _refit(self, candidate: TrialResult, limit: float, threads: int) -> TrialResult:
        parts = self.parts
        fidelity = parts.schedule.final_fidelity(candidate, limit, parts.config, parts.view)
        spec = TrialSpec(
            trial_id=REFIT_ID_BASE + candidate.spec.trial_id, learner=candidate.spec.learner,
            config=candidate.spec.config, fidelity=fidelity, time_limit_s=limit,
            seed=parts.config.seed, n_jobs=threads, kind=TrialKind.REFIT,
            output_dir=parts.workdir / "final" / str(candidate.spec.trial_id),
            init_from=candidate.artifact_dir, timed=parts.schedule.timed,
            max_memory_mb=parts.config.max_trial_memory_mb)
        while parts.executor.free_slots() <= 0:  # wait out stragglers
            for result in parts.executor.completed(timeout_s=0.2):
                parts.outcome.results.append(result)
                parts.record(result)
        parts.executor.submit(spec)
        while True:
            for result in parts.executor.completed(timeout_s=0.2):
                if result.spec.trial_id == spec.trial_id:
                    return result
                parts.outcome.results.append(result)
                parts.record(result)


def _kept(result: TrialResult) -> bool:
    """Whether a trial kept models that can be served without a refit."""
    return result.bag_dir is not None or result.artifact_dir is not None


def cut_short(candidate: TrialResult, refit: TrialResult) -> bool:
    """Whether ``refit`` trained under CUT_SHORT_SHARE of the units ``candidate`` was
    validated with (learners that count no units are never cut short)."""
    validated = validated_units(candidate)
    trained = refit.facts.units_trained
    return bool(validated and trained and trained < CUT_SHORT_SHARE * validated)


def _refit_failure(candidate: TrialResult, result: TrialResult) -> str:
    """Why a refit failed, in words, with the memory cap named when one was set."""
    if result.status is TrialStatus.OK:  # it ended, but too early to be served
        return (f"the refit of trial {candidate.spec.trial_id} ({candidate.spec.learner}) "
                f"was cut short by its deadline after {result.facts.units_trained:g} of "
                f"{validated_units(candidate)} units")
    why = result.error or result.status.value
    cap = result.spec.max_memory_mb
    if cap is not None and result.status is TrialStatus.FAILED and "process died" in why:
        why += f" (under the {cap:g} MB --max-trial-memory cap)"
    return f"the refit of trial {candidate.spec.trial_id} ({candidate.spec.learner}) " + (
        "timed out: " if result.status is TrialStatus.TIMEOUT else "failed: ") + why


def _refit_failed_message(reasons: list[str], attempts: list[TrialResult]) -> str:
    """No final model could be made: the reasons, and the fix for the cause that ended it."""
    statuses = {r.status for r in attempts}
    if TrialStatus.OUT_OF_MEMORY in statuses or any(
            "--max-trial-memory" in reason for reason in reasons):
        fix = "raise --max-trial-memory (or leave it out)"
    elif TrialStatus.FAILED in statuses:
        fix = "exclude the failing learner with --exclude"
    else:
        fix = "raise --time-budget"
    return f"no final model: {'; '.join(reasons)}; {fix}"


def no_trial_in_time(results: list[TrialResult]) -> bool:
    """Whether a run without any usable trial ran out of time (none ended, or one was cut by
    its time limit or pruned): the constant model then stands in. When every trial failed
    for another reason (an error, the memory cap), that reason is the run's error."""
    time_bound = {TrialStatus.TIMEOUT, TrialStatus.PRUNED}
    return not results or any(r.status in time_bound for r in results)


def no_model_message(results: list[TrialResult], budget: Budget) -> str:
    """Why a run has no model: no trial finished in time, or every trial failed (with the
    reasons and the fixes)."""
    if not results:
        return (f"no trial finished within the {budget.total_s:g}s budget; "
                "raise --time-budget")
    reasons = sorted({f"{r.spec.learner}: {r.error}" for r in results})[:5]
    counts = Counter(r.status.value for r in results)
    tally = ", ".join(f"{n} {status}" for status, n in counts.most_common())
    fixes = [fix for status, fix in _FIXES.items() if status in counts]
    return (f"all {len(results)} trials failed ({tally}: {'; '.join(reasons)}); "
            f"{'; '.join(dict.fromkeys(fixes))}")


#: The fix for each way a trial ends without a model.
_FIXES = {TrialStatus.OUT_OF_MEMORY.value: "raise --max-trial-memory (or leave it out)",
          TrialStatus.FAILED.value: "fix the data, or exclude the failing learners with "
                                    "--exclude",
          TrialStatus.TIMEOUT.value: "raise --time-budget",
          TrialStatus.PRUNED.value: "raise --time-budget"}
