"""ONNX export of tabular models: each learner's converter, blends, and the clear refusals."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxmltools", reason="the [export] extra is not installed")

from accelml.core.budget import Deadline  # noqa: E402
from accelml.core.data import DataShape  # noqa: E402
from accelml.core.learner import discover, get_learner, registered  # noqa: E402
from accelml.core.stacking import Stacker  # noqa: E402
from accelml.core.task import encode_target, infer_task  # noqa: E402
from accelml.errors import ConfigError  # noqa: E402
from accelml.tabular.export import export_onnx, run_onnx, synthetic_features  # noqa: E402
from accelml.tabular.preprocess import TabularPreprocessor  # noqa: E402
from tests.conftest import cancer_frame, diabetes_frame, wine_frame  # noqa: E402

discover(("accelml.tabular.learners",))
EXPORTABLE = ["lightgbm", "xgboost", "random_forest", "extra_trees", "linear", "mlp",
              *(["torch_mlp"] if "torch_mlp" in registered() else [])]
CATBOOST_TREES = 200


def _fitted(frame, target: str, name: str, fidelity: int | None = None):  # noqa: ANN001, ANN202
    features = TabularPreprocessor().fit_transform(frame.drop(columns=[target]))
    task = infer_task(frame[target], target, None, None, None)
    y = encode_target(frame[target], task)
    learner = get_learner(name)
    config = dict(learner.portfolio(task, DataShape.of(features))[0])
    fitted = learner.fit(features, y, config, task=task, fidelity=fidelity,
                         deadline=Deadline.in_seconds(30), n_jobs=1, seed=0)
    return learner, fitted, features, task


@pytest.mark.parametrize("name", EXPORTABLE)
def test_each_tree_learner_exports_and_matches(name: str, tmp_path: Path) -> None:
    frame = cancer_frame()
    learner, fitted, features, task = _fitted(frame, "diagnosis", name)
    path = export_onnx([(name, fitted, 1.0, None)], features.X.shape[1], task.n_classes,
                       tmp_path / "model.onnx")
    X = features.X.astype(np.float32).astype(np.float64)
    native = learner.predict(fitted, features.take(np.arange(len(X))))
    assert np.abs(run_onnx(path, X) - native).max() < 1e-4


def test_a_weighted_blend_and_a_regressor(tmp_path: Path) -> None:
    frame = cancer_frame()
    lgbm, first, features, task = _fitted(frame, "diagnosis", "lightgbm")
    xgb, second, _, _ = _fitted(frame, "diagnosis", "xgboost")
    path = export_onnx([("lightgbm", first, 3.0, None), ("xgboost", second, 1.0, None)],
                       features.X.shape[1], task.n_classes, tmp_path / "blend.onnx")
    expected = 0.75 * lgbm.predict(first, features) + 0.25 * xgb.predict(second, features)
    assert np.abs(run_onnx(path, features.X) - expected).max() < 1e-4
    regressor, fitted, reg_features, _ = _fitted(diabetes_frame(), "progression", "lightgbm")
    path = export_onnx([("lightgbm", fitted, 1.0, None)], reg_features.X.shape[1], None,
                       tmp_path / "regressor.onnx")
    got = run_onnx(path, reg_features.X)
    assert got.shape == (len(reg_features.X),)
    assert np.abs(got - regressor.predict(fitted, reg_features)).max() < 1e-3


def test_the_network_exports_its_encoding_of_missing_values_and_unseen_codes(
        tmp_path: Path) -> None:
    if "torch_mlp" not in registered():
        pytest.skip("torch is not installed")
    frame = diabetes_frame()
    frame.loc[frame.index[::7], "bmi"] = np.nan
    frame["band"] = np.where(frame["age"] > 0, "older", "younger")
    learner, fitted, features, _ = _fitted(frame, "progression", "torch_mlp")
    X = features.X.astype(np.float32).astype(np.float64)
    X[:5, features.categorical[0]] = 7.0  # a code no training row had
    rows = dataclasses.replace(features, X=X)
    path = export_onnx([("torch_mlp", fitted, 1.0, None)], X.shape[1], None,
                       tmp_path / "network.onnx")
    assert np.abs(run_onnx(path, X) - learner.predict(fitted, rows)).max() < 1e-3


@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_one_hot_learners_export_codes_training_never_showed(name: str,
                                                            tmp_path: Path) -> None:
    """Missing and ``__other__`` codes that no training row had: the native pipeline and its
    graph must agree on them (ONNX's encoder used to refuse them as unknown categories)."""
    frame = cancer_frame()
    frame.loc[frame.index[::9], "size_band"] = None  # a missing code seen in training
    learner, fitted, features, task = _fitted(frame, "diagnosis", name)
    X = features.X.astype(np.float32).astype(np.float64)
    band, texture = features.categorical[0], features.categorical[1]
    X[:4, band] = features.cardinalities[0] - 1  # __other__: no training row had it
    X[4:8, texture] = np.nan  # missing: no training row had it
    rows = dataclasses.replace(features, X=X)
    path = export_onnx([(name, fitted, 1.0, None)], X.shape[1], task.n_classes,
                       tmp_path / "model.onnx")
    native = learner.predict(fitted, rows)
    assert np.abs(run_onnx(path, X) - native).max() < 1e-4


def test_synthetic_check_rows_respect_category_codes() -> None:
    features = TabularPreprocessor().fit_transform(cancer_frame().drop(columns=["diagnosis"]))
    X = synthetic_features(features)
    for index, cardinality in zip(features.categorical, features.cardinalities, strict=True):
        codes = X[:, index][~np.isnan(X[:, index])]
        assert codes.min() >= 0 and codes.max() < cardinality


def test_catboost_exports_numbers_and_names_what_it_cannot(tmp_path: Path) -> None:
    # 200 trees, not the 2000 of a fit without a fidelity: each is converted the same way
    learner, fitted, features, task = _fitted(wine_frame(), "cultivar", "catboost", CATBOOST_TREES)
    path = export_onnx([("catboost", fitted, 1.0, None)], features.X.shape[1], task.n_classes,
                       tmp_path / "wine.onnx")
    assert np.abs(run_onnx(path, features.X) - learner.predict(fitted, features)).max() < 1e-4
    _, fitted, features, task = _fitted(cancer_frame(), "diagnosis", "catboost", CATBOOST_TREES)
    with pytest.raises(ConfigError, match=r"the 'catboost' member cannot be exported to ONNX "
                                          r"\(.*categorical features.*--exclude catboost"):
        export_onnx([("catboost", fitted, 1.0, None)], features.X.shape[1], task.n_classes,
                    tmp_path / "x.onnx")
    _, fitted, features, task = _fitted(cancer_frame(), "diagnosis", "knn")
    with pytest.raises(ConfigError, match=r"the 'knn' member cannot be exported to ONNX "
                                          r"\(in float32, ties.*--exclude knn"):
        export_onnx([("knn", fitted, 1.0, None)], features.X.shape[1], task.n_classes,
                    tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_a_stacked_classifier_and_regressor(tmp_path: Path) -> None:
    lgbm, first, features, task = _fitted(cancer_frame(), "diagnosis", "lightgbm")
    linear, second, _, _ = _fitted(cancer_frame(), "diagnosis", "linear")
    stacker = Stacker("logistic", (4, 9), np.array([[0.2, -0.1], [0.5, 0.3], [-0.4, 0.1],
                                                    [0.3, 0.6]]), np.array([0.1, -0.3]))
    members = [("lightgbm", first, 2.0, 4), ("linear", second, 1.0, 9),
               ("lightgbm", first, 1.0, 4)]  # group 4 is a bag of two (equal) models
    path = export_onnx(members, features.X.shape[1], task.n_classes, tmp_path / "stack.onnx",
                       stacker)
    expected = stacker.combine([lgbm.predict(first, features), linear.predict(second, features)])
    assert np.abs(run_onnx(path, features.X) - expected).max() < 1e-4
    model, fitted, reg_features, _ = _fitted(diabetes_frame(), "progression", "linear")
    stacker = Stacker("linear", (1, 2), np.array([[0.7], [0.5]]), np.array([12.0]))
    path = export_onnx([("linear", fitted, 1.0, 1), ("linear", fitted, 1.0, 2)],
                       reg_features.X.shape[1], None, tmp_path / "stack_reg.onnx", stacker)
    native = model.predict(fitted, reg_features)
    got = run_onnx(path, reg_features.X)
    assert got.shape == (len(native),)
    assert np.abs(got - (1.2 * native + 12.0)).max() < 1e-2


def test_the_unseen_rows_guard_is_in_the_graph(tmp_path: Path) -> None:
    from accelml.core.unseen import UnseenGuard

    lgbm, fitted, features, task = _fitted(cancer_frame(), "diagnosis", "linear")
    guard = UnseenGuard(np.arange(features.X.shape[1]) % 2 == 0, np.array([0.6, 0.4]))
    X = features.X[:20].copy()
    X[:10, : X.shape[1] // 2] = np.nan  # half the columns missing on ten rows
    path = export_onnx([("linear", fitted, 1.0, None)], X.shape[1], task.n_classes,
                       tmp_path / "guarded.onnx", guard=guard)
    rows = dataclasses.replace(features, X=X)
    expected = guard.shrink(X, lgbm.predict(fitted, rows))
    assert guard.weights(X)[:10].min() > 0.1 and not guard.weights(X)[10:].any()
    assert np.abs(run_onnx(path, X) - expected).max() < 1e-4
