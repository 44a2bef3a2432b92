"""Task inference, overrides, positive class, label encoding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from accelml.core.task import TaskKind, decode_target, encode_target, infer_task
from accelml.errors import ConfigError, TargetError


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["a", "b", "a", "b"], TaskKind.BINARY),
        ([True, False, True], TaskKind.BINARY),
        (["x", "y", "z", "x"], TaskKind.MULTICLASS),
        ([1, 2, 3, 1, 2, 3], TaskKind.MULTICLASS),
        (list(range(50)), TaskKind.REGRESSION),
        ([0.5, 1.25, 3.0, 2.0], TaskKind.REGRESSION),
    ],
)
def test_kind_is_inferred_from_the_target(values: list[object], kind: TaskKind) -> None:
    assert infer_task(pd.Series(values), "y").kind is kind


def test_default_metrics_follow_the_kind() -> None:
    assert infer_task(pd.Series(["a", "b"]), "y").metric == "roc_auc"
    assert infer_task(pd.Series(["a", "b", "c"]), "y").metric == "log_loss"
    assert infer_task(pd.Series([0.1, 0.2, 0.3]), "y").metric == "rmse"


def test_overrides_win() -> None:
    task = infer_task(pd.Series([1, 2, 3, 4] * 3), "y", kind="regression", metric="mae")
    assert (task.kind, task.metric) == (TaskKind.REGRESSION, "mae")


def test_positive_class_is_named_or_guessed() -> None:
    y = pd.Series(["<=50K"] * 8 + [">50K"] * 2)
    assert infer_task(y, "income").positive_class == ">50K"
    assert infer_task(pd.Series(["no", "yes", "no"]), "y").positive_class == "yes"
    assert infer_task(pd.Series(["a", "b", "b"]), "y", positive_class="b").positive_class == "b"
    with pytest.raises(ConfigError, match="positive class 'c' is not a class"):
        infer_task(pd.Series(["a", "b"]), "y", positive_class="c")


def test_single_class_target_is_an_error() -> None:
    with pytest.raises(TargetError, match="single class"):
        infer_task(pd.Series(["a", "a", "a"]), "label")


def test_metric_must_fit_the_task() -> None:
    with pytest.raises(ConfigError, match="does not apply to a regression task"):
        infer_task(pd.Series([0.1, 0.7, 2.5]), "y", metric="roc_auc")
    with pytest.raises(ConfigError, match="unknown metric 'rmsee'.*did you mean 'rmse'"):
        infer_task(pd.Series([0.1, 0.7, 2.5]), "y", metric="rmsee")


def test_binary_request_with_three_classes_is_an_error() -> None:
    with pytest.raises(ConfigError, match="has 3 classes"):
        infer_task(pd.Series(["a", "b", "c"]), "y", kind="binary")


def test_encoding_round_trips_labels_with_their_type() -> None:
    y = pd.Series([3, 1, 2, 3])
    task = infer_task(y, "y")
    codes = encode_target(y, task)
    assert codes.tolist() == [2, 0, 1, 2]
    decoded = decode_target(codes, task)
    assert decoded.tolist() == [3, 1, 2, 3]
    assert np.issubdtype(decoded.dtype, np.integer)
    with pytest.raises(TargetError, match="not one of the classes"):
        encode_target(pd.Series([4]), task)
