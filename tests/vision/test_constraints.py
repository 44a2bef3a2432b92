"""Deployment constraints: a network over --max-params or --max-latency-ms fails before any
training, with the limit and the measured value in the message; one within them trains."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from accelml.core.budget import Deadline
from accelml.errors import ConfigError
from accelml.vision.constraints import check_constraints, latency_ms, split_constraints
from accelml.vision.learners.cnn import CNN
from accelml.vision.network import build_network, count_params
from accelml.vision.space import seed_architectures
from accelml.vision.train import should_compile
from tests.vision._digits import MULTICLASS, SHAPE, features, labels

CONFIG = {**seed_architectures(SHAPE)[0], "resolution": 8}


def test_split_constraints_keeps_only_the_limits_that_are_set() -> None:
    rest, limits = split_constraints({**CONFIG, "max_params": 10, "max_latency_ms": None})
    assert limits == {"max_params": 10}
    assert "max_params" not in rest and "max_latency_ms" not in rest


def test_latency_is_a_positive_median_and_restores_the_mode() -> None:
    net = build_network(CONFIG, 1, 10).train()
    measured = latency_ms(net, 1, 8, torch.device("cpu"))
    assert 0.0 < measured < 1000.0
    assert net.training


def test_limits_are_checked_and_measured() -> None:
    net = build_network(CONFIG, 1, 10)
    facts = check_constraints(net, 1, 8, {"max_params": 10**9, "max_latency_ms": 1e6}, 1)
    assert facts["params"] == count_params(net) and facts["latency_ms"] > 0
    with pytest.raises(ConfigError, match=r"more than --max-params 100"):
        check_constraints(net, 1, 8, {"max_params": 100}, 1)
    with pytest.raises(ConfigError, match=r"slower than --max-latency-ms 1e-06"):
        check_constraints(net, 1, 8, {"max_latency_ms": 1e-6}, 1)


def test_the_learner_refuses_a_slow_network_before_training() -> None:
    rows = np.arange(200)
    config = {**CONFIG, "max_latency_ms": 1e-6}
    with pytest.raises(ConfigError, match="--max-latency-ms"):
        CNN().fit(features(rows), labels(rows), config, task=MULTICLASS, fidelity=50,
                  deadline=Deadline.never(), n_jobs=1, seed=0)
    fitted = CNN().fit(features(rows), labels(rows), {**CONFIG, "max_latency_ms": 1e6},
                       task=MULTICLASS, fidelity=1, deadline=Deadline.never(), n_jobs=1,
                       seed=0)
    assert fitted.info["latency_ms"] > 0 and fitted.info["epochs_done"] == 1
    assert "max_latency_ms" not in fitted.info["config"]


def test_compile_only_on_cuda_for_long_trainings() -> None:
    assert not should_compile(torch.device("cpu"), 10**6, float("inf"))
    assert not should_compile(torch.device("cuda"), 100, float("inf"))
    assert not should_compile(torch.device("cuda"), 10**6, 30.0)
    assert should_compile(torch.device("cuda"), 10**6, float("inf"))
