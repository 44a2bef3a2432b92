"""The torch network learner: its input encoding, early stopping, deadline and refit epochs.

The conformance suite (tests/test_learners.py) covers its contract; these check what is
particular to it.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="the [nn] extra is not installed")

import torch  # noqa: E402

from accelml.core.budget import Deadline  # noqa: E402
from accelml.core.learner import FitFacts, discover, get_learner  # noqa: E402
from accelml.tabular.learners._torch_net import KNOTS, TabularNet, quantile_knots  # noqa: E402
from accelml.testing.conformance import (  # noqa: E402
    binary_table,
    multiclass_table,
    regression_table,
)

discover(("accelml.tabular.learners",))


def test_the_quantile_map_is_monotone_and_merges_tied_levels() -> None:
    rng = np.random.default_rng(0)
    skewed = rng.lognormal(0.0, 2.0, 2_000)
    discrete = rng.integers(0, 3, 2_000).astype(np.float64)
    X = np.column_stack([skewed, discrete, np.full(2_000, 5.0)])
    knots, outputs = quantile_knots(X)
    assert knots.shape == outputs.shape == (3, KNOTS)
    assert len(np.unique(knots[1])) == 3  # one knot per distinct value
    net = TabularNet(3, (), (), (), 1, 8, 0.0, 1)
    net.set_encoding(X)
    grid = np.column_stack([np.sort(skewed), np.sort(discrete), np.full(2_000, 5.0)])
    mapped, _ = net.encode(torch.from_numpy(grid.astype(np.float32)))
    mapped = mapped.numpy()
    assert (np.diff(mapped[:, 0]) >= -1e-6).all()  # order kept
    assert abs(np.median(mapped[:, 0])) < 0.1 and 0.7 < mapped[:, 0].std() < 1.3  # normal-ish
    assert len(np.unique(mapped[:, 1].round(5))) == 3
    assert np.allclose(mapped[:, 2], mapped[0, 2])  # a constant column stays constant


def test_missing_numbers_are_filled_and_flagged() -> None:
    X = np.array([[1.0, 0.0], [np.nan, 1.0], [3.0, 1.0], [5.0, 0.0]])
    net = TabularNet(2, (1,), (2,), (0,), 1, 8, 0.0, 1)
    net.set_encoding(X)
    mapped, codes = net.encode(torch.tensor([[np.nan, np.nan], [3.0, 9.0]],
                                            dtype=torch.float32))
    assert mapped[0, 0] == pytest.approx(float(mapped[1, 0]))  # the median is 3
    assert mapped[:, 1].tolist() == [1.0, 0.0]  # the missing flag
    assert codes[:, 0].tolist() == [2, 2]  # missing and unseen codes share the extra row


def test_early_stopping_keeps_the_best_epoch_and_the_refit_trains_that_many() -> None:
    task, features, y = multiclass_table()
    rows = np.arange(len(y))
    train, valid = rows[rows % 4 != 0], rows[rows % 4 == 0]
    learner = get_learner("torch_mlp")
    fitted = learner.fit(features.take(train), y[train], {"learning_rate": 0.01}, task=task,
                         fidelity=200, deadline=Deadline.never(), n_jobs=1, seed=0,
                         valid=(features.take(valid), y[valid]))
    best, ran = fitted.info["best_epochs"], fitted.info["epochs_done"]
    assert 1 <= best < ran < 200, f"no early stop: best {best}, ran {ran}"
    assert fitted.facts == FitFacts(units_trained=ran, refit_units=best)  # what the engine reads
    refit = learner.fit(features, y, {"learning_rate": 0.01}, task=task, fidelity=best,
                        deadline=Deadline.never(), n_jobs=1, seed=0)
    assert refit.info["epochs_done"] == best and "best_epochs" in refit.info


def test_regression_predicts_in_the_target_units() -> None:
    task, features, y = regression_table()
    learner = get_learner("torch_mlp")
    fitted = learner.fit(features, y, {}, task=task, fidelity=40, deadline=Deadline.never(),
                         n_jobs=1, seed=0)
    predicted = learner.predict(fitted, features)
    assert abs(predicted.mean() - y.mean()) < 0.1 * y.std()
    assert np.sqrt(np.mean((predicted - y) ** 2)) < 0.8 * y.std()


def test_it_stops_at_its_deadline_after_one_epoch_at_least() -> None:
    task, features, y = binary_table()
    fitted = get_learner("torch_mlp").fit(features, y, {}, task=task, fidelity=10_000,
                                          deadline=Deadline.in_seconds(0.5), n_jobs=1, seed=0)
    assert 1 <= fitted.info["epochs_done"] < 10_000 and fitted.info["deadline_hit"]


def test_the_same_seed_gives_the_same_network() -> None:
    task, features, y = binary_table()
    learner = get_learner("torch_mlp")
    first, second = (learner.fit(features, y, {}, task=task, fidelity=5,
                                 deadline=Deadline.never(), n_jobs=1, seed=3)
                     for _ in range(2))
    assert np.array_equal(learner.predict(first, features), learner.predict(second, features))


def test_a_deadline_shortens_the_schedule_so_the_rate_still_anneals() -> None:
    from accelml.tabular.learners._common import FitContext
    from accelml.tabular.learners.torch_mlp import _OneCycle, _Trainer

    task = binary_table()[0]
    ctx = FitContext(task, 100, Deadline.in_seconds(1.2), 1, 0, None, 2)
    trainer = _Trainer(None, {}, True, ctx)
    assert trainer._replan(100, 5, epoch_s=0.5) in (6, 7)  # two more epochs fit, at most
    assert trainer.deadline_hit
    roomy = _Trainer(None, {}, True, FitContext(task, 100, Deadline.never(), 1, 0, None, 2))
    assert roomy._replan(100, 5, epoch_s=0.5) == 100 and not roomy.deadline_hit
    cycle = _OneCycle(1000)
    assert cycle(0) < cycle(49) == pytest.approx(1.0)  # warmup over 5 % of the steps
    cycle.total_steps = 200  # re-planned: the rate reaches zero at the new end
    assert cycle(199) < 1e-3 and cycle(500) == 0.0
