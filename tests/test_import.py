"""``import accelml`` stays light: no torch, no ray, not even the learners."""

from __future__ import annotations

import subprocess
import sys


def test_import_loads_neither_torch_nor_ray() -> None:
    code = ("import sys, accelml; accelml.fit; "
            "bad = [m for m in ('torch', 'ray') if m in sys.modules]; print(bad)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.strip() == "[]"


def test_public_names() -> None:
    import accelml

    for name in accelml.__all__:
        assert getattr(accelml, name) is not None
