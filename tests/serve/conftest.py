"""A small model of every column kind, trained once for the serving tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")

import accelml  # noqa: E402
from tests.conftest import cancer_frame, diabetes_frame  # noqa: E402


def mixed_frame() -> pd.DataFrame:
    """Breast cancer plus a boolean, a date and a free-text column."""
    frame = cancer_frame()
    rows = np.arange(len(frame))
    frame["screened"] = frame["mean_area"] > 600
    frame["visit"] = (pd.Timestamp("2020-01-01") + pd.to_timedelta(rows * 3, unit="D")
                      ).strftime("%Y-%m-%d")
    frame["remark"] = [f"note {i % 211} about a {band} lump" for i, band in
                       zip(rows, frame["size_band"], strict=True)]
    return frame


@pytest.fixture(scope="session")
def served_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("served") / "model"
    accelml.fit(mixed_frame().iloc[100:], "diagnosis", time_budget=6, learners=("lightgbm",),
                quiet=True, out=out)
    return out


@pytest.fixture(scope="session")
def linear_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linear regressor (diabetes): where a huge or infinite input used to overflow."""
    out = tmp_path_factory.mktemp("served_linear") / "model"
    accelml.fit(diabetes_frame(), "progression", time_budget=60, learners=("linear",),
                max_trials=1, quiet=True, out=out)
    return out


def request_rows(n: int, start: int = 0) -> list[dict]:
    """Test rows as a JSON client sends them (no target)."""
    frame = mixed_frame().iloc[start:start + n].drop(columns=["diagnosis"])
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in frame.to_dict("records")]
