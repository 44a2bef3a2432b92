#!/usr/bin/env bash
# The image GPU check, in two steps.
#
#   bench/gpu_check.sh prepare   # here: the CIFAR-10 subset and the wheels the GPU image lacks
#   bench/gpu_check.sh run       # on the GPU machine (carry .data and .whl), at most 10 minutes
#
# The GPU machine gets the repository alone, has PyTorch but not Optuna (AccelML's core
# needs it), and reaches no package index; so both travel in folders git ignores.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_ROOT=${DATA_ROOT:-../shared/datasets/image}
BUDGET=${BUDGET:-240}

prepare() {
    mkdir -p .git/info
    for folder in /.data/ /.whl/; do
        grep -qxF "$folder" .git/info/exclude 2>/dev/null || echo "$folder" >>.git/info/exclude
    done
    mkdir -p .data .whl
    cp -r "$DATA_ROOT/cifar10_subset" .data/
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl \
        optuna alembic colorlog sqlalchemy greenlet mako
    du -sh .data .whl
}

run() {
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH="$PWD:/tmp/site" PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    python3 bench/vision_gpu.py --budget "$BUDGET" --root .data
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
