"""Regularized evolution: valid mutations, tournament selection, aging, repeatability."""

from __future__ import annotations

import numpy as np
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from accelml.core.samplers import make_sampler
from accelml.vision.evolution import RegularizedEvolution, mutate

SPACE = {
    "width": CategoricalDistribution((16, 32, 64, 128)),
    "block": CategoricalDistribution(("plain", "residual")),
    "depth": IntDistribution(1, 4),
    "lr": FloatDistribution(1e-4, 1e-1, log=True),
    "dropout": FloatDistribution(0.0, 0.5),
}


def test_mutation_changes_one_key_and_stays_in_range() -> None:
    rng = np.random.default_rng(0)
    parent = {"width": 32, "block": "plain", "depth": 2, "lr": 0.01, "dropout": 0.1}
    for _ in range(200):
        child = mutate(parent, SPACE, rng)
        changed = [k for k in parent if child[k] != parent[k]]
        assert len(changed) <= 1
        for key, value in child.items():
            assert SPACE[key]._contains(SPACE[key].to_internal_repr(value))
        if child["width"] != parent["width"]:
            assert child["width"] in (16, 64)  # ordered choices move one step


def test_children_come_from_the_better_configs() -> None:
    evolution = RegularizedEvolution(SPACE, seed=1, population=8, sample_size=4)
    for _ in range(8):
        handle, config = evolution.ask()
        evolution.tell(handle, 0.0 if config["block"] == "residual" else 1.0)
    children = [evolution.ask()[1] for _ in range(40)]
    residual = sum(c["block"] == "residual" for c in children)
    assert residual > 25  # the tournament winner is residual whenever one is drawn


def test_enqueued_configs_are_returned_and_the_seed_repeats() -> None:
    def run(seed: int) -> list[dict[str, object]]:
        sampler = make_sampler("evolution", SPACE, seed)
        out = []
        for i in range(20):
            handle, config = sampler.ask({"width": 64, "depth": 3} if i == 0 else None)
            sampler.tell(handle, float(config["lr"]))  # type: ignore[arg-type]
            out.append(config)
        return out

    first = run(5)
    assert first[0]["width"] == 64 and first[0]["depth"] == 3
    assert first == run(5) and first != run(6)


def test_mutation_starts_before_the_population_is_full() -> None:
    """A short run: after the first tournament's worth of results (the seeds), every other
    new config is a mutation of a finished one, not a random draw until 12 have finished."""
    evolution = RegularizedEvolution(SPACE, seed=3, population=12, sample_size=4)
    finished: list[dict[str, object]] = []
    children = 0
    for step in range(10):
        handle, config = evolution.ask()
        if step >= 4:
            children += any(sum(config[k] != old[k] for k in SPACE) <= 1 for old in finished)
        evolution.tell(handle, float(config["lr"]))  # type: ignore[arg-type]
        finished.append(config)
    assert children == 3
