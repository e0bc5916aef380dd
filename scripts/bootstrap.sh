#!/usr/bin/env bash
# Set up hwsim in ./.venv: a virtual environment, the pinned CPU build of PyTorch, and the package.
#   bash scripts/bootstrap.sh          # runtime only
#   bash scripts/bootstrap.sh --test   # plus the test extras and the HDL simulators (below)
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
# The HDL tools the RTL export and the RTL-in-the-loop converter are tested with (Debian packages):
# Icarus Verilog, Verilator (with the C++ compiler and make it builds with) and GHDL. Installed with
# --test when missing, as root or through password-less sudo; otherwise the HDL tests skip with a reason
# (and fail where HWSIM_REQUIRE_HDL=1, as in CI).
HDL_PACKAGES=(iverilog verilator ghdl g++ make)
if [ -n "$extras" ]; then
    missing=()
    for tool in iverilog verilator ghdl g++ make; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
    if [ ${#missing[@]} -gt 0 ]; then
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${HDL_PACKAGES[@]}" >/dev/null
        elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${HDL_PACKAGES[@]}" >/dev/null
        else
            echo "note: ${missing[*]} missing; the HDL tests will skip. Install them with:" \
                 "apt-get install -y ${HDL_PACKAGES[*]}"
        fi
    fi
fi
echo "hwsim $(.venv/bin/hwsim --version | awk '{print $2}') is set up in .venv"
