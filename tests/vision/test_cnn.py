"""The cnn learner: the search space, networks, training speed and deadlines (its
conformance: tests/test_learners.py, for every registered learner)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from accelml.core.budget import Deadline
from accelml.core.data import NO_DATA, DataShape
from accelml.core.learner import FidelityOutOfReach, FitFacts
from accelml.errors import ConfigError, DataError
from accelml.testing.timing import Stopwatch
from accelml.vision.learners.cnn import CNN, training_macs
from accelml.vision.network import build_network, count_macs, count_params
from accelml.vision.space import image_shape_from, image_space, resolutions, seed_architectures
from tests.vision._digits import MULTICLASS, SHAPE, digits, features, labels


def _fit(rows: slice, config: dict | None = None, **kwargs: object):  # noqa: ANN202
    settings = {"task": MULTICLASS, "fidelity": 1, "deadline": Deadline.never(), "n_jobs": 1,
                "seed": 0, **kwargs}
    return CNN().fit(features(rows), labels(rows), config or {}, **settings)


def test_space_is_torch_free_and_flat() -> None:
    code = ("import sys, accelml.vision.space as s; s.image_space(100, (32, 32, 3)); "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "False"
    space = image_space(1000, (32, 32, 3))
    assert {"n_stages", "depth_3", "width_0", "block", "se", "norm", "resolution", "lr_scale",
            "mixup", "optimizer"} <= set(space)
    assert space["resolution"] == CategoricalDistribution((16, 24, 32))


def test_shape_is_read_from_item_shape_or_a_square_pixel_count() -> None:
    assert image_shape_from(64) == (8, 8, 1)
    assert image_shape_from(3 * 32 * 32) == (32, 32, 3)
    assert image_shape_from(10, (2, 5)) == (2, 5, 1)
    assert resolutions((8, 8, 1)) == (8,)
    with pytest.raises(DataError, match="not a square RGB or grey image"):
        image_shape_from(50)


@pytest.mark.parametrize("shape", [(8, 8, 1), (32, 32, 3), (64, 48, 3)])
def test_seed_architectures_lie_in_the_space_and_build(shape: tuple[int, int, int]) -> None:
    space = image_space(500, shape)
    seeds = seed_architectures(shape)
    assert 3 <= len(seeds) <= 4
    for config in seeds:
        assert set(config) == set(space)
        assert all(space[k]._contains(space[k].to_internal_repr(v)) for k, v in config.items())
        net = build_network(config, shape[2], 7).eval()
        side = min(shape[:2])
        x = torch.zeros(2, shape[2], side, side)
        assert net(x).shape == (2, 7)


def _sample(space: dict, rng: np.random.Generator) -> dict:
    config = {}
    for key, d in space.items():
        if isinstance(d, CategoricalDistribution):
            config[key] = d.choices[rng.integers(len(d.choices))]
        elif isinstance(d, IntDistribution):
            config[key] = int(rng.integers(d.low, d.high + 1) // d.step * d.step)
        elif isinstance(d, FloatDistribution):
            config[key] = float(rng.uniform(d.low, d.high))
    return config


def test_random_configs_build_and_run_forward() -> None:
    rng = np.random.default_rng(0)
    for shape in [(8, 8, 1), (28, 28, 1), (32, 32, 3)]:
        space = image_space(500, shape)
        for _ in range(12):
            config = _sample(space, rng)
            net = build_network(config, shape[2], 3).eval()
            side = config["resolution"]
            out = net(torch.randn(2, shape[2], side, side))
            assert out.shape == (2, 3) and torch.isfinite(out).all(), config


def test_param_count_matches_the_architecture() -> None:
    config = seed_architectures((32, 32, 3))[0]
    net = build_network(config, 3, 10)
    assert count_params(net) == sum(p.numel() for p in net.parameters())
    wider = build_network({**config, "width_2": 64}, 3, 10)
    assert 100_000 < count_params(net) < 2_000_000
    assert count_params(wider) < count_params(net)


def test_a_few_epochs_learn_held_out_digits() -> None:
    with Stopwatch() as watch:
        fitted = _fit(slice(0, 1200), seed_architectures(SHAPE)[0], fidelity=5)
    accuracy = np.mean(CNN().predict(fitted, features(slice(1200, None))).argmax(axis=1)
                       == labels(slice(1200, None)))
    assert accuracy > 0.8, accuracy
    assert watch.seconds < 20
    info = fitted.info
    assert info["epochs"] == info["epochs_done"] == 5 and info["deadline_hit"] is False
    assert info["device"] == "cpu" and info["params"] > 0 and len(info["mean"]) == 1


def test_deadline_shortens_the_schedule_and_stops() -> None:
    with Stopwatch() as watch:
        fitted = _fit(slice(0, 600), {"resolution": 8}, fidelity=1000,
                      deadline=Deadline.in_seconds(1.5))
    assert watch.seconds < 3.5
    assert fitted.info["deadline_hit"] is True and 1 <= fitted.info["epochs"] < 1000


def test_a_rung_out_of_reach_stops_after_its_first_steps() -> None:
    valid = (features(slice(600, 800)), labels(slice(600, 800)))
    with Stopwatch() as watch, pytest.raises(
            FidelityOutOfReach, match=r"out of reach: 1000 epochs take about .* "
            r"leaves room for \d+ of the \d+ steps; stopped after 2"):  # clear miss
        _fit(slice(0, 600), {"resolution": 8, "batch_size": 32}, fidelity=1000,
             deadline=Deadline.in_seconds(20), valid=valid, reach_fidelity=True)
    assert watch.seconds < 5  # not the 20 s the trial had
    many = (features(slice(600, None)), labels(slice(600, None)))  # long to predict
    with pytest.raises(FidelityOutOfReach, match=r"stopped after [1-5]$"):  # before the check
        _fit(slice(0, 600), {"resolution": 8, "batch_size": 32}, fidelity=1000,
             deadline=Deadline.in_seconds(0.3), valid=many, reach_fidelity=True)
    fitted = _fit(slice(0, 600), {"resolution": 8, "batch_size": 32}, fidelity=2,
                  deadline=Deadline.in_seconds(20), valid=valid, reach_fidelity=True)
    assert fitted.info["epochs_done"] == 2  # within reach: trained as asked


def test_a_near_miss_is_judged_on_several_steps_a_clear_one_on_the_first() -> None:
    from accelml.vision.train import REACH_EARLY_MARGIN, Plan

    deadline = Deadline.in_seconds(60.0)  # room for about 50 steps of 1 s, of 100 planned
    plan = Plan(epochs=10, steps_per_epoch=10, step=2, reach_share=0.75)
    plan.check_reach(deadline, 1.0, margin=REACH_EARLY_MARGIN)  # 50 >= 75 / 2: look again
    assert plan.reach_share == 0.75
    with pytest.raises(FidelityOutOfReach, match="room for 5[0-9] of the 100 steps"):
        plan.check_reach(deadline, 1.0)
    assert plan.reach_share is None  # the plain check is made once
    plan = Plan(epochs=10, steps_per_epoch=10, step=2, reach_share=0.75)
    with pytest.raises(FidelityOutOfReach, match="room for [0-9] of the 100 steps"):
        plan.check_reach(deadline, 10.0, margin=REACH_EARLY_MARGIN)


def test_seeds_run_cheapest_first_once_the_image_size_is_known() -> None:
    seeds = CNN().portfolio(MULTICLASS, DataShape(1000, 784, (28, 28, 1)))
    costs = [training_macs(config, (28, 28, 1), 10) for config in seeds]
    assert costs == sorted(costs) and costs[-1] > 5 * costs[0]
    assert sorted(map(str, seeds)) == sorted(map(str, seed_architectures((28, 28, 1))))
    assert CNN().portfolio(MULTICLASS, NO_DATA) == seed_architectures()  # no shape: as designed
    assert CNN().space(MULTICLASS, DataShape(1000, 784, (28, 28, 1))) == image_space(
        1000, (28, 28, 1))


def test_macs_count_each_convolution_and_the_head() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1),
                              torch.nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2),
                              torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 10))
    assert count_macs(net, 1, 8) == 8 * 8 * 4 * 9 + 4 * 4 * 8 * 2 * 9 + 128 * 10


def test_valid_adds_an_accuracy_and_resize_is_used() -> None:
    valid = (features(slice(600, 800)), labels(slice(600, 800)))
    fitted = _fit(slice(0, 600), {"resolution": 8}, valid=valid)
    assert 0.0 <= fitted.info["valid_accuracy"] <= 1.0


def test_unknown_hyperparameter_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"unknown hyperparameters \['widht_0'\]"):
        _fit(slice(0, 100), {"widht_0": 32})


def test_save_load_round_trip(tmp_path: Path) -> None:
    fitted = _fit(slice(0, 300), {"block": "bottleneck", "se": True, "norm": "group"})
    files = CNN().save(fitted, tmp_path)
    assert sorted(f.name for f in files) == ["config.json", "model.safetensors"]
    record = json.loads((tmp_path / "config.json").read_text())
    assert record["info"]["config"]["block"] == "bottleneck"
    loaded = CNN().load(tmp_path, MULTICLASS)
    rows = features(slice(300, 400))
    assert np.array_equal(CNN().predict(loaded, rows), CNN().predict(fitted, rows))


def test_first_look_makes_enough_optimizer_steps() -> None:
    assert CNN().min_fidelity(60_000) == 1
    assert CNN().min_fidelity(4_250) == 4  # 33 steps an epoch
    assert CNN().min_fidelity(100) == 100  # one step an epoch (capped at the top rung later)


def test_warm_start_continues_from_the_same_network_only(tmp_path: Path) -> None:
    config = {**seed_architectures(SHAPE)[0], "resolution": 8}
    trial = _fit(slice(0, 400), config, fidelity=3)
    CNN().save(trial, tmp_path / "trial")
    test = features(slice(1200, None))
    warm = _fit(slice(0, 400), config, fidelity=1, init_from=tmp_path / "trial",
                deadline=Deadline.in_seconds(0.0))  # no epoch trains: the weights are the trial's
    assert warm.info["warm_start_epochs"] == 3
    assert np.allclose(CNN().predict(warm, test), CNN().predict(trial, test), atol=1e-4)
    other = _fit(slice(0, 400), {**config, "width_0": 16}, fidelity=1,
                 init_from=tmp_path / "trial")
    assert other.info["warm_start_epochs"] == 0
    missing = _fit(slice(0, 400), config, fidelity=1, init_from=tmp_path / "nothing")
    assert missing.info["warm_start_epochs"] == 0


def test_a_promotion_trains_only_the_epochs_its_weights_have_not_seen(tmp_path: Path) -> None:
    config = {**seed_architectures(SHAPE)[0], "resolution": 8}
    CNN().save(_fit(slice(0, 400), config, fidelity=3), tmp_path / "trial")
    promoted = _fit(slice(0, 400), config, fidelity=5, init_from=tmp_path / "trial")
    assert promoted.info["warm_start_epochs"] == 3
    assert len(promoted.info["epoch_s"]) == 2 and promoted.info["epochs_done"] == 5
    assert promoted.facts == FitFacts(units_trained=5, warm_start_units=3)  # what core reads


def _valid(rows: slice) -> tuple:  # noqa: ANN202
    return features(rows), labels(rows)


def test_a_continuation_that_ends_worse_keeps_the_weights_it_started_from(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import accelml.vision.learners.cnn as cnn_module

    config = {**seed_architectures(SHAPE)[0], "resolution": 8}
    parent = _fit(slice(0, 400), config, fidelity=3)
    CNN().save(parent, tmp_path / "trial")
    train = cnn_module.train_network

    def spoiled(net: torch.nn.Module, *args: object, **kwargs: object) -> dict:
        facts = train(net, *args, **kwargs)  # then weights no better than noise
        with torch.no_grad():
            for weight in net.parameters():
                weight.copy_(torch.randn_like(weight))
        facts["valid_log_loss"] = 50.0
        return facts

    monkeypatch.setattr(cnn_module, "train_network", spoiled)
    holdout, test = _valid(slice(400, 700)), features(slice(1200, None))
    continued = _fit(slice(0, 400), config, fidelity=5, init_from=tmp_path / "trial",
                     valid=holdout)
    assert continued.info["kept_start_weights"] is True
    assert continued.info["epochs_done"] == 3  # the parent's weights, and their epochs
    assert continued.facts == FitFacts(units_trained=3, warm_start_units=3)
    assert len(continued.info["epoch_s"]) == 2  # the tried epochs stay on record
    assert np.allclose(CNN().predict(continued, test), CNN().predict(parent, test), atol=1e-4)
    parent_loss = -np.mean(np.log(CNN().predict(parent, holdout[0])[np.arange(300),
                                                                     holdout[1]]))
    assert continued.info["valid_log_loss"] == pytest.approx(parent_loss, rel=1e-4)


def test_a_continuation_that_improves_keeps_its_new_weights(tmp_path: Path) -> None:
    config = {**seed_architectures(SHAPE)[0], "resolution": 8}
    CNN().save(_fit(slice(0, 400), config, fidelity=1), tmp_path / "trial")
    continued = _fit(slice(0, 400), config, fidelity=6, init_from=tmp_path / "trial",
                     valid=_valid(slice(400, 700)))
    assert "kept_start_weights" not in continued.info
    assert continued.info["epochs_done"] == 6


def test_a_plan_cut_short_by_the_first_epochs_start_up_grows_back() -> None:
    from accelml.vision.train import Plan

    plan = Plan(epochs=1000, steps_per_epoch=10)
    plan.done, plan.epoch_s = 1, [0.5]  # start-up: the first epoch looks slow
    plan.replan(Deadline.in_seconds(10.0))
    assert 15 <= plan.epochs <= 20 and plan.deadline_hit
    plan.done, plan.epoch_s = 2, [0.5, 0.05]  # steady epochs are ten times faster
    plan.replan(Deadline.in_seconds(9.9))
    assert 150 <= plan.epochs <= 190
    plan.done, plan.epoch_s = 3, [0.5, 0.05, 0.2]  # after the first epochs it only shrinks
    plan.replan(Deadline.in_seconds(100.0))
    assert 150 <= plan.epochs <= 190
    plan.replan(Deadline.in_seconds(1.0))
    assert plan.epochs == 3 + 4


def test_training_keeps_time_to_predict_the_validation_images() -> None:
    """A slow network on many validation images: training ends early enough that predicting
    them still fits before the deadline (a trial that overran was killed, its work lost)."""
    from accelml.vision.train import Plan

    plan = Plan(epochs=10, steps_per_epoch=10, after_steps=20.0, step_s=0.1)
    plan.done, plan.epoch_s = 2, [1.0, 1.0]
    plan.replan(Deadline.in_seconds(6.0))  # 2 s kept for predictions: 4 s of epochs
    assert plan.epochs == 2 + 3 and plan.deadline_hit
    fitted = _fit(slice(0, 300), {"resolution": 8}, fidelity=1000,
                  deadline=Deadline.in_seconds(1.0),
                  valid=(features(slice(300, 1797)), labels(slice(300, 1797))))
    assert fitted.info["deadline_hit"] is True


def test_a_cut_inside_an_epoch_caps_the_steps_so_the_schedule_anneals() -> None:
    """Steps that the deadline leaves room for, from the measured step time: the cosine ends
    there, where re-planning at epoch ends alone stopped at whatever rate it had reached."""
    from accelml.vision.train import FINAL_LR_SHARE, Plan, lr_factor

    plan = Plan(epochs=10, steps_per_epoch=100, step=50, step_s=0.1)
    plan.cap_steps(Deadline.in_seconds(10.0))
    assert 140 <= plan.step_cap <= 146 and plan.total_steps() == plan.step_cap
    assert plan.deadline_hit and not plan.capped()
    plan.step = plan.step_cap - 1
    assert lr_factor(plan.step / plan.total_steps()) < 2 * FINAL_LR_SHARE
    plan.cap_steps(Deadline.in_seconds(1000.0))  # the epochs fit again: no cap
    assert plan.step_cap is None and plan.total_steps() == 1000


def test_a_trial_cut_before_its_first_epoch_ends_still_anneals() -> None:
    from accelml.vision.train import CAP_CHECK_STEPS, train_network

    x, y = digits()
    images, y = np.tile(x.reshape(-1, 8, 8, 1), (4, 1, 1, 1)), np.tile(y, 4)  # 449 steps
    config = {**seed_architectures()[0], "resolution": 16, "batch_size": 16}
    net = build_network(config, 1, 10)
    info = train_network(net, images, y, config, epochs=3, deadline=Deadline.in_seconds(5.0),
                         n_jobs=1, seed=0)  # one thread: the other core may be busy
    assert info["deadline_hit"] and info["epochs_done"] == 0
    assert CAP_CHECK_STEPS <= info["steps"] < len(images) // 16  # the cap was planned
    assert info["images_seen"] == 16 * info["steps"]  # throughput counts the partial epoch
    assert info["final_lr_share"] < 0.05, info
