"""Nothing is left behind: a driver killed with SIGKILL leaves no multiprocessing temp folder
(socket included), and no worker or forkserver outlives its driver for long."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DRIVER = """
import multiprocessing.util, sys, time
from pathlib import Path
from accelml.core.executor import LocalExecutor

executor = LocalExecutor(Path(sys.argv[1]), 2, ("accelml.testing.fake_learners",))
executor.warm_up()
print(multiprocessing.util.get_temp_dir(), flush=True)
print(" ".join(str(slot.process.pid) for slot in executor._idle), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0


def _wait_until(condition: object, timeout_s: float = 60.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_a_killed_driver_leaves_no_temp_folder_and_no_worker(view_dir: Path,
                                                              tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(view_dir)], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert driver.stdout is not None
        temp_dir = Path(driver.stdout.readline().strip())
        workers = [int(pid) for pid in driver.stdout.readline().split()]
        assert temp_dir.parent == tmp_path and temp_dir.name.startswith("pymp-")
        assert temp_dir.is_dir() and workers
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    assert _wait_until(lambda: not any(_alive(pid) for pid in workers)), "a worker lives on"
    assert _wait_until(lambda: not temp_dir.exists()), f"{temp_dir} was left behind"
    assert not list(tmp_path.glob("pymp-*"))
