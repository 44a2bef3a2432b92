"""The searcher runs no config twice in a run: repeats are answered from memory and a
learner whose sampler proposes only repeats is exhausted."""

from __future__ import annotations

from optuna.distributions import CategoricalDistribution

from accelml.core.learner import discover, get_learner
from accelml.core.search import Searcher
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialResult, TrialSpec, TrialStatus

TASK = Task(TaskKind.BINARY, "y", "roc_auc", classes=(0, 1), positive_index=1)


def test_a_small_space_is_run_once_per_config_then_the_search_ends() -> None:
    discover(["accelml.testing.fake_learners"])
    learner = get_learner("prior")
    space = {"c": CategoricalDistribution(["a", "b", "c"])}
    searcher = Searcher([learner], TASK, {"prior": space}, seed=0,
                        portfolios={"prior": [{"c": "a"}]})
    seen = []
    while (proposal := searcher.ask()) is not None:
        assert len(seen) < 10, f"the search kept proposing: {seen}"
        seen.append(proposal.config["c"])
        spec = TrialSpec(proposal.trial_id, "prior", proposal.config, None, 1, 0, 1)
        searcher.tell(TrialResult(spec, TrialStatus.OK, score=0.5, cost_s=0.1))
    assert sorted(seen) == ["a", "b", "c"]
