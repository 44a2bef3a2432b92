"""The zero-shot portfolio: greedy selection over the meta-training matrix, and a dataset of
the collection never in its own portfolio's training data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from accelml.tabular import zeroshot


def test_greedy_selection_covers_the_datasets_and_stops_when_nothing_improves() -> None:
    # three datasets; candidate 0 is good on average, 1 and 2 are each best on one dataset
    matrix = np.array([[0.2, 0.0, 1.0, 0.9],
                       [0.2, 1.0, 0.0, 0.9],
                       [0.1, 0.5, 0.5, 0.9]])
    assert zeroshot.greedy_portfolio(matrix, size=4) == [0, 1, 2]  # 3 would add nothing
    assert zeroshot.greedy_portfolio(matrix, size=1) == [0]


@pytest.fixture
def collection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    own_key = zeroshot.data_key(["a", "b"], "y")
    data = {"kinds": {"binary": {
        "candidates": [["lightgbm", {"v": 0}], ["xgboost", {"v": 1}], ["knn", {"v": 2}]],
        "datasets": {
            "mine": {"key": own_key, "normalized": [1.0, 1.0, 0.0]},
            "other1": {"key": "k1", "normalized": [0.0, 0.5, 1.0]},
            "other2": {"key": "k2", "normalized": [0.1, 0.0, 1.0]},
        }}}}
    path = tmp_path / "zeroshot.json"
    path.write_text(json.dumps(data))
    monkeypatch.setattr(zeroshot, "DATA_FILE", path)
    zeroshot._collection.cache_clear()
    yield own_key
    zeroshot._collection.cache_clear()


def test_the_data_being_fitted_is_left_out_of_its_portfolio(collection: str) -> None:
    lead, learned_from = zeroshot.portfolio("binary", ["b", "a"], "y",
                                            ["lightgbm", "xgboost", "knn"])
    assert sorted(learned_from) == ["other1", "other2"]  # "mine" left out by its columns
    assert [learner for learner, _ in lead] == ["lightgbm", "xgboost"]  # knn won only "mine"
    lead, learned_from = zeroshot.portfolio("binary", ["c"], "y", ["lightgbm", "knn"])
    assert len(learned_from) == 3 and ("knn", {"v": 2}) in lead


def test_only_the_runs_learners_and_known_kinds(collection: str) -> None:
    lead, _ = zeroshot.portfolio("binary", ["c"], "y", ["xgboost"])
    assert lead == [("xgboost", {"v": 1})]
    assert zeroshot.portfolio("regression", ["c"], "y", ["xgboost"]) == ([], [])


def test_the_shipped_file_covers_every_task_kind() -> None:
    zeroshot._collection.cache_clear()
    kinds = json.loads(zeroshot.DATA_FILE.read_text())["kinds"]
    assert set(kinds) == {"binary", "multiclass", "regression"}
    for entry in kinds.values():
        assert len(entry["datasets"]) >= 5
        for data in entry["datasets"].values():
            assert len(data["normalized"]) == len(entry["candidates"])


def test_the_lead_portfolio_runs_before_the_learners_own() -> None:
    from accelml.core.data import DataShape
    from accelml.core.learner import discover, get_learner
    from accelml.core.search import Searcher
    from accelml.core.task import Task, TaskKind

    discover(("accelml.testing.fake_learners",))
    task = Task(TaskKind.BINARY, "y", "roc_auc", ("a", "b"), 1)
    learners = [get_learner("prior")]
    spaces = {"prior": dict(learners[0].space(task, DataShape(10, 2)))}
    lead = [("prior", {"shrink": 0.5}), ("unknown", {"x": 1}), ("prior", {"shrink": 0.0})]
    searcher = Searcher(learners, task, spaces, seed=0, lead=lead)
    asked = [searcher.ask() for _ in range(3)]
    assert [p.config for p in asked if p is not None][:2] == [{"shrink": 0.5}, {"shrink": 0.0}]
    assert [p.source for p in asked if p is not None] == ["portfolio", "portfolio", "sampler"]


def test_a_run_led_by_the_zero_shot_portfolio_says_what_it_learned_from() -> None:
    import accelml
    from tests.conftest import cancer_frame

    predictor = accelml.fit(cancer_frame(), "diagnosis", time_budget=6, quiet=True,
                            zero_shot=True, learners=("lightgbm", "linear"))
    notes = [n for n in predictor.info["notes"] if n.startswith("zero-shot portfolio")]
    assert notes and "learned on" in notes[0]
    first = predictor.leaderboard().sort_values("trial").iloc[0]
    assert first["learner"] in {"lightgbm", "linear"}
