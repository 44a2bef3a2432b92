"""Shared test data: small real datasets that ship with scikit-learn, written to tiny files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine


def cancer_frame() -> pd.DataFrame:
    """Breast cancer (569 rows) with a string target and two categorical columns derived
    from real measurements, so categorical paths are exercised."""
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.iloc[:, [0, 1, 2, 3, 4, 5, 6, 7, 20, 21, 22, 27, 30]].copy()
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame["size_band"] = pd.cut(frame["mean_radius"], [0, 12, 15, 40],
                                labels=["small", "medium", "large"]).astype(str)
    frame["texture_band"] = np.where(frame["mean_texture"] > 19, "rough", "smooth")
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    return frame


def wine_frame() -> pd.DataFrame:
    """Wine (178 rows, 3 classes)."""
    frame = load_wine(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    return frame.rename(columns={"target": "cultivar"})


def diabetes_frame() -> pd.DataFrame:
    """Diabetes progression (442 rows, regression)."""
    return load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})


def split(frame: pd.DataFrame, test_rows: int = 100) -> tuple[pd.DataFrame, pd.DataFrame]:
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    return shuffled.iloc[test_rows:].reset_index(drop=True), shuffled.iloc[:test_rows]


@pytest.fixture(scope="session")
def cancer_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    train, test = split(cancer_frame())
    folder = tmp_path_factory.mktemp("cancer")
    train.to_csv(folder / "train.csv", index=False)
    test.to_parquet(folder / "test.parquet", index=False)
    return folder / "train.csv", folder / "test.parquet"


@pytest.fixture(scope="session")
def linear_cancer_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linear model of the whole breast cancer table (one trial), saved once for the tests
    that copy its directory to tamper with the copy."""
    import accelml

    out = tmp_path_factory.mktemp("linear-cancer") / "model"
    accelml.fit(cancer_frame(), "diagnosis", time_budget=30, learners=("linear",), max_trials=1,
                quiet=True, out=out)
    return out


@pytest.fixture(scope="module")
def ray_nodes() -> Iterator[Any]:
    """A real two-node Ray cluster on this machine (a head and a worker raylet, one CPU each),
    shared by one test module; skipped without Ray."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True,
                    head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        nodes.add_node(num_cpus=1)
        nodes.wait_for_nodes()
        yield nodes
    finally:
        nodes.shutdown()


def pytest_report_header() -> str:
    from tests.vision.conftest import collect_ignore

    if not collect_ignore:
        return "image tests: torch and Pillow found, every vision test runs"
    return "image tests: [vision] extra missing, not collected: " + ", ".join(collect_ignore)
