"""Successive halving: rungs, promotions, and the searcher issuing them."""

from __future__ import annotations

from accelml.core.data import DataShape
from accelml.core.learner import Fidelity, discover, get_learner
from accelml.core.multifidelity import SuccessiveHalving, rung_levels
from accelml.core.runner import best_results
from accelml.core.search import Searcher
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialResult, TrialSpec, TrialStatus

BINARY = Task(TaskKind.BINARY, "y", "roc_auc", ("a", "b"), 1)


def test_rungs_grow_by_eta_and_end_at_high() -> None:
    assert rung_levels(Fidelity("epochs", 1, 30), 3) == [1, 3, 9, 30]
    assert rung_levels(Fidelity("epochs", 1, 27), 3) == [1, 3, 9, 27]
    assert rung_levels(Fidelity("trees", 50, 2000), 4) == [50, 200, 800, 2000]
    assert rung_levels(Fidelity("epochs", 1, 30), 3, min_level=4) == [4, 12, 30]
    assert rung_levels(Fidelity("epochs", 1, 30), 3, min_level=12) == [12, 30]
    assert rung_levels(Fidelity("epochs", 1, 30), 3, min_level=50) == [30]


def test_level_share_places_a_fidelity_on_the_rungs() -> None:
    halving = SuccessiveHalving(eta=3)
    halving.add_learner("net", Fidelity("epochs", 1, 27))
    shares = [halving.level_share("net", level) for level in (1, 3, 9, 27)]
    assert shares == [0.0, 1 / 3, 2 / 3, 1.0]
    assert halving.level_share("net", 54) == 1.0


def test_the_best_third_is_promoted_once_and_failures_never() -> None:
    halving = SuccessiveHalving(eta=3)
    halving.add_learner("net", Fidelity("epochs", 1, 9))
    for key, loss in enumerate([0.5, 0.2, None, 0.9, 0.3, 0.4]):
        assert halving.start(key, "net", {"k": key}) == 1
        halving.record(key, 0, loss)
    first = halving.next_promotion()
    second = halving.next_promotion()
    assert first is not None and second is not None
    assert (first.key, first.fidelity) == (1, 3)
    assert second.key == 4
    assert halving.next_promotion() is None  # quota of 6 // 3 = 2 used


def _prior_searcher() -> Searcher:
    """A searcher halving the "prior" fake learner over rungs 1, 2, 4."""
    discover(("accelml.testing.fake_learners",))
    prior = get_learner("prior")
    halving = SuccessiveHalving(eta=2)
    halving.add_learner("prior", Fidelity("rounds", 1, 4))
    return Searcher([prior], BINARY, {"prior": dict(prior.space(BINARY, DataShape(10, 2)))}, 0,
                    sampler="random", halving=halving)


def test_searcher_starts_cheap_then_promotes() -> None:
    searcher = _prior_searcher()
    proposals = [searcher.ask() for _ in range(2)]
    assert all(p is not None and p.fidelity == 1 for p in proposals)
    for proposal, score in zip(proposals, (0.6, 0.9), strict=True):
        assert proposal is not None
        spec = TrialSpec(proposal.trial_id, "prior", proposal.config, 1, 1, 0, 1)
        searcher.tell(TrialResult(spec, TrialStatus.OK, score=score, cost_s=0.1))
    promoted = searcher.ask()
    assert promoted is not None and promoted.source == "promotion"
    assert promoted.fidelity == 2 and promoted.config == proposals[1].config  # type: ignore[union-attr]
    assert promoted.resume_from == proposals[1].trial_id  # continues the trial of the rung below
    assert proposals[0].resume_from is None  # type: ignore[union-attr]


def test_the_final_choice_is_the_best_at_the_highest_rung_reached() -> None:
    searcher = _prior_searcher()
    results = []
    for fidelity, score in ((1, 0.95), (1, 0.9), (2, 0.8), (2, 0.85)):
        proposal = searcher.ask()
        assert proposal is not None
        spec = TrialSpec(proposal.trial_id, "prior", proposal.config, fidelity, 1, 0, 1)
        results.append(TrialResult(spec, TrialStatus.OK, score=score, cost_s=0.1))
    by_score = best_results(results, searcher.loss)
    by_rung = best_results(results, searcher.loss, searcher.fidelity_share)
    assert [r.score for r in by_score] == [0.95, 0.9, 0.85, 0.8]
    assert [r.score for r in by_rung] == [0.85, 0.8, 0.95, 0.9]
