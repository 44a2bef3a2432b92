"""The driver imports the learners' load-time libraries in the background while workers start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from accelml.core.preload import load_modules, preload


class _Boosted:
    load_modules = ("lib_b", "lib_a")


class _Sklearn:
    load_modules = ("lib_a",)


class _Plain:
    """A learner without load_modules imports everything at module level."""


def test_load_modules_are_the_learners_modules_once_each() -> None:
    assert load_modules([_Boosted(), _Sklearn(), _Plain()]) == ["lib_a", "lib_b"]  # type: ignore[list-item]


def test_preload_imports_each_module_and_a_broken_one_stops_none_of_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "preload_broken.py").write_text("raise RuntimeError('no GPU library here')\n")
    (tmp_path / "preload_fine.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("preload_broken", "preload_fine", "preload_missing"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    thread = preload(["preload_broken", "preload_missing", "preload_fine"])
    thread.join(timeout=30)
    assert not thread.is_alive() and thread.daemon
    assert sys.modules["preload_fine"].VALUE == 42
    assert "preload_broken" not in sys.modules and "preload_missing" not in sys.modules


def test_skops_is_imported_without_torch_and_still_trusts_the_estimators() -> None:
    code = ("import sys\n"
            "from accelml.tabular.learners._skops_io import TORCH_SHIM, sio\n"
            "from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES as names\n"
            "assert 'torch' not in sys.modules and TORCH_SHIM not in sys.modules\n"
            "assert 'sklearn.linear_model._logistic.LogisticRegression' in names\n"
            "assert len(names) > 100\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
