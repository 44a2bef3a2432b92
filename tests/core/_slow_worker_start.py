"""Imported by a test's trial workers: 4 s of start-up, as a first import of torch can take on
a busy machine. The forkserver's preload skips it (an ImportError there), so every worker pays."""

import time
from multiprocessing import current_process

if current_process().name == "MainProcess":
    raise ImportError("a worker-only module")
time.sleep(4.0)
