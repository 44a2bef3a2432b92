"""The model directory: files written atomically, a manifest with the format version, library
versions and the sha256 of every file, checked again on load.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from accelml._version import __version__
from accelml.errors import ArtifactError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: The run store's folder in a model directory (see accelml.core.store): not part of the
#: model, carried over when the model is written, never hashed.
RUN_STORE = "run"
LIBRARIES = ("numpy", "pandas", "scikit-learn", "optuna", "lightgbm", "xgboost", "catboost",
             "skops")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a model may depend on."""
    versions = {"python": platform.python_version(), "accelml": __version__}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise ArtifactError(f"{target} exists and is a file; pass a directory path to save into")
    ours = (target / MANIFEST).exists() or (target / RUN_STORE / "run.json").exists()
    if target.is_dir() and any(target.iterdir()) and not ours:
        raise ArtifactError(
            f"{target} exists, is not empty and is not an AccelML model directory; choose "
            "another output directory (nothing was written)")


def write_model_dir(target: Path, write: Callable[[Path], dict[str, Any]]) -> Path:
    """Write a model directory atomically.

    ``write(staging_dir)`` writes the model files and returns manifest fields; the manifest
    with every file's sha256 is added, then the staging directory replaces ``target``. On any
    error nothing is left behind and an existing model at ``target`` is untouched.
    """
    target = Path(target)
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.saving-", dir=target.parent))
    try:
        fields = write(staging)
        files = {
            path.relative_to(staging).as_posix(): sha256_file(path)
            for path in sorted(staging.rglob("*")) if path.is_file()
        }
        manifest = {
            "format_version": FORMAT_VERSION,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "libraries": library_versions(),
            **fields,
            "files": files,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=json_default))
        _replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _replace(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.rename(target)
        return
    if (target / RUN_STORE).is_dir():  # the run's history stays with its model
        (target / RUN_STORE).rename(staging / RUN_STORE)
    old = target.with_name(f".{target.name}.old-{time.monotonic_ns()}")
    target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def json_default(value: Any) -> Any:
    """For json.dumps: NumPy scalars as Python numbers, anything else as its text."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def read_manifest(directory: Path) -> dict[str, Any]:
    """Load and verify a model directory's manifest; raise ArtifactError on any problem."""
    directory = Path(directory)
    if not directory.exists():
        raise ArtifactError(f"model directory {directory} does not exist; pass the --out "
                            "directory of `accelml fit`")
    path = directory / MANIFEST
    if not directory.is_dir() or not path.is_file():
        raise ArtifactError(f"{directory} is not an AccelML model directory (no {MANIFEST}); "
                            "pass the --out directory of `accelml fit`")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
        version = int(manifest["format_version"])
    except (ValueError, KeyError, TypeError) as error:
        raise ArtifactError(f"{path} is unreadable or incomplete ({error}); the model "
                            "directory is damaged: save or train it again") from None
    if version > FORMAT_VERSION:
        raise ArtifactError(
            f"{directory} was saved by a newer AccelML (model format {version}; this AccelML "
            f"{__version__} reads up to {FORMAT_VERSION}): upgrade accelml to load it")
    _verify_files(directory, manifest.get("files", {}))
    return manifest


def _verify_files(directory: Path, files: dict[str, str]) -> None:
    for name, expected in files.items():
        path = directory / name
        if not path.is_file():
            raise ArtifactError(f"{directory}: file {name!r} listed in the manifest is missing; "
                                "the model directory is incomplete: save or train it again")
        if sha256_file(path) != expected:
            raise ArtifactError(
                f"{directory}: file {name!r} was changed after the model was saved (sha256 "
                "mismatch); refusing to load it: restore the original or train again")
