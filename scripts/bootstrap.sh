#!/usr/bin/env bash
# Set up hwsim in ./.venv: a virtual environment, the pinned CPU build of PyTorch, and the package.
#   bash scripts/bootstrap.sh          # runtime only
#   bash scripts/bootstrap.sh --test   # plus the test extras
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
TORCH_PIN=torch==2.13.0   # CPU build; an unpinned torch may pull a multi-GB CUDA build
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "$TORCH_PIN"
.venv/bin/python -m pip install --quiet -e ".${extras}"
echo "hwsim $(.venv/bin/hwsim --version | awk '{print $2}') is set up in .venv"
