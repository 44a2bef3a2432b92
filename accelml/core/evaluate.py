"""Validation: out-of-fold predictions, the final refit.

``run_trial`` is what a worker process does with a TrialSpec; it never raises for a learner's
failure but returns a FAILED result with the reason.
"""

from __future__ import annotations

import json
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from accelml.config import ValidationSettings
from accelml.core.budget import Deadline
from accelml.core.data import DatasetView, Features, Split
from accelml.core.forecasting import backtest_truth, series_facts
from accelml.core.learner import (
    FidelityOutOfReach,
    FitFacts,
    Fitted,
    Learner,
    capabilities,
    get_learner,
)
from accelml.core.memory import is_out_of_memory, memory_limit
from accelml.core.metrics import get_metric
from accelml.core.ranking import (
    ITEM,
    USER,
    VALIDATION_N,
    TopN,
    interaction_counts,
    rank_users,
    score_lists,
    user_item_matrix,
)
from accelml.core.splits import default_splitter
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialKind, TrialResult, TrialSpec, TrialStatus


def make_splits(
    y: np.ndarray, task: Task, *, folds: int, holdout_min_rows: int, holdout_fraction: float,
    seed: int, repeats: int = 1,
) -> tuple[Split, ...]:
    """K-fold splits for small data (``repeats`` times, each with other folds), one holdout
    split from ``holdout_min_rows`` rows on (:func:`accelml.core.splits.default_splitter`)."""
    settings = ValidationSettings(folds, repeats, holdout_min_rows, holdout_fraction, seed)
    return default_splitter(settings).split(y, task)


def _empty_oof(view: DatasetView) -> np.ndarray:
    n = len(view.y)
    shape = (n, view.task.n_classes) if view.task.kind.is_classification else (n,)
    return np.full(shape, np.nan)


def cross_validate(
    learner: Learner, view: DatasetView, spec: TrialSpec, deadline: Deadline
) -> tuple[float, np.ndarray | TopN, dict[str, Any], list[Fitted]]:
    """Fit one model per split; return the score on the covered rows, the out-of-fold
    predictions (NaN on rows no split validates), the mean of the learners' info numbers and
    the device the learner ran on, and the model of each split.

    Each fold gets an equal share of the time left, so a slow config is cut short in every
    fold rather than losing the last ones. With repeated k-fold a row is validated once per
    repeat, and its out-of-fold prediction is the mean of those. A ranking task's
    out-of-fold predictions are top-N lists (:func:`validate_ranking`).
    """
    if view.task.kind is TaskKind.RANKING:
        return validate_ranking(learner, view, spec, deadline)
    total = np.zeros_like(_empty_oof(view))  # each row's predictions, summed over splits
    seen = np.zeros(len(view.y))  # how many splits validated each row
    infos: list[dict[str, float]] = []
    models: list[Fitted] = []
    fit: Any = learner.fit  # init_from and reach_fidelity are outside the protocol
    extra: dict[str, Any] = {"init_from": spec.init_from} if spec.init_from is not None else {}
    if spec.reach_fidelity:
        extra["reach_fidelity"] = True
    for index, (train, valid) in enumerate(view.splits):
        share = deadline.remaining() / (len(view.splits) - index)
        fold_deadline = Deadline.in_seconds(max(share, 0.0))
        fitted = fit(
            view.features.take(train), view.y[train], spec.config, task=view.task,
            fidelity=spec.fidelity, deadline=fold_deadline, n_jobs=spec.n_jobs, seed=spec.seed,
            valid=early_stopping_rows(view, valid), **extra,
        )
        total[valid] += learner.predict(fitted, view.features.take(valid))
        seen[valid] += 1
        models.append(fitted)
        infos.append({k: float(v) for k, v in fitted.info.items() if _is_number(v)})
    covered = seen > 0
    oof = _empty_oof(view)
    oof[covered] = total[covered] / (seen[covered] if oof.ndim == 1 else seen[covered, None])
    if not np.all(np.isfinite(oof[covered])):
        raise ValueError("the learner predicted NaN or infinite values")
    truth = validation_targets(view)
    score = get_metric(view.task.metric).score(truth[covered], oof[covered], view.task)
    keys = set.intersection(*(set(i) for i in infos)) if infos else set()
    summary: dict[str, Any] = {k: float(np.mean([i[k] for i in infos])) for k in sorted(keys)}
    summary["device"] = str(models[-1].info.get("device", "cpu"))
    return score, oof, summary, models


def validate_ranking(
    learner: Learner, view: DatasetView, spec: TrialSpec, deadline: Deadline
) -> tuple[float, TopN, dict[str, Any], list[Fitted]]:
    """Fit on the training interactions of the run's one split, rank every item each
    validation user has no training interaction with, and score the top-N lists against
    the validation interactions (those at or above the relevance floor, when one is set)."""
    if len(view.splits) != 1:
        raise ValueError("a ranking task is validated on one split of each user's "
                         f"interactions, not {len(view.splits)}")
    train, valid = view.splits[0]
    fitted = learner.fit(view.features.take(train), view.y[train], spec.config, task=view.task,
                         fidelity=spec.fidelity, deadline=deadline, n_jobs=spec.n_jobs,
                         seed=spec.seed, valid=(view.features.take(valid), view.y[valid]))
    X = view.features.X
    shape = interaction_counts(dict(view.features.block_info))
    seen = user_item_matrix(X[train], None, shape)
    truth = relevant_rows(view, valid)
    users = np.unique(np.asarray(X[truth, USER], dtype=np.int64))
    score_users = getattr(learner, "score_users", None)
    if score_users is None:
        raise TypeError(f"learner {learner.name!r} cannot rank: it has no score_users")
    top = rank_users(lambda block: score_users(fitted, block), users, seen, VALIDATION_N,
                     shape[1])
    truth_matrix, (scores,) = score_lists([top], X[truth, USER], X[truth, ITEM])
    score = get_metric(view.task.metric).score(truth_matrix, scores, view.task)
    info: dict[str, Any] = {k: float(v) for k, v in fitted.info.items() if _is_number(v)}
    info["device"] = str(fitted.info.get("device", "cpu"))
    return score, top, info, [fitted]


def relevant_rows(view: DatasetView, rows: np.ndarray) -> np.ndarray:
    """The rows among ``rows`` that count as relevant: all of them, or those whose value
    reaches ``block_info["interactions"]["relevant_min"]`` when it is set."""
    floor = view.features.block_info["interactions"].get("relevant_min")
    return rows if floor is None else rows[view.y[rows] >= float(floor)]


def early_stopping_rows(view: DatasetView, valid: np.ndarray
                        ) -> tuple[Features, np.ndarray] | None:
    """The validation rows a learner may stop early on: none for a forecast, whose
    validation rows are the future its backtest scores."""
    if view.task.kind is TaskKind.FORECAST:
        return None
    return view.features.take(valid), view.y[valid]


def validation_targets(view: DatasetView) -> np.ndarray:
    """What trials are scored and ensembles chosen against: the targets; for a forecast the
    truth array of the backtests (values, series scales and groups,
    :func:`accelml.core.forecasting.backtest_truth`); for a ranking task the relevant
    validation pairs as (user, item) rows."""
    if view.task.kind is TaskKind.FORECAST:
        facts = series_facts(dict(view.features.block_info))
        return backtest_truth(view.features.X, view.y, view.splits,
                              int(facts["season_length"]),  # type: ignore[call-overload]
                              int(facts["n_series"]))  # type: ignore[call-overload]
    if view.task.kind is not TaskKind.RANKING:
        return view.y
    rows = relevant_rows(view, view.splits[0][1])
    return np.asarray(view.features.X[rows][:, [USER, ITEM]], dtype=np.int64)


def save_predictions(predictions: np.ndarray | TopN, directory: Path) -> Path:
    """Write a trial's out-of-fold predictions: an array as .npy, top-N lists as .npz."""
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(predictions, TopN):
        path = directory / "oof.npz"
        predictions.save(path)
        return path
    path = directory / "oof.npy"
    np.save(path, predictions)
    return path


def load_predictions(path: Path) -> Any:
    """Read what :func:`save_predictions` wrote."""
    return TopN.load(path) if path.suffix == ".npz" else np.load(path)


def _is_number(value: object) -> bool:
    number = isinstance(value, int | float | np.integer | np.floating)
    return number and not isinstance(value, bool)


def refit(learner: Learner, view: DatasetView, spec: TrialSpec, deadline: Deadline) -> Fitted:
    """Fit on every training row, for the final model (from ``spec.init_from`` when given)."""
    extra = {"init_from": spec.init_from} if spec.init_from is not None else {}
    fit: Any = learner.fit  # init_from is for learners with warm_start, outside the protocol
    fitted: Fitted = fit(
        view.features, view.y, spec.config, task=view.task, fidelity=spec.fidelity,
        deadline=deadline, n_jobs=spec.n_jobs, seed=spec.seed, **extra,
    )
    return fitted


def keeps_model(learner: Learner, view: DatasetView) -> bool:
    """Whether a search trial saves its model: only a warm-starting learner validated on one
    holdout split, whose single model is the one a final fit can continue from."""
    return capabilities(learner).warm_start and len(view.splits) == 1


def run_trial(spec: TrialSpec, view: DatasetView) -> TrialResult:
    """Run one trial; a learner's exception becomes a FAILED result with its reason."""
    started = time.monotonic()
    deadline = Deadline.in_seconds(spec.time_limit_s) if spec.timed else Deadline.never()
    learner = get_learner(spec.learner)
    try:
        with (memory_limit(spec.max_memory_mb), threadpool_limits(spec.n_jobs),
              warnings.catch_warnings()):
            warnings.simplefilter("ignore")
            if spec.kind is TrialKind.REFIT:
                return _refit_and_save(learner, view, spec, deadline, started)
            score, oof, info, models = cross_validate(learner, view, spec, deadline)
            if spec.time_one_row:
                info["one_row_ms"] = _one_row_ms(learner, models[-1], view)
            model_dir = None
            if spec.output_dir is not None and keeps_model(learner, view):
                model_dir = spec.output_dir / "model"
                learner.save(models[-1], model_dir)
            bag_dir = _save_bag(learner, view, spec, score, models)
    except FidelityOutOfReach as error:
        return TrialResult(spec, TrialStatus.PRUNED, cost_s=time.monotonic() - started,
                           error=" ".join(str(error).split()))
    except Exception as error:  # a learner's failure is a record, never the end of the run
        cost = time.monotonic() - started
        if spec.max_memory_mb is not None and is_out_of_memory(error):
            return TrialResult(spec, TrialStatus.OUT_OF_MEMORY, cost_s=cost, error=(
                f"needed more than the {spec.max_memory_mb:g} MB --max-trial-memory allows "
                f"({_one_line(error)})"))
        return TrialResult(spec, TrialStatus.FAILED, cost_s=cost, error=_one_line(error))
    oof_path = None
    if spec.output_dir is not None:
        oof_path = save_predictions(oof, spec.output_dir)
    return TrialResult(spec, TrialStatus.OK, score=score, cost_s=time.monotonic() - started,
                       oof_path=oof_path, artifact_dir=model_dir, bag_dir=bag_dir, info=info,
                       facts=FitFacts.mean([fitted.facts for fitted in models]))


def _one_row_ms(learner: Learner, fitted: Fitted, view: DatasetView) -> float:
    """The median milliseconds of ``fitted``'s prediction for one encoded row."""
    from accelml.core.latency import fitted_latency_ms  # (the predictor's imports: lazily)

    return round(fitted_latency_ms(learner, fitted, view.features.take(np.arange(1))), 4)


def _save_bag(learner: Learner, view: DatasetView, spec: TrialSpec, score: float,
              models: list[Fitted]) -> Path | None:
    """Save the fold models as a bag when the spec asks for it at this trial's loss."""
    threshold = spec.keep_folds_at_loss
    if threshold is None or spec.output_dir is None or len(models) < 2:
        return None
    if get_metric(view.task.metric).as_loss(score) > threshold:
        return None
    bag_dir = spec.output_dir / "folds"
    for index, fitted in enumerate(models):
        learner.save(fitted, bag_dir / str(index))
    return bag_dir


def _refit_and_save(
    learner: Learner, view: DatasetView, spec: TrialSpec, deadline: Deadline, started: float
) -> TrialResult:
    if spec.output_dir is None:
        raise ValueError("a refit trial needs an output_dir to save the model in")
    fitted = refit(learner, view, spec, deadline)
    spec.output_dir.mkdir(parents=True, exist_ok=True)
    learner.save(fitted, spec.output_dir)
    info: dict[str, Any] = {k: v for k, v in fitted.info.items() if _is_number(v)}
    info["device"] = str(fitted.info.get("device", "cpu"))
    (spec.output_dir / "trial.json").write_text(json.dumps(
        {"learner": spec.learner, "config": spec.config, "fidelity": spec.fidelity,
         "info": info}, default=float))
    return TrialResult(spec, TrialStatus.OK, cost_s=time.monotonic() - started,
                       artifact_dir=spec.output_dir, info=info, facts=fitted.facts)


def _one_line(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    message = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {message[:300]}{where}"

