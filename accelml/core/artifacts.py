"""The model directory: files written atomically, a manifest with the format version, library
versions and the sha256 of every file, checked again on load.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path, PurePosixPath
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
    if target.is_dir() and any(target.iterdir()):
        foreign = foreign_entries(target)
        if foreign:
            raise ArtifactError(
                f"{target} holds files AccelML did not write ({', '.join(foreign[:3])}); "
                "AccelML never replaces them: choose another output directory (nothing was "
                "written)")


def foreign_entries(directory: Path) -> list[str]:
    """The entries of ``directory`` that AccelML did not write, sorted; empty for one of its
    model directories (its manifest, the files that lists, the run store) or an empty folder.

    A folder without a readable manifest holds AccelML's files only when it holds nothing but
    a run store (a run that has not saved yet).
    """
    ours = {MANIFEST}
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        listed = manifest.get("files", {}) if isinstance(manifest, dict) else {}
    except (OSError, ValueError):
        listed = {}
    for name in listed if isinstance(listed, dict) else ():
        parts = PurePosixPath(str(name)).parts
        ours.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    run_store = (directory / RUN_STORE / "run.json").is_file()
    foreign = []
    for path in sorted(directory.rglob("*")):  # "**" does not descend into linked folders
        name = path.relative_to(directory).as_posix()
        if name.split("/")[0] == RUN_STORE and run_store:
            continue
        if path.is_symlink() or name not in ours:
            foreign.append(name)
    return [name for name in foreign if PurePosixPath(name).parent.as_posix() not in foreign]


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


def update_run_record(directory: Path, values: Mapping[str, Any]) -> None:
    """Add ``values`` to the saved manifest's ``run`` record, atomically: facts known only
    once the model directory is written (the run's wall time, saving included)."""
    path = Path(directory) / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.setdefault("run", {}).update(values)
    staging = path.with_name(f".{MANIFEST}.{time.monotonic_ns()}")
    staging.write_text(json.dumps(manifest, indent=2, default=json_default))
    staging.replace(path)


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
    _check_shape(manifest, path)
    _refuse_links(directory)
    _verify_files(directory, manifest["files"])
    return manifest


def _damaged(path: Path, problem: str) -> ArtifactError:
    return ArtifactError(f"{path} is malformed ({problem}); the model directory is damaged or "
                         "was edited: save or train it again")


def _check_shape(manifest: dict[str, Any], path: Path) -> None:
    """The fields loading reads have the types it expects, and every path in them stays
    inside the directory; checked before any file the manifest names is opened."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
            isinstance(name, str) and isinstance(digest, str) for name, digest in files.items()):
        raise _damaged(path, "'files' must map relative paths to sha256 digests")
    for name in files:
        check_inside(name, path)
    members = manifest.get("members", [])
    if not isinstance(members, list):
        raise _damaged(path, "'members' must be a list")
    for index, member in enumerate(members):
        if not (isinstance(member, dict) and isinstance(member.get("learner"), str)
                and isinstance(member.get("dir"), str)
                and isinstance(member.get("config", {}), dict)
                and isinstance(member.get("weight"), int | float)
                and not isinstance(member.get("weight"), bool)):
            raise _damaged(path, f"member {index} needs a learner name, a dir, a config and "
                           "a numeric weight")
        check_inside(member["dir"], path)
    for key in ("task", "run"):
        if manifest.get(key) is not None and not isinstance(manifest[key], dict):
            raise _damaged(path, f"{key!r} must be an object")
    if not isinstance(manifest.get("schema"), list | dict | None):
        raise _damaged(path, "'schema' must be a list of columns or an object")


def check_inside(name: str, manifest_path: Path) -> None:
    """Refuse a manifest path that is absolute, climbs out (``..``) or is not normalised: the
    model directory may only name its own files."""
    pure = PurePosixPath(name)
    normal = pure.as_posix() == name and "\\" not in name and name not in ("", ".")
    if pure.is_absolute() or ".." in pure.parts or "." in name.split("/") or not normal:
        raise ArtifactError(f"{manifest_path} names the path {name!r}, which is not a plain "
                            "relative path inside the model directory; refusing to load it")


def _refuse_links(directory: Path) -> None:
    """A symbolic link inside a model directory could point anywhere; none is followed."""
    for root, folders, names in os.walk(directory):
        for name in [*folders, *names]:
            if os.path.islink(os.path.join(root, name)):
                link = Path(root, name).relative_to(directory).as_posix()
                raise ArtifactError(f"{directory}: {link!r} is a symbolic link; model "
                                    "directories hold plain files only: copy the file in "
                                    "place of the link")
        folders[:] = [f for f in folders if not (root == str(directory) and f == RUN_STORE)]


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
