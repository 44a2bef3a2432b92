"""Loaded by the workers' forkserver only (it is the first of its preload modules): when the
forkserver ends, which it does once its driver is gone, it leaves nothing behind and no time.

* A driver killed with SIGKILL cannot remove its multiprocessing temp folder (``pymp-*`` in
  the temp directory, holding the forkserver's socket). The forkserver removes it when its
  driver is gone (it has been re-parented).
* A forkserver that preloaded the learner libraries spent seconds (over ten on a busy
  machine) tearing them down after the command had returned. Its exit handlers run, then it
  ends at once with ``os._exit``: it holds no state worth finalising.
"""

from __future__ import annotations

import atexit
import os
import shutil
from pathlib import Path

#: The driver that started this forkserver.
_DRIVER_PID = os.getppid()


def _leave() -> None:
    from multiprocessing import forkserver

    address = getattr(forkserver._forkserver, "_forkserver_address", None)
    if isinstance(address, str) and os.getppid() != _DRIVER_PID:  # the driver is gone
        folder = Path(address).parent
        if folder.name.startswith("pymp-"):
            shutil.rmtree(folder, ignore_errors=True)
    os._exit(0)


atexit.register(_leave)
