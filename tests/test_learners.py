"""Every registered learner, of every modality, passes the conformance suite; plus focused
tests of the tabular learners.

The learners come from the registry: every registered modality's learner modules, core's own
(the fallback model) and the ``accelml.learners`` entry points; each is checked on the data
registered for its modality in :mod:`accelml.testing.conformance`.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest

import accelml.core.learner as learner_registry
import accelml.testing.conformance as conformance
from accelml.core.budget import Deadline
from accelml.core.data import DataShape, Features
from accelml.core.learner import (
    ENTRY_POINT_GROUP,
    capabilities,
    get_learner,
    learners_for,
    registered,
)
from accelml.core.task import TaskKind
from accelml.errors import ArtifactError, ConfigError, DataError
from accelml.tabular.learners._sklearn import dump_skops, load_skops
from accelml.tabular.learners.linear import Linear
from accelml.testing.conformance import (
    N_CODES,
    Case,
    binary_table,
    check_registered,
    learners_to_check,
    regression_table,
)
from accelml.testing.fake_learners import PriorLearner
from accelml.testing.learner_checks import check_learner

LEARNERS, NOT_IMPORTABLE = learners_to_check()
TABULAR = sorted(name for name, cls in LEARNERS.items()
                 if capabilities(cls()).modality == "tabular")
BOOSTING = ["lightgbm", "xgboost", "catboost"]


def _cases() -> list[object]:
    cases = [
        pytest.param(name, kind, id=f"{name}-{kind.value}")
        for name in sorted(LEARNERS)
        for kind in TaskKind
        if kind in LEARNERS[name].task_kinds
    ]
    return cases + [  # a modality whose extra is not installed: said, not silently absent
        pytest.param(None, None, id=f"{modality}-learners",
                     marks=pytest.mark.skip(reason=f"{modality} learners not importable: {why}"))
        for modality, why in sorted(NOT_IMPORTABLE.items())
    ]


@pytest.mark.parametrize(("name", "kind"), _cases())
def test_learner_conforms(name: str, kind: TaskKind, tmp_path: Path) -> None:
    check_registered(LEARNERS[name], kind, tmp_path)


def test_every_modality_and_core_bring_their_learners_to_the_check() -> None:
    modalities = {capabilities(cls()).modality for cls in LEARNERS.values()}
    assert {"tabular", "fallback"} <= modalities
    assert "image" in modalities or "image" in NOT_IMPORTABLE
    assert not {"prior", "crashing"} & set(LEARNERS)  # test doubles are not checked


def test_entry_point_learners_are_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    point = EntryPoint("prior", "accelml.testing.fake_learners:PriorLearner", ENTRY_POINT_GROUP)

    def points(group: str) -> list[EntryPoint]:
        return [point] if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(learner_registry, "entry_points", points)
    monkeypatch.setattr(conformance, "entry_points", points)
    learners, _ = learners_to_check()
    assert learners["prior"] is PriorLearner


class _AudioPrior(PriorLearner):
    modality = "audio"


def test_a_modality_without_conformance_data_is_told_to_register_some(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match=r"no conformance data is registered for the 'audio' "
                                          r"modality.*register_conformance_data\('audio'"):
        check_registered(_AudioPrior, TaskKind.BINARY, tmp_path)


def test_search_tries_learners_in_portfolio_order() -> None:
    names = [learner.name for learner in learners_for(TaskKind.BINARY) if learner.name in TABULAR]
    if "torch_mlp" in registered():  # the network comes third, in place of the sklearn MLP
        assert names == ["lightgbm", "linear", "torch_mlp", "xgboost", "catboost",
                         "extra_trees", "random_forest", "knn"]
    else:
        assert names == ["lightgbm", "linear", "xgboost", "catboost", "extra_trees",
                         "random_forest", "knn", "mlp"]


def test_the_torch_network_supersedes_the_sklearn_mlp_unless_it_is_named() -> None:
    if "torch_mlp" not in registered():
        pytest.skip("torch is not installed")
    default = {learner.name for learner in learners_for(TaskKind.REGRESSION)}
    assert "torch_mlp" in default and "mlp" not in default
    named = [learner.name for learner in learners_for(TaskKind.REGRESSION,
                                                      include=["mlp", "torch_mlp"])]
    assert named == ["torch_mlp", "mlp"]
    without = {learner.name for learner in learners_for(TaskKind.REGRESSION,
                                                        exclude=["torch_mlp"])}
    assert "mlp" in without  # leaving the network out brings scikit-learn's back


def _fit(name: str, data: Case, rows: np.ndarray, **kwargs: object) -> object:
    task, features, y = data
    settings = {"task": task, "fidelity": 50, "deadline": Deadline.never(), "n_jobs": 1,
                "seed": 0, **kwargs}
    config = settings.pop("config", {})
    return get_learner(name).fit(features.take(rows), y[rows], config, **settings)


@pytest.mark.parametrize("name", BOOSTING)
def test_early_stopping_records_rounds_for_refit(name: str) -> None:
    data = binary_table()
    rows = np.arange(len(data[2]))
    train, valid = rows[rows % 4 != 0], rows[rows % 4 == 0]
    valid_data = (data[1].take(valid), data[2][valid])
    fitted = _fit(name, data, train, fidelity=2000, config={"learning_rate": 0.3},
                  valid=valid_data)
    rounds = fitted.info["n_estimators"]
    assert 1 <= rounds < 1000, f"{name} did not stop early on valid: {rounds} rounds"
    assert fitted.info["deadline_hit"] is False
    refit = _fit(name, data, rows, fidelity=rounds, config={"learning_rate": 0.3})
    assert refit.info["n_estimators"] == rounds


@pytest.mark.parametrize("name", TABULAR)
def test_unseen_and_missing_category_codes_predict(name: str) -> None:
    task, features, y = binary_table()
    column = features.categorical[0]
    train = np.flatnonzero(features.X[:, column] != N_CODES - 1)  # last code never seen
    fitted = _fit(name, (task, features, y), train)
    X = features.X[:4].copy()
    X[:, column] = [N_CODES - 1, N_CODES + 7, np.nan, 0]
    proba = get_learner(name).predict(fitted, Features(X, features.categorical,
                                                       features.cardinalities))
    assert proba.shape == (4, 2) and np.isfinite(proba).all()
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_a_learner_whose_library_is_missing_is_named_with_its_install() -> None:
    from accelml.core.learner import register_unavailable
    from accelml.errors import MissingDependencyError

    register_unavailable("quantum_forest", "pip install 'accelml[quantum]'")
    with pytest.raises(MissingDependencyError, match=r"learner 'quantum_forest' needs a library "
                                                     r"that is not installed: pip install"):
        learners_for(TaskKind.BINARY, include=["lightgbm", "quantum_forest"])
    assert "quantum_forest" not in {learner.name for learner in learners_for(TaskKind.BINARY)}
    register_unavailable("lightgbm", "never shadows a registered learner")
    assert get_learner("lightgbm").name == "lightgbm"


def test_unknown_hyperparameter_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown hyperparameters \['num_leafs'\].*num_leaves"):
        _fit("lightgbm", binary_table(), np.arange(100), config={"num_leafs": 8})


def test_load_refuses_another_learners_directory(tmp_path: Path) -> None:
    task = binary_table()[0]
    get_learner("lightgbm").save(_fit("lightgbm", binary_table(), np.arange(200)), tmp_path)
    with pytest.raises(ArtifactError, match="holds a 'lightgbm' model"):
        get_learner("xgboost").load(tmp_path, task)


def test_load_names_a_missing_model_file(tmp_path: Path) -> None:
    task = binary_table()[0]
    files = get_learner("xgboost").save(_fit("xgboost", binary_table(), np.arange(200)), tmp_path)
    next(f for f in files if f.suffix == ".ubj").unlink()
    with pytest.raises(ArtifactError, match=r"model\.ubj is missing"):
        get_learner("xgboost").load(tmp_path, task)


class Foreign:
    """A type outside scikit-learn and NumPy: loading a file naming it must be refused."""

    def __init__(self) -> None:
        self.payload = [1, 2, 3]


def test_skops_load_refuses_foreign_types(tmp_path: Path) -> None:
    path = dump_skops(Foreign(), tmp_path / "model.skops")
    with pytest.raises(ArtifactError, match=r"Foreign\); refusing to load"):
        load_skops(path)


class _Unnormalized(Linear):
    """A broken learner: probabilities that do not sum to one."""

    def predict(self, fitted, features):  # type: ignore[no-untyped-def]
        return super().predict(fitted, features) * 2.0


def test_suite_catches_a_broken_learner(tmp_path: Path) -> None:
    task, features, y = binary_table()
    with pytest.raises(AssertionError, match=r"probabilities outside \[0, 1\]"):
        check_learner(_Unnormalized(), task, features, y, tmp_path=tmp_path)


@pytest.mark.parametrize("name", TABULAR)
def test_load_turns_a_damaged_model_file_into_an_artifact_error(name: str, tmp_path: Path) -> None:
    files = get_learner(name).save(_fit(name, binary_table(), np.arange(200)), tmp_path)
    for file in files:
        if file.name != "info.json":
            file.write_bytes(b"not a model")
    with pytest.raises(ArtifactError, match=f"{name}.*(could not be read|refusing)"):
        get_learner(name).load(tmp_path, binary_table()[0])


def test_class_codes_beyond_the_task_are_a_data_error() -> None:
    task, features, y = binary_table()
    with pytest.raises(DataError, match=r"class codes 0\.\.2 for a task with 2 classes"):
        get_learner("linear").fit(features, np.where(y == 1, 2, 0), {}, task=task, fidelity=None,
                                  deadline=Deadline.never(), n_jobs=1, seed=0)


def test_the_mlp_predicts_in_the_target_units_and_trains_its_epochs() -> None:
    task, features, y = regression_table()
    learner = get_learner("mlp")
    fitted = learner.fit(features, y, {}, task=task, fidelity=40, deadline=Deadline.never(),
                         n_jobs=1, seed=0)
    assert fitted.info["epochs_done"] == 40 and not fitted.info["deadline_hit"]
    predicted = learner.predict(fitted, features)
    assert abs(predicted.mean() - y.mean()) < 0.1 * y.std()  # scaled back to the target
    assert np.sqrt(np.mean((predicted - y) ** 2)) < 0.8 * y.std()  # it learned something


def test_the_mlp_stops_at_its_deadline_after_one_epoch_at_least() -> None:
    task, features, y = binary_table()
    learner = get_learner("mlp")
    fitted = learner.fit(features, y, {}, task=task, fidelity=10_000,
                         deadline=Deadline.in_seconds(0.5), n_jobs=1, seed=0)
    assert 1 <= fitted.info["epochs_done"] < 10_000 and fitted.info["deadline_hit"]


def test_lightgbm_may_grow_larger_trees_on_larger_tables() -> None:
    task = binary_table()[0]
    learner = get_learner("lightgbm")
    small = learner.space(task, DataShape(1_000, 10))["num_leaves"]
    large = learner.space(task, DataShape(40_000, 10))["num_leaves"]
    huge = learner.space(task, DataShape(10_000_000, 10))["num_leaves"]
    assert (small.high, large.high, huge.high) == (256, 2500, 4096)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["linear", "lightgbm"])
def test_load_imports_no_library_beyond_its_load_modules(name: str, tmp_path: Path) -> None:
    """The driver preloads ``load_modules`` so that loading the final blend pays no first
    import (skops took 2.7 s there and a 10 s run took 11.5 s); a library ``load`` needs but
    does not name would be imported inside the budget again."""
    task, features, y = binary_table()
    learner = get_learner(name)
    fitted = learner.fit(features, y, {}, task=task, fidelity=None, deadline=Deadline.never(),
                         n_jobs=1, seed=0)
    learner.save(fitted, tmp_path)
    code = (
        "import importlib, sys, pickle\n"
        "import accelml.tabular.learners\n"
        "from accelml.core.learner import get_learner\n"
        "from accelml.core.task import Task, TaskKind\n"
        f"learner = get_learner({name!r})\n"
        "for module in learner.load_modules: importlib.import_module(module)\n"
        "before = {m.split('.')[0] for m in sys.modules}\n"
        "learner.load(__import__('pathlib').Path(sys.argv[1]), "
        "Task(TaskKind.BINARY, 'y', 'roc_auc', (0, 1), 1))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} - before))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
