"""Splits, the searcher and the whole search loop with misbehaving learners."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from accelml.config import RunConfig
from accelml.core.budget import Budget, Deadline
from accelml.core.data import DataShape, Features
from accelml.core.engine import build_view, fit_predictor
from accelml.core.evaluate import cross_validate, make_splits, run_trial, validation_targets
from accelml.core.learner import FitFacts, Learner, discover, get_learner
from accelml.core.metrics import get_metric
from accelml.core.reserve import (
    ENSEMBLE_SELECT_S,
    MEMBER_LOAD_S,
    REFIT_SAFETY,
    REFIT_SAVE_S,
    SAVE_MARGIN_S,
    expected_cost,
    final_fidelity,
    refit_reserve,
)
from accelml.core.runner import SearchLoop
from accelml.core.search import Proposal, Searcher, Space
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialResult, TrialSpec, TrialStatus
from accelml.errors import DataError, SearchError

MODULES = ("accelml.testing.fake_learners",)
BINARY = Task(TaskKind.BINARY, "y", "roc_auc", ("a", "b"), 1)


class _Identity:
    kind = "tabular"  # the engine searches the learners of this modality (the fake ones)
    schema = None

    def transform(self, data: object) -> Features:
        raise NotImplementedError

    def to_dict(self) -> dict[str, object]:
        return {}


def _spaces(learners: list[Learner]) -> dict[str, Space]:
    return {learner.name: dict(learner.space(BINARY, DataShape(100, 2))) for learner in learners}


def _data(n: int = 80) -> tuple[Features, np.ndarray]:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 2))
    return Features(X), (X[:, 0] > 0).astype(np.int64)


def test_kfold_for_small_data_holdout_for_large() -> None:
    _, y = _data(80)
    splits = make_splits(y, BINARY, folds=4, holdout_min_rows=100, holdout_fraction=0.2, seed=0)
    assert len(splits) == 4
    covered = np.sort(np.concatenate([valid for _, valid in splits]))
    assert covered.tolist() == list(range(80))
    (holdout,) = make_splits(y, BINARY, folds=4, holdout_min_rows=50, holdout_fraction=0.25,
                             seed=0)
    assert len(holdout[1]) == 20 and not set(holdout[0]) & set(holdout[1])


def test_repeated_kfold_validates_every_row_once_per_repeat_with_other_folds() -> None:
    _, y = _data(80)
    once = make_splits(y, BINARY, folds=4, holdout_min_rows=100, holdout_fraction=0.2, seed=0)
    thrice = make_splits(y, BINARY, folds=4, holdout_min_rows=100, holdout_fraction=0.2,
                         seed=0, repeats=3)
    assert len(thrice) == 12
    for valid_once, (_, valid) in zip(once, thrice[:4], strict=True):  # repeat 0 is plain k-fold
        assert valid.tolist() == valid_once[1].tolist()
    for repeat in range(3):
        covered = np.sort(np.concatenate([valid for _, valid in thrice[4 * repeat:][:4]]))
        assert covered.tolist() == list(range(80))
    assert thrice[4][1].tolist() != thrice[0][1].tolist()
    (holdout,) = make_splits(y, BINARY, folds=4, holdout_min_rows=50, holdout_fraction=0.25,
                             seed=0, repeats=3)  # one holdout split is never repeated
    assert len(holdout[1]) == 20


def test_repeated_kfold_averages_each_rows_out_of_fold_predictions() -> None:
    discover(MODULES)
    features, y = _data(80)
    view = build_view(features, y, BINARY, RunConfig(cv_folds=4, cv_repeats=2))
    spec = TrialSpec(0, "prior", {"shrink": 0.0}, None, 10, 0, 1)
    score, oof, _, models = cross_validate(get_learner("prior"), view, spec,
                                           Deadline.in_seconds(10))
    assert len(models) == 8
    expected = np.zeros((80, 2))
    for (_, valid), fitted in zip(view.splits, models, strict=True):
        expected[valid] += np.asarray(fitted.model) / 2
    np.testing.assert_allclose(oof, expected)
    assert score == get_metric("roc_auc").score(y, oof, BINARY)


def test_the_manifest_names_repeated_cross_validation() -> None:
    features, y = _data()
    config = RunConfig(time_budget=30, learners=("prior",), cv_folds=4, cv_repeats=2,
                       max_trials=2, quiet=True)
    predictor = fit_predictor(build_view(features, y, BINARY, config), _Identity(), config,
                              Budget(config.time_budget), MODULES)
    assert predictor.info["validation"] == "4-fold cross-validation, repeated 2 times"
    assert predictor.info["search_ended_by"] == "max_trials"


def test_a_class_with_one_row_is_an_error_and_rare_classes_lower_the_folds() -> None:
    task = Task(TaskKind.MULTICLASS, "y", "log_loss", ("a", "b", "c"), None)
    with pytest.raises(DataError, match="class 'c' of target 'y' has only 1 row"):
        make_splits(np.array([0, 0, 1, 1, 2]), task, folds=5, holdout_min_rows=10**6,
                    holdout_fraction=0.2, seed=0)
    with pytest.warns(UserWarning, match="validating with 2 folds"):
        splits = make_splits(np.array([0, 0, 0, 1, 1, 2, 2]), task, folds=5,
                             holdout_min_rows=10**6, holdout_fraction=0.2, seed=0)
    assert len(splits) == 2


def test_searcher_runs_portfolios_first_and_drops_failing_learners() -> None:
    discover(MODULES)
    learners = [get_learner("prior"), get_learner("crashing")]
    searcher = Searcher(learners, BINARY, _spaces(learners), seed=0)
    first = [searcher.ask() for _ in range(2)]
    assert [(p.learner, p.source) for p in first if p] == [("prior", "portfolio"),
                                                            ("crashing", "portfolio")]
    for proposal in first:
        assert proposal is not None
        spec = TrialSpec(proposal.trial_id, proposal.learner, proposal.config, None, 1, 0, 1)
        ok = proposal.learner == "prior"
        searcher.tell(TrialResult(spec, TrialStatus.OK if ok else TrialStatus.FAILED,
                                  score=0.7 if ok else None, cost_s=0.1))
    sampled = [searcher.ask() for _ in range(5)]
    assert {p.learner for p in sampled if p} == {"prior"}


def test_without_portfolios_the_sampler_proposes_from_the_first_trial() -> None:
    """``portfolios=False``: a plain sampler search (the baseline the portfolios are
    measured against), no hand-designed config first."""
    from accelml.core.engine import make_searcher

    discover(MODULES)
    learners = [get_learner("prior")]
    features, y = _data()
    for portfolios, source in ((True, "portfolio"), (False, "sampler")):
        config = RunConfig(time_budget=5, sampler="random", portfolios=portfolios)
        view = build_view(features, y, BINARY, config)
        proposal = make_searcher(learners, view, config.search).ask()
        assert proposal is not None and proposal.source == source


@pytest.mark.parametrize(("slow_score", "skipped"), [(0.7, True), (0.95, False)])
def test_a_slow_learner_beaten_for_less_runs_no_more_of_its_portfolio(
        slow_score: float, skipped: bool) -> None:
    discover(MODULES)
    learners = [get_learner("prior"), get_learner("sleeping")]
    portfolios = {"prior": [{"shrink": 0.0}, {"shrink": 0.5}],
                  "sleeping": [{"shrink": 0.1}, {"shrink": 0.6}]}
    searcher = Searcher(learners, BINARY, _spaces(learners), seed=0, portfolios=portfolios,
                        slow_trial_s=1.0)
    first = [searcher.ask() for _ in range(2)]
    for proposal, score, cost in zip(first, (0.9, slow_score), (0.1, 5.0), strict=True):
        assert proposal is not None and proposal.source == "portfolio"
        spec = TrialSpec(proposal.trial_id, proposal.learner, proposal.config, None, 1, 0, 1)
        searcher.tell(TrialResult(spec, TrialStatus.OK, score=score, cost_s=cost))
    following = [searcher.ask() for _ in range(2)]
    portfolio = [(p.learner, p.config["shrink"]) for p in following
                 if p is not None and p.source == "portfolio"]
    if skipped:  # slower and worse than prior: its second config is dropped
        assert portfolio == [("prior", 0.5)]
    else:  # the best learner keeps its portfolio however slow it is
        assert portfolio == [("prior", 0.5), ("sleeping", 0.6)]


@pytest.mark.parametrize(("slow_score", "second_slow_config"), [(0.7, False), (0.95, True)])
def test_a_learner_whose_first_trial_still_runs_waits_behind_the_others(
        slow_score: float, second_slow_config: bool) -> None:
    """The slow learner's second portfolio config waits for its first trial; once that
    ends, the outclassed rule decides whether it runs at all."""
    discover(MODULES)
    learners = [get_learner("prior"), get_learner("sleeping"), get_learner("hanging")]
    portfolios = {"prior": [{"shrink": 0.0}, {"shrink": 0.5}],
                  "sleeping": [{"shrink": 0.1}, {"shrink": 0.6}],
                  "hanging": [{"shrink": 0.2}, {"shrink": 0.7}]}
    searcher = Searcher(learners, BINARY, _spaces(learners), seed=0, portfolios=portfolios,
                        slow_trial_s=1.0)

    def ask() -> Proposal:
        proposal = searcher.ask()
        assert proposal is not None
        return proposal

    def tell(proposal: Proposal, score: float, cost: float) -> None:
        spec = TrialSpec(proposal.trial_id, proposal.learner, proposal.config, None, 1, 0, 1)
        searcher.tell(TrialResult(spec, TrialStatus.OK, score=score, cost_s=cost))

    fast, slow = ask(), ask()
    assert (fast.learner, slow.learner) == ("prior", "sleeping")
    tell(fast, 0.9, 0.1)
    for expected in ("hanging", "prior", "hanging"):  # not sleeping's second config
        proposal = ask()
        assert (proposal.learner, proposal.source) == (expected, "portfolio")
        tell(proposal, 0.8, 0.1)
    tell(slow, slow_score, 5.0)
    following = ask()
    assert ((following.learner, following.source) == ("sleeping", "portfolio")) \
        is second_slow_config


def test_when_every_queued_config_waits_the_first_still_runs() -> None:
    discover(MODULES)
    learners = [get_learner("prior")]
    searcher = Searcher(learners, BINARY, _spaces(learners), seed=0,
                        portfolios={"prior": [{"shrink": 0.0}, {"shrink": 0.5}]})
    first, second = searcher.ask(), searcher.ask()
    assert first is not None and second is not None
    assert [first.config["shrink"], second.config["shrink"]] == [0.0, 0.5]
    assert second.source == "portfolio"


def test_a_seed_repeats_the_proposals() -> None:
    discover(MODULES)

    def proposals(seed: int) -> list[dict[str, object]]:
        learners = [get_learner("prior")]
        searcher = Searcher(learners, BINARY, _spaces(learners), seed=seed)
        out = []
        for _ in range(6):
            proposal = searcher.ask()
            assert proposal is not None
            out.append(proposal.config)
            spec = TrialSpec(proposal.trial_id, "prior", proposal.config, None, 1, 0, 1)
            searcher.tell(TrialResult(spec, TrialStatus.OK, score=float(proposal.config[
                "shrink"]), cost_s=0.1))
        return out

    assert proposals(3) == proposals(3)
    assert proposals(3) != proposals(4)


def test_the_run_survives_crashing_hanging_and_dying_learners() -> None:
    features, y = _data()
    config = RunConfig(time_budget=8, learners=("prior", "crashing", "hanging", "dying"),
                       quiet=True, n_jobs=2, n_workers=2)  # (two side by side, even busy)
    view = build_view(features, y, BINARY, config)
    budget = Budget(config.time_budget)
    predictor = fit_predictor(view, _Identity(), config, budget, MODULES)
    elapsed = budget.elapsed()
    board = predictor.leaderboard()
    statuses = dict(zip(board["learner"], board["status"], strict=False))
    assert statuses["prior"] == "ok"
    assert statuses["crashing"] == "failed" and statuses["dying"] == "failed"
    assert statuses["hanging"] == "timeout"
    assert board.iloc[0]["learner"] == "prior" and bool(board.iloc[0]["final"])
    assert "always crashes" in " ".join(board["error"])
    assert elapsed <= config.time_budget * 1.1


def test_no_usable_trial_is_a_search_error() -> None:
    features, y = _data()
    config = RunConfig(time_budget=6, learners=("crashing",), quiet=True)
    view = build_view(features, y, BINARY, config)
    with pytest.raises(SearchError, match=r"all \d+ trials failed \(\d+ failed: crashing: "
                                          r".*always crashes.*; fix the data, or exclude"):
        fit_predictor(view, _Identity(), config, Budget(6), MODULES)


def test_final_fit_gets_the_kept_share_of_the_budget() -> None:
    features, y = _data(100)
    view = build_view(features, y, BINARY, RunConfig(cv_folds=4))
    spec = TrialSpec(0, "net", {}, 3, 10, 0, 1)
    trial = TrialResult(spec, TrialStatus.OK, score=0.9, cost_s=3.0)  # 1 s per unit
    boosted = TrialResult(spec, TrialStatus.OK, score=0.9, cost_s=3.0,
                          facts=FitFacts(units_trained=41.2, refit_units=41.2))

    def fit_units(fraction: float, result: TrialResult, limit: float) -> int | None:
        return final_fidelity(result, limit, fraction, view)  # a pure function of the trial

    assert fit_units(0.0, trial, 30) == 3
    long_fit = fit_units(0.3, trial, 30)
    # the epochs it validated with, plus (twice) what fits in 30 s: rows factor 4/3, 4 folds
    assert 3 + 30 <= long_fit <= 3 + 2 * 30 / (1.0 * 100 / 75)
    assert fit_units(0.3, trial, 1) == 3 + 1  # validated, plus what fits
    assert fit_units(0.3, boosted, 30) == 42  # early stopping's rounds win
    stopped = TrialResult(spec, TrialStatus.OK, score=0.9, cost_s=3.0,
                          facts=FitFacts(units_trained=30.0, refit_units=17.4))
    assert fit_units(0.3, stopped, 30) == 18  # and a network's best epochs
    default = TrialResult(TrialSpec(0, "net", {}, None, 10, 0, 1), TrialStatus.OK, score=0.9,
                          cost_s=3.0, facts=FitFacts(units_trained=3.0))
    assert fit_units(0.3, default, 30) == long_fit


def _trial(trial_id: int, learner: str, score: float, cost_s: float) -> TrialResult:
    spec = TrialSpec(trial_id=trial_id, learner=learner, config={"id": trial_id}, fidelity=None,
                     time_limit_s=60.0, seed=0, n_jobs=1)
    return TrialResult(spec, TrialStatus.OK, score=score, cost_s=cost_s,
                       oof_path=Path(f"{trial_id}.npy"))


def test_the_refit_reserve_holds_the_best_trials_refit_and_its_members() -> None:
    features, y = _data(100)
    config = RunConfig(time_budget=100, cv_folds=4, cv_repeats=1, holdout_min_rows=10**6)
    view = build_view(features, y, BINARY, config)
    results = [_trial(0, "slow", 0.80, 40.0), _trial(1, "fast", 0.94, 4.0),
               _trial(2, "other", 0.90, 8.0)]
    budget = Budget(100)
    loss = get_metric("roc_auc").as_loss
    alone = refit_reserve(results, view, budget, loss)
    # a refit is REFIT_SAFETY x a split's cost of the best trial, from 3/4 of the rows to all
    one_fit = REFIT_SAFETY * 4.0 / 4 * 4 / 3 + MEMBER_LOAD_S  # and loading it
    assert alone == pytest.approx(one_fit + REFIT_SAVE_S + SAVE_MARGIN_S + 2.0)
    with_members = refit_reserve(results, view, budget, loss, extra_fits=3)
    assert with_members == pytest.approx(alone + 3 * one_fit + ENSEMBLE_SELECT_S)
    # a slow best trial: its own refit at its cost, the members at the pool's median refit
    slow_best = [_trial(0, "slow", 0.99, 20.0), *results[1:]]
    slow_fit = REFIT_SAFETY * 20.0 / 4 * 4 / 3 + MEMBER_LOAD_S
    median_fit = REFIT_SAFETY * 8.0 / 4 * 4 / 3 + MEMBER_LOAD_S
    assert refit_reserve(slow_best, view, Budget(1000), loss, extra_fits=3) == pytest.approx(
        slow_fit + 3 * median_fit + REFIT_SAVE_S + ENSEMBLE_SELECT_S + SAVE_MARGIN_S + 20.0)
    slowest = [_trial(0, "slow", 0.99, 400.0), *results[1:]]
    assert refit_reserve(slowest, view, budget, loss, extra_fits=3) == 50.0  # half, at most


def _loop(*results: TrialResult, deterministic: bool = False) -> SearchLoop:
    """A search loop (no executor, no searcher) that has seen ``results``: for its rules."""
    discover(MODULES)
    features, y = _data(100)
    config = RunConfig(time_budget=100, deterministic=deterministic)
    search = SearchLoop(build_view(features, y, BINARY, RunConfig()), config, Budget(100),
                        None, None, Path("."))  # type: ignore[arg-type]
    search.outcome.results.extend(results)
    return search


def test_a_warm_starting_trial_too_starved_to_matter_is_not_started() -> None:
    def result(trial_id: int, learner: str, fidelity: int, cost_s: float) -> TrialResult:
        spec = TrialSpec(trial_id, learner, {}, fidelity, 60, 0, 1)
        return TrialResult(spec, TrialStatus.OK, score=0.9, cost_s=cost_s)

    parent = result(1, "warm", 2, 28.0)  # 14 s an epoch
    promotion = Proposal(5, "warm", {}, "promotion", fidelity=6, resume_from=1, key=1)
    fresh = Proposal(6, "warm", {}, "sampler", fidelity=2, key=6)
    searching = _loop(parent, result(2, "warm", 2, 40.0))
    results = searching.outcome.results  # (the policy is a pure function of the results)
    assert expected_cost(promotion, results) == pytest.approx(56.0)  # 4 more epochs
    assert expected_cost(fresh, results) == pytest.approx(34.0)  # the median fresh trial
    assert searching.starved(promotion, 17.0)  # under half of 56 s left: the search ends
    assert not searching.starved(promotion, 30.0)
    assert searching.starved(fresh, 16.0) and not searching.starved(fresh, 17.0)
    assert not _loop().starved(fresh, 0.5)  # no model yet: any trial is worth it
    cold = Proposal(7, "prior", {}, "sampler", fidelity=2, key=7)
    assert not _loop(result(3, "prior", 2, 30.0)).starved(cold, 1.0)  # no final continuation
    assert not _loop(parent, deterministic=True).starved(promotion, 1.0)  # the clock is a cap


def test_a_fresh_rung_trial_may_stop_out_of_reach_once_its_learner_has_a_model() -> None:
    def ok(learner: str) -> TrialResult:
        return TrialResult(TrialSpec(1, learner, {}, 2, 60, 0, 1), TrialStatus.OK, score=0.9)

    fresh = Proposal(5, "reaching", {}, "sampler", fidelity=2, key=5)
    seed = Proposal(6, "reaching", {}, "portfolio", fidelity=2, key=6)
    assert _loop(ok("reaching")).must_reach(fresh) and _loop(ok("reaching")).must_reach(seed)
    assert not _loop().must_reach(fresh)  # its first trial always runs to the end
    assert not _loop(ok("prior")).must_reach(fresh)  # another learner's model is not its own
    promotion = Proposal(7, "reaching", {}, "promotion", fidelity=4, resume_from=1, key=1)
    assert not _loop(ok("reaching")).must_reach(promotion)  # the starved rule judges those
    default = Proposal(8, "reaching", {}, "sampler", fidelity=None, key=8)
    assert not _loop(ok("reaching")).must_reach(default)  # no rung to reach
    assert not _loop(ok("reaching"), deterministic=True).must_reach(fresh)  # no clock
    assert not _loop(ok("warm")).must_reach(Proposal(9, "warm", {}, "sampler", fidelity=2))


def test_a_trial_out_of_reach_is_pruned_with_its_reason() -> None:
    discover(MODULES)
    features, y = _data(100)
    view = build_view(features, y, BINARY, RunConfig())
    asked = TrialSpec(0, "reaching", {"reach": 2, "shrink": 0.0}, 4, 60, 0, 1,
                      reach_fidelity=True)
    pruned = run_trial(asked, view)
    assert pruned.status is TrialStatus.PRUNED and pruned.score is None
    assert pruned.error == "out of reach: 4 steps asked, 2 fit"
    assert run_trial(replace(asked, reach_fidelity=False), view).status is TrialStatus.OK
    assert run_trial(replace(asked, fidelity=2), view).status is TrialStatus.OK


def test_the_reserve_prices_the_blend_the_latency_goal_could_serve(tmp_path: Path) -> None:
    features, y = _data(100)
    view = build_view(features, y, BINARY, RunConfig())

    def trial(trial_id: int, learner: str, wrong: range, cost_s: float) -> TrialResult:
        p = np.where(validation_targets(view) == 1, 0.8, 0.2)
        p[list(wrong)] = 1 - p[list(wrong)]
        np.save(tmp_path / f"{trial_id}.npy", np.column_stack([1 - p, p]))
        spec = TrialSpec(trial_id, learner, {}, None, 60, 0, 1)
        return TrialResult(spec, TrialStatus.OK, score=0.8, cost_s=cost_s,
                           oof_path=tmp_path / f"{trial_id}.npy")

    best = trial(0, "gbm", range(0, 12), 40.0)  # 10 s to refit: worth choosing the blend
    forest, net = trial(1, "forest", range(12, 24), 40.0), trial(2, "net", range(24, 36), 4.0)
    everything = _loop()
    everything.ranked = lambda: [best, forest, net]  # type: ignore[method-assign]
    assert {r.spec.trial_id for r in everything._likely_members(threads=1) or []} == {1, 2}
    fast_only = _loop()
    fast_only.ranked = lambda: [best, forest, net]  # type: ignore[method-assign]
    fast_only.servable = lambda result: result.spec.learner != "forest"
    assert fast_only._likely_members(threads=1) == [net]
    cheap = _loop()
    cheap.ranked = lambda: [trial(3, "gbm", range(0, 12), 0.4), net]  # type: ignore[method-assign]
    assert cheap._likely_members(threads=1) is None  # priced by count: too cheap to matter
