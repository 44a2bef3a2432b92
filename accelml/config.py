"""RunConfig: every run setting and its default, in one frozen place.

Presets are plain dicts merged once under the explicit values, so no default is written twice.
Components take the group of settings they use (``config.validation``, ``config.search``,
``config.ensemble``, ``config.execution``), not the whole config; a modality's own options
are its own dataclass (e.g. ``accelml.vision.modality.ImageOptions``).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from accelml.errors import ConfigError

#: The preset a run uses unless told otherwise (API, CLI and scikit-learn wrappers alike).
DEFAULT_PRESET = "medium"
#: Seconds a run may take unless told otherwise.
DEFAULT_TIME_BUDGET = 60.0

PRESETS: dict[str, dict[str, Any]] = {
    "medium": {},
    "fast": {"cv_folds": 3, "holdout_min_rows": 5_000},
    "best": {"cv_folds": 8, "holdout_min_rows": 50_000, "bagging": True},
}

TASK_KINDS = ("binary", "multiclass", "regression")
BACKENDS = ("local", "ray")
#: Unless told otherwise, k-fold cross-validation runs SMALL_TABLE_REPEATS times, with other
#: folds each time, on tables of at most SMALL_TABLE_ROWS rows given at least
#: SMALL_TABLE_BUDGET_S seconds. At 60 s, three seeds each, it won on qsar_biodeg (ROC AUC
#: 0.923 to 0.929), credit_approval (0.972 to 0.975), blood_transfusion and diabetes_pima,
#: and lost on credit_g and vehicle, where a third as many trials ran (bench/RESULTS.md).
SMALL_TABLE_REPEATS = 3
SMALL_TABLE_ROWS = 1_000
SMALL_TABLE_BUDGET_S = 60.0
#: Unless told otherwise, one holdout split replaces k-fold from HOLDOUT_ROWS rows on, and
#: from SHORT_BUDGET_HOLDOUT_ROWS under a budget of SHORT_BUDGET_S: at 60 s k-fold on 13,000
#: to 18,000 rows left time for 5 to 7 trials, a holdout for 7 to 20, and the holdout runs
#: scored better on each of six such tables (letter: log loss 0.081 to 0.062); at 300 s
#: k-fold was the better (bench/RESULTS.md).
HOLDOUT_ROWS = 20_000
SHORT_BUDGET_HOLDOUT_ROWS = 10_000
SHORT_BUDGET_S = 150.0


@dataclass(frozen=True)
class ValidationSettings:
    """How each trial is validated (:mod:`accelml.core.splits`); see :class:`RunConfig`."""

    folds: int
    repeats: int | None  # None: by the rows and the budget (repeats_for)
    holdout_min_rows: int
    holdout_fraction: float
    seed: int
    time_budget: float = 0.0

    def repeats_for(self, rows: int) -> int:
        """How many times k-fold cross-validation runs on ``rows`` rows: as set, else
        SMALL_TABLE_REPEATS on tables of at most SMALL_TABLE_ROWS rows when the budget is
        at least SMALL_TABLE_BUDGET_S, else once."""
        if self.repeats is not None:
            return self.repeats
        small = rows <= SMALL_TABLE_ROWS and self.time_budget >= SMALL_TABLE_BUDGET_S
        return SMALL_TABLE_REPEATS if small else 1


@dataclass(frozen=True)
class SearchSettings:
    """What the search proposes and how (:mod:`accelml.core.search`); see
    :class:`RunConfig`."""

    sampler: str
    multi_fidelity: bool
    eta: int
    portfolios: bool
    seed: int


@dataclass(frozen=True)
class EnsembleSettings:
    """What the final model may blend (:mod:`accelml.core.ensemble`,
    :mod:`accelml.core.stacking`); see :class:`RunConfig`."""

    size: int
    bagging: bool
    stacking: bool


@dataclass(frozen=True)
class ExecutionSettings:
    """Where and how trials run; see :class:`RunConfig`."""

    n_jobs: int | None
    n_workers: int | None
    backend: str
    ray_address: str | None
    max_trial_memory_mb: float | None

    def total_cores(self) -> int:
        """Cores this run may use."""
        return self.n_jobs or os.cpu_count() or 1

    def worker_layout(self) -> tuple[int, int]:
        """(parallel trials, threads per trial), never more busy threads than cores."""
        cores = self.total_cores()
        workers = self.n_workers or max(1, min(cores, 2))
        workers = min(workers, cores)
        return workers, max(1, cores // workers)


@dataclass(frozen=True)
class RunConfig:
    """Every setting of one AutoML run.

    Attributes:
        time_budget: seconds for the whole run, final refit and save included.
        task: "binary", "multiclass" or "regression"; inferred from the target when None.
        metric: name from the metric registry; the task's default when None.
        positive_class: the class whose probability binary metrics score; inferred when None.
        seed: makes sampling, splits and learners repeatable.
        n_jobs: CPU cores the run may use; all cores when None.
        n_workers: trials run at once; each gets n_jobs // n_workers threads. Auto when None.
        learners: names of the learners to search; every registered one when None.
        exclude_learners: names to leave out.
        cv_folds: folds of k-fold cross-validation for data under holdout_min_rows rows.
        cv_repeats: k-fold cross-validation is repeated this many times, each with other
            folds, and each row's out-of-fold predictions averaged: on small data one k-fold
            split's luck is a large part of a score, so repeats make the choice between
            trials steadier at that many times the cost of a trial. None: 3 on tables of at
            most 1,000 rows with a budget of a minute or more, else 1
            (:meth:`ValidationSettings.repeats_for`).
        holdout_min_rows: from this many rows on, one holdout split replaces k-fold. None:
            10,000 under a budget of 150 s, 20,000 from there on (:attr:`validation`).
        holdout_fraction: share of rows held out for validation on large data.
        max_trials: stop after this many trials even with budget left; no cap when None.
        max_trial_fraction: the most of the budget one trial may take.
        final_train_fraction: share of the budget kept for the final fit, which then trains
            the winner for as many epochs as fit (networks: search short, train the winner
            long); 0 refits with the fidelity the trial was validated with.
        sampler: how each learner's configs are proposed: "tpe", "random", or one a
            modality registers ("evolution" for image networks).
        multi_fidelity: successive halving over each learner's fidelity knob (epochs, trees).
        eta: successive halving keeps the best 1/eta of each rung.
        ensemble_size: the most distinct models a greedy ensemble may blend; 1 keeps the
            single best model. Blends use trials whose models were kept (networks validated
            on a holdout split) and are kept only when they validate better.
        bagging: with k-fold validation, the best trials keep their k fold models and are
            served as that bag (averaged) instead of being refit on all rows: the out-of-fold
            predictions the blend weights come from then describe the served models exactly,
            and no refit time is spent on them. Off by default (k models per member cost k
            times the single-row latency); the "best" preset turns it on.
        stacking: learn a linear level-two model over the blend's members' out-of-fold
            predictions (:mod:`accelml.core.stacking`) and serve it instead of the blend's
            average when its cross-validated loss is lower.
        deterministic: schedule by counted work instead of the clock, so the same seed, data
            and budget on the same machine give the same leaderboard and predictions: trials
            run in batches told in order, learners train their full fidelity with no
            time-based stop, and the search ends when the work its trials report reaches the
            budget's share (:mod:`accelml.core.work`). The clock remains a cap; a run it cuts
            is marked ``deterministic_cut_by_clock``.
        portfolios: each learner's hand-designed configs (the image seeds, the tabular
            defaults) run before its sampler's; off, the sampler alone proposes every config
            (a plain random or TPE search, as a baseline to measure the portfolios against).
        zero_shot: tables: a portfolio across learners, learned offline on a collection of
            datasets (:mod:`accelml.tabular.zeroshot`), runs before the learners' own
            portfolios and any tuning. Off by default: at 60 s it has not yet beaten the
            learners' own portfolios (bench/RESULTS.md).
        backend: where trials run: "local" worker processes, or "ray" tasks on a Ray
            cluster (:mod:`accelml.core.executor_ray`).
        ray_address: the Ray cluster to join ("auto", or "host:port"); a local Ray instance
            is started when None.
        storage: the database URL of the trial history (any SQLAlchemy URL Optuna accepts,
            e.g. postgresql://user@host/db); a SQLite file in the run directory when None.
        study_name: the study in ``storage`` to record into; runs that name the same study
            share their trial history.
        max_trial_memory_mb: megabytes one trial may allocate beyond its worker's own; a trial
            past it is recorded as out of memory (:mod:`accelml.core.memory`).
        strict: a run left with no searched model (no trial finished in time, or every
            refit failed) ends with an error instead of serving the constant model (the
            class prior or the mean). Either way, when the best trial's refit fails or
            cannot fit in the time left, its kept fold models or the next best's refit are
            served; the manifest's ``run.fallback`` says which model was served and why.
        quiet: no live progress display.
    """

    time_budget: float = DEFAULT_TIME_BUDGET
    task: str | None = None
    metric: str | None = None
    positive_class: Any = None
    seed: int = 0
    n_jobs: int | None = None
    n_workers: int | None = None
    learners: tuple[str, ...] | None = None
    exclude_learners: tuple[str, ...] = ()
    cv_folds: int = 5
    cv_repeats: int | None = None
    holdout_min_rows: int | None = None
    holdout_fraction: float = 0.2
    max_trials: int | None = None
    max_trial_fraction: float = 0.4
    final_train_fraction: float = 0.0
    sampler: str = "tpe"
    multi_fidelity: bool = False
    eta: int = 3
    ensemble_size: int = 8
    bagging: bool = False
    stacking: bool = True
    deterministic: bool = False
    portfolios: bool = True
    zero_shot: bool = False
    backend: str = "local"
    ray_address: str | None = None
    storage: str | None = None
    study_name: str | None = None
    max_trial_memory_mb: float | None = None
    strict: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        budget = self.time_budget
        if not isinstance(budget, int | float) or not math.isfinite(budget) or budget <= 0:
            raise ConfigError(
                f"time_budget must be a number of seconds > 0 and finite, got {budget!r}; "
                "pass e.g. --time-budget 60"
            )
        if self.task is not None and self.task not in TASK_KINDS:
            raise ConfigError(
                f"unknown task {self.task!r}; use one of {', '.join(TASK_KINDS)} (or leave it "
                "out to infer it from the target)"
            )
        if self.cv_folds < 2:
            raise ConfigError(f"cv_folds must be >= 2, got {self.cv_folds}")
        if self.cv_repeats is not None and self.cv_repeats < 1:
            raise ConfigError(f"cv_repeats must be >= 1, got {self.cv_repeats}")
        if not 0.05 <= self.holdout_fraction <= 0.5:
            raise ConfigError(
                f"holdout_fraction must be between 0.05 and 0.5, got {self.holdout_fraction}"
            )
        if self.n_jobs is not None and self.n_jobs < 1:
            raise ConfigError(f"n_jobs must be >= 1 (or None for all cores), got {self.n_jobs}")
        if self.n_workers is not None and self.n_workers < 1:
            raise ConfigError(f"n_workers must be >= 1, got {self.n_workers}")
        if self.max_trials is not None and self.max_trials < 1:
            raise ConfigError(f"max_trials must be >= 1, got {self.max_trials}")
        self._check_search()
        self._check_backend()

    def _check_backend(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}; use one of "
                              f"{', '.join(BACKENDS)}")
        if self.ray_address is not None and self.backend != "ray":
            raise ConfigError("--ray-address names a Ray cluster, which only the ray backend "
                              "uses; add --backend ray")
        memory = self.max_trial_memory_mb
        if memory is not None and not memory >= 16:
            raise ConfigError(f"max_trial_memory_mb must be at least 16 (megabytes), got "
                              f"{memory}")

    def _check_search(self) -> None:
        if not 0.0 <= self.final_train_fraction <= 0.8:
            raise ConfigError(
                f"final_train_fraction must be in [0, 0.8], got {self.final_train_fraction}")
        if self.ensemble_size < 1:
            raise ConfigError(f"ensemble_size must be >= 1, got {self.ensemble_size}")
        if self.eta < 2:
            raise ConfigError(f"eta must be >= 2, got {self.eta}")
        if not 0.0 < self.max_trial_fraction <= 1.0:
            raise ConfigError(
                f"max_trial_fraction must be in (0, 1], got {self.max_trial_fraction}"
            )

    @classmethod
    def from_options(cls, preset: str = DEFAULT_PRESET, **options: Any) -> RunConfig:
        """Build a config from a preset plus explicit options; None options keep the default."""
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown run option(s) {unknown}; known: {sorted(known)}")
        merged = dict(PRESETS[preset])
        merged.update({k: v for k, v in options.items() if v is not None})
        for name in ("learners", "exclude_learners"):
            if name in merged and merged[name] is not None:
                merged[name] = tuple(merged[name])
        return cls(**merged)

    def with_changes(self, **changes: Any) -> RunConfig:
        """A copy with some settings changed (checked again)."""
        return replace(self, **changes)

    @property
    def validation(self) -> ValidationSettings:
        """The settings the validation splits take."""
        holdout_min_rows = self.holdout_min_rows
        if holdout_min_rows is None:
            short = self.time_budget < SHORT_BUDGET_S
            holdout_min_rows = SHORT_BUDGET_HOLDOUT_ROWS if short else HOLDOUT_ROWS
        return ValidationSettings(self.cv_folds, self.cv_repeats, holdout_min_rows,
                                  self.holdout_fraction, self.seed, self.time_budget)

    @property
    def search(self) -> SearchSettings:
        """The settings the searcher takes."""
        return SearchSettings(self.sampler, self.multi_fidelity, self.eta, self.portfolios,
                              self.seed)

    @property
    def ensemble(self) -> EnsembleSettings:
        """The settings the blend and the stacking level take."""
        return EnsembleSettings(self.ensemble_size, self.bagging, self.stacking)

    @property
    def execution(self) -> ExecutionSettings:
        """The settings the executor and the thread layout take."""
        return ExecutionSettings(self.n_jobs, self.n_workers, self.backend, self.ray_address,
                                 self.max_trial_memory_mb)

    def total_cores(self) -> int:
        """Cores this run may use."""
        return self.execution.total_cores()

    def worker_layout(self) -> tuple[int, int]:
        """(parallel trials, threads per trial), never more busy threads than cores."""
        return self.execution.worker_layout()

    def to_dict(self) -> dict[str, Any]:
        """Plain values for the manifest."""
        return asdict(self)
