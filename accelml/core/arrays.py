"""Plain-array model files: named dense or sparse arrays in one .npz and the model's facts as
JSON, so that loading a model runs no pickle. Recommendation and forecasting learners save
their models this way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from accelml.errors import ArtifactError

ARRAYS_FILE = "arrays.npz"
INFO_FILE = "info.json"


def save_arrays(directory: Path, arrays: dict[str, Any], info: dict[str, Any]) -> list[Path]:
    """Write the arrays (sparse ones as their CSR parts) into one .npz and ``info`` as JSON;
    return the two files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    flat: dict[str, Any] = {}  # np.savez types its keyword arrays loosely
    kinds: dict[str, str] = {}
    for name, value in arrays.items():
        if sparse.issparse(value):
            csr = value.tocsr()
            flat.update({f"{name}.data": csr.data, f"{name}.indices": csr.indices,
                         f"{name}.indptr": csr.indptr,
                         f"{name}.shape": np.asarray(csr.shape, dtype=np.int64)})
            kinds[name] = "csr"
        else:
            flat[name] = np.asarray(value)
            kinds[name] = "dense"
    with (directory / ARRAYS_FILE).open("wb") as handle:
        np.savez(handle, **flat)
    (directory / INFO_FILE).write_text(json.dumps({"info": info, "arrays": kinds},
                                                  default=float))
    return [directory / ARRAYS_FILE, directory / INFO_FILE]


def load_arrays(directory: Path, what: str = "model") -> tuple[dict[str, Any], dict[str, Any]]:
    """Read what :func:`save_arrays` wrote: (arrays, info). A missing or damaged file raises
    :class:`ArtifactError` naming ``what`` the directory should have held."""
    directory = Path(directory)
    try:
        state = json.loads((directory / INFO_FILE).read_text())
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as data:
            arrays: dict[str, Any] = {}
            for name, kind in state["arrays"].items():
                if kind == "csr":
                    shape = tuple(int(v) for v in data[f"{name}.shape"])
                    arrays[name] = sparse.csr_matrix(
                        (data[f"{name}.data"], data[f"{name}.indices"], data[f"{name}.indptr"]),
                        shape=shape)
                else:
                    arrays[name] = data[name]
        info = state["info"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ArtifactError(f"{directory} is not a saved {what} ({error})") from None
    return arrays, info
