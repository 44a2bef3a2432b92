#!/usr/bin/env bash
# Install the peer AutoML systems, each in its own virtual environment under bench/.peers/
# (git-ignored), at pinned versions, for the side-by-side benchmarks in bench/.
#   bash bench/setup_peers.sh [flaml] [autogluon] [h2o]     (default: all three)
# Needs Python 3.11 and, for H2O, Java 17 on the PATH. The CPU build of torch is installed
# first where a peer needs torch, so pip does not pull a CUDA build.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")" && pwd)/.peers"
PYTHON="${PYTHON:-python3}"
TORCH="torch==2.13.0"
mkdir -p "$ROOT"

make_venv() {  # name, then pip arguments
    local name="$1"; shift
    if [ -f "$ROOT/$name/.installed" ]; then echo "$name: already installed"; return; fi
    rm -rf "${ROOT:?}/$name"
    "$PYTHON" -m venv "$ROOT/$name"
    "$ROOT/$name/bin/python" -m pip install -q --upgrade pip
    "$ROOT/$name/bin/python" -m pip install -q "$@"
    touch "$ROOT/$name/.installed"
    echo "$name: installed in $ROOT/$name"
}

systems=("$@")
[ ${#systems[@]} -eq 0 ] && systems=(flaml autogluon h2o)
for system in "${systems[@]}"; do
    case "$system" in
        flaml) make_venv flaml "flaml[automl]==2.7.0" pyarrow ;;
        autogluon) make_venv autogluon "$TORCH" \
                       "autogluon.tabular[lightgbm,catboost,xgboost,fastai]==1.6.3" pyarrow ;;
        h2o) make_venv h2o "h2o==3.46.0.12" pandas pyarrow scikit-learn ;;
        *) echo "unknown system $system (flaml, autogluon, h2o)" >&2; exit 2 ;;
    esac
done
