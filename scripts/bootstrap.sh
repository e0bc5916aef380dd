#!/usr/bin/env bash
# Set up hwsim in ./.venv: a virtual environment, the pinned CPU build of PyTorch, and the package.
#   bash scripts/bootstrap.sh          # runtime only
#   bash scripts/bootstrap.sh --test   # plus the test extras
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
# PyTorch's CPU-only build, pinned: on Linux the default index would resolve the multi-GB CUDA
# build, so take torch==2.13.0+cpu from PyTorch's CPU wheel index (a local wheel folder that pip
# is configured to use serves the same file); macOS and Windows wheels on PyPI are CPU builds.
TORCH_INDEX=https://download.pytorch.org/whl/cpu
if [ "$(uname -s)" = "Linux" ]; then
    TORCH_ARGS=(--extra-index-url "$TORCH_INDEX" "torch==2.13.0+cpu")
else
    TORCH_ARGS=("torch==2.13.0")
fi
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "${TORCH_ARGS[@]}"
.venv/bin/python -m pip install --quiet -e ".${extras}"
echo "hwsim $(.venv/bin/hwsim --version | awk '{print $2}') is set up in .venv"
