"""Output paths checked before any work starts.

A run that spends its whole budget and then finds it cannot write its model, or that writes
into a folder of the user's and replaces it, loses work. Every command checks where it will
write first: a model directory must be new, empty, or an earlier AccelML model the user asked
to replace; a file must go into a folder that exists (or can be made) and can be written.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from accelml.core.artifacts import MANIFEST, RUN_STORE, foreign_entries
from accelml.errors import ConfigError

#: Shown for a folder AccelML did not make.
_NOT_OURS = ("exists, is not empty and was not made by AccelML; AccelML never replaces such a "
             "folder: choose a new or empty output directory (nothing was written)")


def is_model_dir(directory: Path) -> bool:
    """True when ``directory`` holds a readable AccelML manifest."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "format_version" in manifest


def _holds_run_store_only(directory: Path) -> bool:
    """True for a folder holding nothing but an AccelML run store (a run that saved nothing)."""
    entries = [entry.name for entry in directory.iterdir()]
    return entries == [RUN_STORE] and (directory / RUN_STORE / "run.json").is_file()


def check_model_output(directory: str | Path, overwrite: bool = False) -> None:
    """Refuse an output directory that a run could not write, or must not replace.

    Args:
        directory: where the model will be saved.
        overwrite: replace an earlier AccelML model there (``--overwrite``); files AccelML did
            not write are never deleted, with or without it.

    Raises:
        ConfigError: the path is a file, a folder of someone else's, an earlier model without
            ``overwrite``, or a place that cannot be written.
    """
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"output directory {target} exists and is a file; pass a directory "
                          "path for the model (nothing was written)")
    if target.is_dir() and _non_empty(target):
        _check_replaceable(target, overwrite)
    check_writable(target)


def _non_empty(directory: Path) -> bool:
    try:
        return any(directory.iterdir())
    except OSError as error:
        raise ConfigError(f"cannot read output directory {directory} ({error.strerror}); "
                          "choose a folder you can write to") from None


def _check_replaceable(target: Path, overwrite: bool) -> None:
    if _holds_run_store_only(target):
        return  # a run that saved nothing left it; its store is replaced by the new run
    if not is_model_dir(target):
        raise ConfigError(f"output directory {target} {_NOT_OURS}")
    if not overwrite:
        raise ConfigError(f"output directory {target} holds an AccelML model already; pass "
                          "--overwrite (overwrite=True in Python) to replace it, or choose "
                          "another --out")
    foreign = foreign_entries(target)
    if foreign:
        raise ConfigError(f"output directory {target} holds an AccelML model and files it did "
                          f"not write ({', '.join(foreign[:3])}); move them out or choose "
                          "another --out (nothing was written)")


def check_writable(path: Path, folder: Path | None = None) -> None:
    """Refuse ``path`` when the nearest existing folder of ``folder`` (``path`` itself by
    default) cannot take a new file.

    The check writes and removes a temporary file there: permissions alone do not tell (root
    may write anywhere but /proc, a read-only mount refuses everyone).
    """
    parent = _nearest_existing(path if folder is None else folder)
    if not parent.is_dir():
        raise ConfigError(f"cannot write {path}: {parent} is a file, not a folder; choose "
                          "another path")
    try:
        handle, name = tempfile.mkstemp(prefix=".accelml-write-check-", dir=parent)
        os.close(handle)
        os.unlink(name)
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {parent} is not writable ({error.strerror}); "
                          "choose a folder you can write to (nothing was written)") from None


def _nearest_existing(path: Path) -> Path:
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def check_output_file(path: str | Path) -> None:
    """Refuse an output file path that is a folder, or whose folder cannot be written.

    Raises:
        ConfigError: naming the path and what to pass instead.
    """
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"output {target} is a folder; pass a file path, e.g. "
                          f"{target / 'predictions.csv'}")
    check_writable(target, target.parent)
