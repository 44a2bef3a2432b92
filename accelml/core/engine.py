"""One AutoML run over prepared features: write the dataset view, search with worker
processes under the budget, refit the best configuration, and assemble the Predictor.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from accelml.config import (
    EnsembleSettings,
    ExecutionSettings,
    RunConfig,
    SearchSettings,
)
from accelml.core.budget import Budget, Deadline, busy_cores
from accelml.core.data import DatasetView, DataShape, Features
from accelml.core.diagnostics import fit_diagnostics
from accelml.core.ensemble import select_ensemble, select_within
from accelml.core.evaluate import validation_targets
from accelml.core.executor import Executor, LocalExecutor
from accelml.core.interrupt import StopRequest
from accelml.core.latency import (
    LatencyGoal,
    Served,
    keep_within,
    servable_first,
    served_members_ms,
    too_slow_to_serve,
)
from accelml.core.learner import (
    Config,
    Learner,
    capabilities,
    discover,
    get_learner,
    learners_for,
)
from accelml.core.metrics import get_metric
from accelml.core.multifidelity import SuccessiveHalving
from accelml.core.noise import COMPARE_S, gain_judge, prefer_simpler
from accelml.core.predictor import Member, Predictor, Preprocessor
from accelml.core.preload import load_modules, preload
from accelml.core.progress import RunProgress
from accelml.core.refit import RefitFailed, SearchOutcome, no_trial_in_time
from accelml.core.report import RunReport
from accelml.core.runner import SearchLoop
from accelml.core.search import SLOW_TRIAL_SHARE, Searcher, Space
from accelml.core.splits import SplitStrategy, default_splitter
from accelml.core.stacking import OutOfTime, Stacker, fit_stacker
from accelml.core.store import RunStore
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialResult, TrialStatus
from accelml.core.unseen import UnseenGuard
from accelml.errors import ConfigError, SearchError


def build_view(features: Features, y: np.ndarray, task: Task, config: RunConfig,
               splitter: SplitStrategy | None = None) -> DatasetView:
    """Features, targets and the run's fixed validation splits (the modality's ``splitter``,
    else :func:`default_splitter`)."""
    splits = (splitter or default_splitter(config.validation)).split(y, task)
    return DatasetView(features, y, task, splits)


def learner_spaces(learners: Sequence[Learner], view: DatasetView) -> dict[str, Space]:
    """Each learner's search space for this data."""
    shape = DataShape.of(view.features)
    return {learner.name: dict(learner.space(view.task, shape)) for learner in learners}


def learner_portfolios(learners: Sequence[Learner], view: DatasetView
                       ) -> dict[str, list[Config]]:
    """Each learner's portfolio for this data."""
    shape = DataShape.of(view.features)
    return {learner.name: list(learner.portfolio(view.task, shape)) for learner in learners}


def make_searcher(learners: Sequence[Learner], view: DatasetView, settings: SearchSettings,
                  fixed: Mapping[str, Config] | None = None,
                  sampler_options: Mapping[str, Mapping[str, Any]] | None = None,
                  lead: Sequence[tuple[str, Config]] = (), *,
                  slow_trial_s: float = math.inf) -> Searcher:
    """The searcher the settings ask for, with successive halving when multi_fidelity is on;
    ``sampler_options`` (per learner) go to that learner's sampler; ``lead`` configs (across
    learners) run before the learners' own portfolios; a learner whose trials take over
    ``slow_trial_s`` seconds runs no more of its portfolio once a cheaper one scored better."""
    halving = None
    if settings.multi_fidelity:
        halving = SuccessiveHalving(settings.eta)
        train_rows = min(len(train) for train, _ in view.splits)
        for learner in learners:
            if learner.fidelity is not None:
                halving.add_learner(learner.name, learner.fidelity,
                                    capabilities(learner).min_fidelity(train_rows))
    beyond_noise = None  # (ranking and forecast scores are not means over the rows of y)
    if view.task.kind not in (TaskKind.RANKING, TaskKind.FORECAST):
        beyond_noise = gain_judge(validation_targets(view), _task_loss(view.task), view.task,
                                  settings.seed)
    return Searcher(learners, view.task, learner_spaces(learners, view), settings.seed,
                    sampler=settings.sampler, fixed=fixed, halving=halving,
                    portfolios=(learner_portfolios(learners, view) if settings.portfolios
                                else {learner.name: [] for learner in learners}),
                    sampler_options=sampler_options, lead=lead, slow_trial_s=slow_trial_s,
                    beyond_noise=beyond_noise)


def _task_loss(task: Task) -> Callable[[np.ndarray, np.ndarray], float]:
    """The task's metric as a loss of (targets, predictions), as the noise rules take it."""
    metric = get_metric(task.metric)
    return lambda y, prediction: metric.loss(y, prediction, task)


def fit_predictor(view: DatasetView, preprocessor: Preprocessor, config: RunConfig,
                  budget: Budget, modules: Sequence[str], notes: Sequence[str] = (),
                  fixed: Mapping[str, Config] | None = None,
                  sampler_options: Mapping[str, Mapping[str, Any]] | None = None, *,
                  store: RunStore | None = None,
                  lead: Sequence[tuple[str, Config]] = (),
                  latency: LatencyGoal | None = None) -> Predictor:
    """Search, refit and return the Predictor; every trial lands on its leaderboard.

    ``fixed`` adds parameters to every config of a learner (e.g. a backbone path);
    ``sampler_options`` hands a learner's sampler extra context (e.g. a zero-cost screen);
    ``store`` records every finished trial (and, for a resumed run, holds the trials an
    earlier session finished, which are taken back instead of run again); ``lead`` configs
    run first (a zero-shot portfolio); ``latency`` limits the served model's one-row
    prediction time (:mod:`accelml.core.latency`).
    """
    discover(modules)
    learners = learners_for(view.task.kind, config.learners, config.exclude_learners,
                            preprocessor.kind)  # the modality's learners only
    with _workdir(store) as workdir:
        resumed = _prepare_view(view, workdir, store)
        executor, n_jobs = make_executor(config.execution, workdir / "view", modules)
        config = config.with_changes(n_jobs=n_jobs)  # (a Ray cluster's CPUs, when found)
        searcher = make_searcher(learners, view, config.search, fixed, sampler_options, lead,
                                 slow_trial_s=SLOW_TRIAL_SHARE * config.time_budget)
        progress = RunProgress(budget, view.task.metric, quiet=config.quiet)
        stop = StopRequest()
        first_model_s: list[float] = []  # when the first usable model arrived
        try:
            with progress, stop:
                busy = busy_cores()  # other work on the machine, before ours starts
                preload(load_modules(learners))  # while the workers start
                loop = SearchLoop(view, config, budget, executor, searcher, workdir, store,
                                  busy_elsewhere=busy,  # (deterministic runs only measure)
                                  time_one_row=latency is not None and not config.deterministic,
                                  servable=_servable(latency))
                loop.resume(resumed)
                if loop.search_left() > 0:  # (else no worker would get a trial)
                    executor.warm_up()

                def on_result(result: TrialResult) -> None:
                    if result.status is TrialStatus.OK and not first_model_s:
                        first_model_s.append(round(budget.elapsed(), 3))
                    ranked = loop.ranked()
                    best = (ranked[0].score or 0.0, ranked[0].spec.learner) if ranked else None
                    progress.trial_done(result, best)

                loop.run(on_result, stop)
                phases = {"search": budget.elapsed()}
                if stop.requested:
                    progress.set_stage(f"stopped by {stop.reason}: keeping the best model; "
                                       f"{stop.reason} again quits without saving")
                    _check_any_model(loop.outcome, stop)
                    config = config.with_changes(ensemble_size=1, stacking=False)
                outcome, config = _final_model(loop, config, progress.set_stage,
                                               None if config.deterministic else latency)
                phases["refit"] = budget.elapsed()
                blend, fitted = _ensemble(loop, config.ensemble, progress.set_stage,
                                          None if config.deterministic else latency)
                phases["member_refits"] = budget.elapsed()
                progress.set_stage("stacking")  # its deadline leaves the loading and saving
                stacking, stacker = _stack(blend, view, config.ensemble, config.seed,
                                           budget.deadline(reserve_s=loop.fits.save_margin()),
                                           loop.fits.threads())
                phases["stacking"] = budget.elapsed()
                progress.set_stage("done")
        finally:
            executor.shutdown()
        served = _within_latency(  # (while the out-of-fold files are there to choose by)
            latency, Served(blend, _blend_members(blend, fitted, view.task, outcome), stacker,
                            stacking, {}), view, preprocessor, config, budget, loop)
        validation = _blend_validation(served.blend, view.task)  # (before the files go)
        phases["loading"] = budget.elapsed()
    board = leaderboard(outcome, searcher.loss, view.task.metric, by_trial=config.deterministic)
    report = _run_report(view, config, budget, outcome, notes, loop.threads)
    report.update(RunReport(stopped_by=stop.reason, search_ended_by=loop.ended_by,
                            first_model_s=first_model_s[0] if first_model_s else None,
                            stacking=served.stacking, phases_s=_phase_seconds(phases),
                            reserved_after_search_s=round(loop.reserved_s, 3),
                            fallback=outcome.fallback, slowness=round(loop.slowness, 3),
                            latency=outcome.latency, noise=outcome.noise,
                            layouts=loop.layouts))
    report.update({**loop.schedule.report(loop.cut_by_clock, _clock_cuts(loop, served)),
                   **_store_report(store, loop)})
    _warn_fallback(outcome)
    return _with_diagnostics(Predictor(
        view.task, preprocessor, served.members, board, dict(report), served.stacker,
        validation=validation, background=_background(view, config.seed),
        guard=_unseen_guard(view)), view, budget, config.seed)


def _with_diagnostics(predictor: Predictor, view: DatasetView, budget: Budget,
                      seed: int) -> Predictor:
    """``predictor`` with its training / out-of-fold gap and calibration in its report."""
    diagnostics = fit_diagnostics(predictor, view, predictor.validation,
                                  _diagnostics_seconds(budget), seed)
    if diagnostics is not None:
        predictor.info.update(RunReport(diagnostics=diagnostics))
    return predictor


def _background(view: DatasetView, seed: int) -> np.ndarray | None:
    """A random sample of :data:`BACKGROUND_ROWS` encoded training rows, for inputs that
    are plain rows of numbers (no blocks, no image shape) and tasks that predict rows."""
    features = view.features
    if (features.blocks or features.item_shape
            or view.task.kind in (TaskKind.RANKING, TaskKind.FORECAST)):
        return None
    rows = np.random.default_rng(seed).permutation(len(features))[:BACKGROUND_ROWS]
    return np.asarray(features.X[np.sort(rows)], dtype=np.float64)


def _unseen_guard(view: DatasetView) -> UnseenGuard | None:
    """For classifiers of plain rows (no blocks, no image shape), the mix toward the class
    shares for rows missing values the training rows had (:mod:`accelml.core.unseen`)."""
    features = view.features
    if (features.blocks or features.item_shape or not view.task.kind.is_classification
            or view.task.kind is TaskKind.RANKING):
        return None
    return UnseenGuard.fit(np.asarray(features.X, dtype=np.float64), view.y,
                           view.task.n_classes)


def _diagnostics_seconds(budget: Budget) -> float:
    """What the training score may take: a small share of the budget, less when the run
    is already past it."""
    return max(0.0, min(DIAGNOSTICS_SHARE * budget.total_s, budget.remaining() - 1.0))


def _blend_validation(blend: list[tuple[TrialResult, float]], task: Task) -> np.ndarray | None:
    """The weighted mean of the blend's out-of-fold predictions (None for ranking tasks,
    and where a member has none)."""
    if (task.kind is TaskKind.RANKING or not blend
            or any(result.oof_path is None for result, _ in blend)):
        return None
    total = sum(weight for _, weight in blend)
    parts = [np.load(result.oof_path) * (weight / total)  # type: ignore[arg-type]
             for result, weight in blend]
    return np.asarray(np.sum(parts, axis=0), dtype=np.float64)


def _final_model(loop: SearchLoop, config: RunConfig, on_stage: Callable[[str], None],
                 goal: LatencyGoal | None = None) -> tuple[SearchOutcome, RunConfig]:
    """The best trial's refit (with a latency ``goal``, the best it can serve: see
    :func:`accelml.core.latency.servable_first`), or the fallback (see
    :meth:`SearchLoop.refit_best`); with no trial to serve (none finished in time, or no
    refit succeeded), the constant model, alone (the config returned blends and stacks
    nothing), unless the run is strict. A run whose every trial failed for another reason
    fails with it."""
    view = loop.view
    ranked = loop.ranked() if goal is None else servable_first(loop.ranked(), goal)
    ranked, loop.outcome.noise = prefer_simpler(
        ranked, validation_targets(view), _task_loss(view.task), view.task, config.seed,
        limit_s=None if config.deterministic else COMPARE_S)
    try:
        return loop.fits.refit_best(ranked, on_stage), config
    except RefitFailed as error:
        failure: SearchError = error
    except SearchError as error:
        if not no_trial_in_time(loop.outcome.results):
            raise
        failure = error
    if config.strict:
        raise SearchError(f"{failure}; without --strict (strict=False) the run would serve "
                          "the constant model (class prior or mean) instead") from None
    on_stage("no trial to serve: fitting the constant model")
    outcome = loop.fits.serve_constant(str(failure))
    return outcome, config.with_changes(ensemble_size=1, stacking=False)


def _warn_fallback(outcome: SearchOutcome) -> None:
    """Say when the served model is not the best trial's refit (the manifest says it too)."""
    fallback = outcome.fallback
    if fallback is None:
        return
    trial = f"trial {fallback['trial']} ({fallback['learner']})"
    served = {"constant": "the constant model (class prior or mean), not a searched model",
              "kept_models": f"{trial} as the search validated it, not refit on all rows",
              "next_best_refit": f"the refit of {trial}, not of the best trial",
              "cut_short_refit": f"the refit of {trial}, cut short by its deadline"}
    warnings.warn(f"serving {served[fallback['served']]}: {fallback['why']}", UserWarning,
                  stacklevel=3)


def _phase_seconds(ends: Mapping[str, float]) -> dict[str, float]:
    """Seconds each phase of the run took, from the budget clock at the end of each (in
    order), so a run that ends early or late shows where its time went."""
    seconds, start = {}, 0.0
    for phase, end in ends.items():
        seconds[phase] = round(end - start, 3)
        start = end
    return seconds


@contextlib.contextmanager
def _workdir(store: RunStore | None) -> Iterator[Path]:
    """Where the view and the trial files go: the run directory when the run is stored
    (kept, so a killed run can resume), else a temporary directory."""
    if store is not None:
        yield store.root
        return
    with tempfile.TemporaryDirectory(prefix="accelml-run-") as tmp:
        yield Path(tmp)


def view_fingerprint(view: DatasetView) -> str:
    """A digest of the features, targets and splits: a resumed run must see the same data."""
    digest = hashlib.sha256()
    blocks = [_block_arrays(view.features.blocks[name]) for name in sorted(view.features.blocks)]
    for array in (view.features.X, view.y, *(part for split in view.splits for part in split),
                  *(array for block in blocks for array in block)):
        contiguous = np.ascontiguousarray(array)
        digest.update(str(contiguous.shape).encode())
        digest.update(contiguous.tobytes())
    return digest.hexdigest()[:32]


def _block_arrays(block: Any) -> list[np.ndarray]:
    """The arrays that make up a feature block (a sparse matrix's parts, texts as bytes)."""
    if hasattr(block, "tocsr"):
        csr = block.tocsr()
        return [csr.data, csr.indices, csr.indptr]
    if block.dtype == object:
        return [np.frombuffer("\x00".join(map(str, block)).encode(), dtype=np.uint8)]
    return [np.asarray(block)]


def _prepare_view(view: DatasetView, workdir: Path, store: RunStore | None) -> list[Any]:
    """Write the view for the workers; with a store, check that a resumed run sees the data
    it started with, and return the trials its earlier sessions finished."""
    view.save(workdir / "view")
    if store is None:
        return []
    fingerprint = view_fingerprint(view)
    known = store.meta.get("data_fingerprint")
    if known is None:
        store.meta["data_fingerprint"] = fingerprint
        store.save_meta()
        return []
    if known != fingerprint:
        raise ConfigError("the data differs from the data this run started with (another "
                          "file, changed rows, or other options); resume with the same data, "
                          "or start a new run")
    return store.own_trials()


def make_executor(settings: ExecutionSettings, view_dir: Path, modules: Sequence[str]
                  ) -> tuple[Executor, int | None]:
    """The executor the settings ask for, and the run's cores (``n_jobs``) as it found them:
    a Ray cluster's CPUs are the run's cores unless ``n_jobs`` says otherwise."""
    if settings.backend == "ray":
        from accelml.core.executor_ray import RayExecutor

        executor = RayExecutor(view_dir, 1, modules, address=settings.ray_address,
                               num_cpus=settings.n_jobs)
        settings = replace(settings, n_jobs=settings.n_jobs or executor.cluster_cpus())
        executor.set_slots(settings.worker_layout()[0])
        return executor, settings.n_jobs
    workers, _ = settings.worker_layout()
    return LocalExecutor(view_dir, workers, modules), settings.n_jobs


def _store_report(store: RunStore | None, loop: SearchLoop) -> RunReport:
    """What the report says about the run store, the backend and resumed sessions."""
    report: RunReport = {"backend": loop.config.backend}
    if store is None:
        return report
    report.update(RunReport(
        storage=_safe_url(store.storage_url), study_name=store.study.study_name,
        run_id=store.run_id, resumed=int(store.meta.get("resumed", 0)),
        resumed_trials=loop.resumed_trials, shared_trials=loop.shared_trials,
        spent_before_resume_s=round(store.spent_before_s, 3)))
    return report


def _safe_url(url: str) -> str:
    """The storage URL without its password (the manifest is shared with the model)."""
    from sqlalchemy.engine import make_url

    return str(make_url(url).render_as_string(hide_password=True))


def _check_any_model(outcome: SearchOutcome, stop: StopRequest) -> None:
    """A stop before any trial succeeded leaves nothing to keep: say so plainly."""
    if not any(r.status is TrialStatus.OK for r in outcome.results):
        raise SearchError(f"stopped by {stop.reason} before any trial finished; nothing was "
                          "saved")


def _servable(goal: LatencyGoal | None) -> Callable[[TrialResult], bool] | None:
    """Whether ``goal`` could serve a trial in a blend (None: every trial): the blend the
    search's reserve prices leaves out what :func:`_ensemble` will."""
    if goal is None:
        return None
    return lambda result: not too_slow_to_serve(result, goal)


def _ensemble(loop: SearchLoop, settings: EnsembleSettings,
              on_stage: Callable[[str], None], goal: LatencyGoal | None = None,
              ) -> tuple[list[tuple[TrialResult, float]], dict[int, TrialResult]]:
    """The blend to serve and, per trial in it, the result holding its model: the final fit
    for the chosen trial, the trial itself when it kept its model, else a refit on all rows.
    Members that cannot be refit in the time left are dropped and the blend chosen again.
    With a latency ``goal``, other trials too slow to be served by it are not candidates:
    refitting a large forest only for the latency step to leave it out cost a run a third of
    its budget."""
    outcome, view = loop.outcome, loop.view
    assert outcome.refit is not None and outcome.chosen is not None
    passed_over = set(outcome.noise["passed_over"]) if outcome.noise else set()
    chosen_id = outcome.chosen.spec.trial_id
    too_slow = {r.spec.trial_id for r in loop.ranked() if goal is not None
                and r.spec.trial_id != chosen_id and too_slow_to_serve(r, goal)}
    outcome.too_slow = sorted(too_slow)
    ranked = [r for r in loop.ranked()
              if r.spec.trial_id not in passed_over and r.spec.trial_id not in too_slow]
    targets = validation_targets(view)
    blend = select_ensemble(ranked, outcome.chosen, targets, view.task, settings.size)
    fitted = {outcome.chosen.spec.trial_id: outcome.refit}
    for result, _ in blend[1:]:
        kept = result.artifact_dir is not None or result.bag_dir is not None
        refit = result if kept else loop.fits.refit_member(result, on_stage)
        if refit is not None:
            fitted[result.spec.trial_id] = refit
    if len(fitted) < len(blend):
        usable = [r for r in ranked if r.spec.trial_id in fitted]
        blend = select_ensemble(usable, outcome.chosen, targets, view.task, settings.size)
    return blend, fitted


def _within_latency(goal: LatencyGoal | None, served: Served, view: DatasetView,
                    preprocessor: Preprocessor, config: RunConfig, budget: Budget,
                    loop: SearchLoop) -> Served:
    """``served`` kept within the latency goal, if any (:func:`accelml.core.latency.
    keep_within`); the outcome's weights, fold counts and member latencies follow what it
    settles on."""
    if goal is None:
        return served
    outcome = loop.outcome
    targets = validation_targets(view)
    result = keep_within(
        goal, served, view.features.take(np.arange(1)),
        build=lambda members, stacker: Predictor(view.task, preprocessor, members,
                                                 stacker=stacker),
        reselect=lambda costs, capacity: select_within(served.blend, targets, view.task, costs,
                                                       capacity),
        restack=lambda blend: _stack(blend, view, config.ensemble, config.seed,
                                     budget.deadline(reserve_s=loop.fits.save_margin()),
                                     loop.fits.threads()),
        enforce=not config.deterministic)
    kept = {r.spec.trial_id: w for r, w in result.blend}
    outcome.weights = kept
    outcome.folds = {trial: n for trial, n in outcome.folds.items() if trial in kept}
    outcome.latency_ms = served_members_ms(result.record, kept)
    outcome.latency = {**result.record, "too_slow_to_refit": outcome.too_slow}
    if result.record["enforced"] and not result.record["met"]:
        served_ms = result.record["served_ms"]
        warnings.warn(f"the served model answers one row in {served_ms['p50_ms']:g} ms "
                      f"(median; {served_ms['p90_ms']:g} ms at the 90th percentile), over the "
                      f"{goal.max_ms:g} ms limit (the median may fill half of it, leaving "
                      "room for the slow calls), and no blend of its "
                      f"members meets it (reading the row and blending take about "
                      f"{result.record['rest_of_call_ms']:g} ms): it is served as it is; "
                      "raise max_latency_ms (--max-latency-ms), or leave the slow learners "
                      "out (--exclude)", UserWarning, stacklevel=3)
    return result


def _blend_members(blend: list[tuple[TrialResult, float]], fitted: Mapping[int, TrialResult],
                   task: Task, outcome: SearchOutcome) -> list[Member]:
    """Load every model the blend serves; the outcome records each trial's weight and how
    many models (folds) it serves."""
    outcome.weights = {result.spec.trial_id: weight for result, weight in blend}
    members = []
    for result, weight in blend:
        loaded = _load_members(fitted[result.spec.trial_id], task, weight, result.spec.trial_id)
        outcome.folds[result.spec.trial_id] = len(loaded)
        members.extend(loaded)
    return members


def _load_members(result: TrialResult, task: Task, weight: float, group: int) -> list[Member]:
    """The model a refit (or a search trial that kept its model) saved; for a bag, each fold
    model with an equal share of ``weight``; all in the blend trial's ``group``."""
    learner = get_learner(result.spec.learner)
    if result.bag_dir is not None:
        folds = sorted(result.bag_dir.iterdir(), key=lambda path: int(path.name))
        return [Member(result.spec.learner, result.spec.config, learner.load(fold, task),
                       weight / len(folds), group) for fold in folds]
    assert result.artifact_dir is not None
    fitted = learner.load(result.artifact_dir, task)
    return [Member(result.spec.learner, result.spec.config, fitted, weight, group)]


def _clock_cuts(loop: SearchLoop, served: Served) -> list[str]:
    """The final fits the clock cut (see :attr:`FinalFits.clock_cuts`), the stacking level
    among them when its deadline came first."""
    skipped = (served.stacking or {}).get("skipped") == OUT_OF_TIME
    return loop.fits.clock_cuts + (["stacking"] if skipped else [])


#: Why the stacking level was skipped when its deadline came first.
OUT_OF_TIME = "not enough time left"


def _stack(blend: list[tuple[TrialResult, float]], view: DatasetView,
           settings: EnsembleSettings, seed: int, deadline: Deadline, threads: int
           ) -> tuple[dict[str, Any] | None, Stacker | None]:
    """What the manifest says of the stacking level (served or not, the two cross-validated
    scores it was judged by, or why it was skipped; None when stacking is off or a member has
    no out-of-fold predictions), and the stacker to serve when it won. Its fits run on
    ``threads`` BLAS threads, the final fits' (which follow the load): with the BLAS
    library's own two threads and the other core busy, letter's stacking step took 21 s and
    its 60 s run ended 29 % past the budget."""
    if (not settings.stacking or view.task.kind is TaskKind.RANKING
            or any(result.oof_path is None for result, _ in blend)):
        return None, None
    predictions = [np.load(result.oof_path) for result, _ in blend]  # type: ignore[arg-type]
    started = time.monotonic()
    try:
        with threadpool_limits(threads):
            choice = fit_stacker([result.spec.trial_id for result, _ in blend], predictions,
                                 view.y, view.task, seed, deadline)
    except OutOfTime:
        return {"served": False, "inputs": len(blend), "skipped": OUT_OF_TIME}, None
    if choice is None:
        return {"served": False, "inputs": len(blend), "skipped": "too few validated rows"}, None
    metric = get_metric(view.task.metric)
    return {"served": choice.wins, "inputs": len(blend),
            "stacked_validation_score": metric.as_loss(choice.stacked_loss),
            "blend_validation_score": metric.as_loss(choice.blend_loss),
            "seconds": round(time.monotonic() - started, 3)}, \
        choice.stacker if choice.wins else None


#: Training rows kept in the model directory as the explanations' background.
BACKGROUND_ROWS = 100
#: The share of the budget the served model's training score may take (diagnostics).
DIAGNOSTICS_SHARE = 0.02

#: The leaderboard status of the constant model a run serves when no trial gives a model.
FALLBACK = "fallback"


def leaderboard(
    outcome: SearchOutcome, loss: Callable[[float], float], metric: str, by_trial: bool = False
) -> pd.DataFrame:
    """One row per search trial, OK trials best first, then the failed ones with reasons;
    equal scores in order of cost, or of trial with ``by_trial`` (deterministic runs). A
    constant model served as the fallback comes first, as status "fallback", its reason in
    the error column."""
    rows = []
    chosen = outcome.chosen.spec.trial_id if outcome.chosen else None
    for result in outcome.results:
        rows.append({
            "trial": result.spec.trial_id,
            "learner": result.spec.learner,
            metric: result.score,
            "status": FALLBACK if result.info.get("fallback") else result.status.value,
            "fidelity": result.spec.fidelity,
            "fit_s": round(result.cost_s, 3),
            "ended_s": outcome.ended_s.get(result.spec.trial_id, np.nan),
            "device": str(result.info.get("device", "cpu")),
            "final": result.spec.trial_id == chosen,
            "weight": round(outcome.weights.get(result.spec.trial_id, 0.0), 4),
            "latency_ms": outcome.latency_ms.get(result.spec.trial_id, np.nan),
            "config": json.dumps(result.spec.config, sort_keys=True, default=float),
            "error": result.error or "",
        })
    board = pd.DataFrame(rows, columns=["trial", "learner", metric, "status", "fidelity",
                                        "fit_s", "ended_s", "device", "final", "weight",
                                        "latency_ms", "config", "error"])
    ok = board["status"] == TrialStatus.OK.value
    sign = 1.0 if loss(1.0) > 0 else -1.0
    board["_key"] = np.where(ok, sign * board[metric].astype(float).fillna(0.0), np.inf)
    board.loc[board["status"] == FALLBACK, "_key"] = -np.inf  # the served model, on top
    board["_not_final"] = ~board["final"]
    tie = "trial" if by_trial else "fit_s"
    board = board.sort_values(["_key", "_not_final", tie], kind="stable")
    board = board.drop(columns=["_key", "_not_final"])
    board.insert(0, "rank", range(1, len(board) + 1))
    return board.reset_index(drop=True)


def _run_report(view: DatasetView, config: RunConfig, budget: Budget, outcome: SearchOutcome,
                notes: Sequence[str], threads: int) -> RunReport:
    n_splits = len(view.splits)
    validated = sum(len(valid) for _, valid in view.splits)  # each row once per repeat
    repeats = max(1, round(validated / max(len(view.y), 1))) if n_splits > 1 else 1
    validation = (f"{n_splits // repeats}-fold cross-validation" if n_splits > 1
                  else f"holdout ({len(view.splits[0][1])} rows)")
    if repeats > 1:
        validation += f", repeated {repeats} times"
    pruned = sum(r.status is TrialStatus.PRUNED for r in outcome.results)
    failed = sum(r.status is not TrialStatus.OK for r in outcome.results) - pruned
    final = outcome.refit
    return {
        "time_budget_s": config.time_budget,
        "search_and_refit_s": round(budget.elapsed(), 3),
        "trials": len(searched(outcome)),
        "failed_trials": failed,
        "pruned_trials": pruned,
        "workers": config.worker_layout()[0],
        "threads_per_trial": threads,
        "validation": validation,
        "rows": int(len(view.y)),
        "features": int(view.features.X.shape[1]),
        "final_learner": final.spec.learner if final else None,
        "final_fidelity": final.spec.fidelity if final else None,
        "validation_score": outcome.chosen.score if outcome.chosen else None,
        "ensemble": [{"trial": trial, "weight": round(weight, 4),
                      "folds": outcome.folds.get(trial, 1)}
                     for trial, weight in outcome.weights.items()],
        "seed": config.seed,
        "search_cost": search_cost(outcome),
        "notes": list(notes),
    }


def searched(outcome: SearchOutcome) -> list[TrialResult]:
    """The search's trials: the results less a constant model served as the fallback."""
    return [r for r in outcome.results if not r.info.get("fallback")]


def search_cost(outcome: SearchOutcome) -> dict[str, Any]:
    """What the search spent: devices used, device-seconds (each trial holds one device for
    its wall time), trials and the final refit."""
    trials = [*outcome.results, *outcome.refit_attempts, *outcome.member_refits]
    devices = sorted({str(r.info.get("device", "cpu")) for r in trials if r.info} or {"cpu"})
    return {
        "devices": devices,
        "device_seconds": round(sum(r.cost_s for r in trials), 2),
        "search_device_seconds": round(sum(r.cost_s for r in searched(outcome)), 2),
        "trials": len(searched(outcome)),
    }
