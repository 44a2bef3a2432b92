"""Plain-array model files: dense and sparse arrays come back as they went in; a damaged or
missing file is an ArtifactError that names what the directory should hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from accelml.core.arrays import load_arrays, save_arrays
from accelml.errors import ArtifactError


def test_dense_and_sparse_arrays_and_info_round_trip(tmp_path: Path) -> None:
    matrix = sparse.random(5, 7, density=0.3, format="csc", random_state=0)
    dense = np.arange(6, dtype=np.float32).reshape(2, 3)
    files = save_arrays(tmp_path, {"m": matrix, "d": dense},
                        {"learner": "x", "alpha": np.float64(0.5)})
    arrays, info = load_arrays(tmp_path)
    assert sorted(p.name for p in files) == ["arrays.npz", "info.json"]
    assert sparse.issparse(arrays["m"]) and arrays["m"].shape == (5, 7)
    np.testing.assert_array_equal(arrays["m"].toarray(), matrix.toarray())
    np.testing.assert_array_equal(arrays["d"], dense)
    assert arrays["d"].dtype == np.float32
    assert info == {"learner": "x", "alpha": 0.5}


def test_a_damaged_array_file_is_an_artifact_error(tmp_path: Path) -> None:
    save_arrays(tmp_path, {"d": np.ones(3)}, {})
    (tmp_path / "arrays.npz").write_bytes(b"not an archive")
    with pytest.raises(ArtifactError, match="is not a saved forecasting model"):
        load_arrays(tmp_path, "forecasting model")
    assert (tmp_path / "info.json").exists()


def test_a_directory_without_the_files_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="is not a saved model"):
        load_arrays(tmp_path)
