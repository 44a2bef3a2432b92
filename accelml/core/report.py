"""The run report: what a finished run says about itself (``Predictor.info``, the manifest's
``run`` record), each entry declared once here with its type and meaning. It is a typed dict,
so the manifest stays plain JSON and a report from an older model directory (with fewer
entries) still loads."""

from __future__ import annotations

from typing import Any, TypedDict


class RunReport(TypedDict, total=False):
    """Every entry of a run's report."""

    # what was asked, and the data
    time_budget_s: float  #: the run's budget
    seed: int
    rows: int  #: training rows after dropping those without a target
    features: int  #: encoded feature columns
    validation: str  #: e.g. "5-fold cross-validation" or "holdout (6513 rows)"
    notes: list[str]  #: what preprocessing (and the zero-shot portfolio) decided
    audit: list[dict[str, Any]]  #: the data audit's findings (check, severity, column, ...)
    data_profile: dict[str, Any] | None  #: the training columns' summary, for drift checks
    diagnostics: dict[str, Any]  #: the served model's training and validation scores, gap,
    #: and (classifiers) its calibration curve on the out-of-fold predictions
    # the search
    trials: int  #: search trials (the constant fallback model not counted)
    failed_trials: int
    pruned_trials: int  #: trials ended early because their pace could not reach their rung
    workers: int  #: trials at once
    threads_per_trial: int
    search_ended_by: str | None  #: time, starved_trial, proposals_exhausted, learners_settled, ...
    stopped_by: str | None  #: the signal that stopped the run early, if any
    first_model_s: float | None  #: when the first usable model existed (the anytime promise)
    search_cost: dict[str, Any]  #: devices, device-seconds, trials
    # deterministic runs (counted work; see accelml.core.schedule)
    counted_work_s: float
    work_allowance_s: float
    deterministic_cut_by_clock: bool
    #: the final fits the clock cut (members left out, a refit killed, the stacking level)
    deterministic_clock_cuts: list[str]
    # where trials ran and were recorded
    backend: str  #: local or ray
    storage: str  #: the trial history's database URL, without its password
    study_name: str
    run_id: str
    resumed: int  #: sessions that continued the run
    resumed_trials: int  #: trials kept from earlier sessions
    shared_trials: int  #: trials of other runs in the shared study, learned from
    spent_before_resume_s: float
    # the served model
    final_learner: str | None
    final_fidelity: int | None
    validation_score: float | None  #: the chosen trial's validation score
    ensemble: list[dict[str, Any]]  #: blend members: trial, weight, fold models
    stacking: dict[str, Any] | None  #: whether a level-two model was learned and served
    fallback: dict[str, Any] | None  #: what was served instead of the best's refit, and why
    #: the one-row latency goal: its limit, each member's and the served model's measured
    #: milliseconds, whether it was met, and the trials dropped from the blend to meet it
    latency: dict[str, Any] | None
    #: a simpler config of the best trial's learner served in its place, its out-of-fold
    #: loss within noise of the best's (the gap, its bootstrap standard error), or None
    noise: dict[str, Any] | None
    #: each layout of the search (trials side by side, threads each) with when it began and
    #: the cores other work kept busy then: the first from the load before the run, the
    #: rest as the load changed
    layouts: list[dict[str, Any]]
    # time
    phases_s: dict[str, float]  #: seconds of search, refit, member_refits, stacking, loading
    reserved_after_search_s: float  #: what the search left for the steps after it
    slowness: float  #: how much slower than idle the driver's own work ran (machine load)
    search_and_refit_s: float  #: the engine's seconds (preprocessing before it not counted)
    fit_wall_s: float  #: the whole fit, saving included (known once the model is written)
    budget_overrun: float  #: share of the budget spent past it (negative: time left)
