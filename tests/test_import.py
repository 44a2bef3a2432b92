"""``import accelml`` stays light: no torch, no ray, not even the learners; and
``pip install accelml`` brings no GPU build."""

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


#: Distributions that are, or on Linux pull in, a CUDA build.
GPU_BUILDS = frozenset({"xgboost", "torch", "tensorflow", "jax", "jaxlib"})


def _core_requirements(platform: str) -> set[str]:
    """The distributions a plain ``pip install accelml`` asks for on ``platform`` (x86_64)."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    environment = {"sys_platform": platform, "platform_machine": "x86_64", "extra": "",
                   "platform_system": {"linux": "Linux", "win32": "Windows",
                                       "darwin": "Darwin"}[platform]}
    names: set[str] = set()
    for line in requires("accelml") or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            names.add(canonicalize_name(requirement.name))
    return names


def test_core_install_pulls_no_gpu_build() -> None:
    """The core runs every tabular learner on a CPU and brings no CUDA: XGBoost comes as
    xgboost-cpu where that build exists (Linux, Windows; macOS's xgboost has no CUDA), and
    XGBoost's CUDA build with NCCL (about 0.7 GB), torch and other GPU libraries come only
    with extras (``[gpu]``, ``[nn]``, ``[vision]``...)."""
    for platform in ("linux", "win32", "darwin"):
        core = _core_requirements(platform)
        xgboost = "xgboost" if platform == "darwin" else "xgboost-cpu"
        gpu = sorted(name for name in core - {xgboost}
                     if name in GPU_BUILDS or name.startswith(("nvidia-", "cupy", "cuda-")))
        assert not gpu, f"the core install asks for GPU builds on {platform}: {gpu}"
        assert {xgboost, "lightgbm", "catboost"} <= core, platform
