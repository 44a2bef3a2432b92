"""The learner contract's typed parts: DataShape, FitFacts, LearnerBase and capabilities()."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accelml.core.data import NO_DATA, DatasetView, DataShape, Features
from accelml.core.evaluate import run_trial
from accelml.core.learner import (
    Config,
    FitFacts,
    Fitted,
    LearnerBase,
    OnnxUnavailable,
    capabilities,
    get_learner,
    register,
)
from accelml.core.task import Task, TaskKind
from accelml.core.trial import TrialSpec, TrialStatus
from accelml.testing.fake_learners import PriorLearner

BINARY = Task(TaskKind.BINARY, "y", "roc_auc", ("a", "b"), 1)


def test_a_data_shape_carries_the_shape_of_one_item() -> None:
    images = Features(np.zeros((5, 12), dtype=np.uint8), item_shape=(2, 2, 3))
    assert DataShape.of(images) == DataShape(5, 12, (2, 2, 3))
    assert DataShape.of(Features(np.zeros((4, 3)))) == DataShape(4, 3, ())
    assert NO_DATA == DataShape(0, 0)


def test_a_view_keeps_the_shape_of_its_items(tmp_path: Path) -> None:
    features = Features(np.zeros((4, 12), dtype=np.uint8), item_shape=(2, 2, 3))
    splits = ((np.arange(2), np.arange(2, 4)),)
    DatasetView(features, np.array([0, 1, 0, 1]), BINARY, splits).save(tmp_path)
    assert DatasetView.load(tmp_path).features.item_shape == (2, 2, 3)


def test_fit_facts_of_a_trial_are_the_mean_of_its_folds_where_all_report_them() -> None:
    folds = [FitFacts(10, 8), FitFacts(13, 9, warm_start_units=2), FitFacts(7, None)]
    assert FitFacts.mean(folds) == FitFacts(10.0, None, warm_start_units=2 / 3)
    assert FitFacts.mean([]) == FitFacts()
    facts = FitFacts(12, 11.5, 2)
    assert FitFacts.from_dict(json.loads(json.dumps(facts.to_dict()))) == facts
    assert FitFacts.from_dict({"units_trained": 3, "unknown": 1}) == FitFacts(3.0)


class _Bare:
    """A learner that declares no optional capability (only the protocol)."""


class _Declaring:
    warm_start = True
    load_modules = ("json",)

    def min_fidelity(self, n_rows: int) -> int:
        return n_rows // 10


def test_capabilities_give_the_base_defaults_where_a_learner_declares_none() -> None:
    bare = capabilities(_Bare())
    assert (bare.modality, bare.warm_start, bare.unit_cost, bare.superseded_by,
            bare.load_modules, bare.stops_out_of_reach) == ("tabular", False, None, None, (),
                                                            False)
    assert bare.min_fidelity(1000) is None
    with pytest.raises(OnnxUnavailable, match="no converter"):
        bare.to_onnx(None, 3)  # type: ignore[arg-type]
    declared = capabilities(_Declaring())
    assert declared.warm_start and declared.load_modules == ("json",)
    assert declared.min_fidelity(1000) == 100 and not declared.stops_out_of_reach
    base = LearnerBase()
    assert capabilities(base) is base


@register
class _CountingPrior(PriorLearner):
    """Reports as its units the rows it was fitted on (a fold's training rows)."""

    name = "counting_prior"

    def fit(self, features: Features, y: np.ndarray, config: Config, **kwargs: Any) -> Fitted:
        fitted = super().fit(features, y, config, **kwargs)
        return replace(fitted, facts=FitFacts(len(y), len(y) // 2))


def test_a_trial_of_a_run_with_a_latency_goal_times_its_model_on_one_row(
        tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    rows = np.arange(40)
    view = DatasetView(Features(X), y, BINARY, ((rows[:30], rows[30:]),))
    timed = run_trial(TrialSpec(0, "prior", {"shrink": 0.0}, None, 30.0, 0, 1,
                                time_one_row=True), view)
    assert timed.status is TrialStatus.OK and timed.info["one_row_ms"] > 0
    plain = run_trial(TrialSpec(1, "prior", {"shrink": 0.0}, None, 30.0, 0, 1), view)
    assert "one_row_ms" not in plain.info


def test_a_trial_carries_the_mean_of_its_folds_facts_to_the_engine(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    rows = np.arange(40)
    splits = ((rows[:30], rows[30:]), (rows[30:], rows[:30]))  # 30 and 10 training rows
    view = DatasetView(Features(X), y, BINARY, splits)
    spec = TrialSpec(0, "counting_prior", {"shrink": 0.0}, None, 30.0, 0, 1,
                     output_dir=tmp_path)
    result = run_trial(spec, view)
    assert result.status is TrialStatus.OK, result.error
    assert result.facts == FitFacts(20.0, 10.0)
    assert capabilities(get_learner("warm")).warm_start  # declared without the base
