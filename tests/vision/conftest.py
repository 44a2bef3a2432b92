"""Image tests need the [vision] extra: PyTorch to train networks, Pillow to read files.
Without them those tests are not collected, and the header of the test run says so."""

from __future__ import annotations

import importlib.util

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_PILLOW = importlib.util.find_spec("PIL") is not None
NEEDS_TORCH = ["test_cnn.py", "test_transfer.py", "test_export.py", "test_run.py",
               "test_constraints.py", "test_proxy.py"]
NEEDS_PILLOW = ["test_data.py", "test_preprocess.py", "test_run.py"]

collect_ignore = sorted({*([] if HAS_TORCH else NEEDS_TORCH),
                         *([] if HAS_PILLOW else NEEDS_PILLOW)})
