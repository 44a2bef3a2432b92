"""Small fitted models the explanation and report tests share: fitted once per session on
scikit-learn's breast cancer and diabetes data (a blend of LightGBM and a linear model)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import accelml
from tests.conftest import cancer_frame, diabetes_frame, split


@dataclass(frozen=True)
class FittedCase:
    """A saved model directory and the rows it was trained and can be tested on."""

    model_dir: Path
    train: pd.DataFrame
    test: pd.DataFrame
    target: str


def _fit(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame, target: str,
         name: str) -> FittedCase:
    train, test = split(frame)
    out = tmp_path_factory.mktemp(name) / "model"
    accelml.fit(train, target, time_budget=60, learners=["lightgbm", "linear"], max_trials=4,
                seed=0, cv_repeats=1, deterministic=True, out=out, quiet=True)
    # (the same trials on every machine, one k-fold: the cancer case's blend is then
    # stacked, which the stacked-model explanation test needs)
    return FittedCase(out, train, test.reset_index(drop=True), target)


@pytest.fixture(scope="session")
def cancer_case(tmp_path_factory: pytest.TempPathFactory) -> FittedCase:
    """Binary classification (string labels, two categorical columns)."""
    return _fit(tmp_path_factory, cancer_frame(), "diagnosis", "cancer_explain")


@pytest.fixture(scope="session")
def diabetes_case(tmp_path_factory: pytest.TempPathFactory) -> FittedCase:
    """Regression."""
    return _fit(tmp_path_factory, diabetes_frame(), "progression", "diabetes_explain")
