#!/usr/bin/env bash
# Set up hwsim in ./.venv: a virtual environment, the pinned CPU build of PyTorch, and the package.
#   bash scripts/bootstrap.sh          # runtime only
#   bash scripts/bootstrap.sh --test   # plus the test extras and the HDL simulators (below)
#   bash scripts/bootstrap.sh --docs   # plus the documentation extras and Chromium (the site's browser check)
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
case "${1:-}" in
    "") ;;
    --test) extras="[test]" ;;
    --docs) extras="[docs]" ;;
    *) echo "bootstrap.sh: unknown option '$1' (allowed: --test, --docs, or none)" >&2; exit 2 ;;
esac
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "${TORCH_ARGS[@]}"
.venv/bin/python -m pip install --quiet -e ".${extras}"
# Debian packages that a set-up needs: installed when a command is missing, as root or through password-less
# sudo; otherwise a note says how (the tests that need them skip with a reason, and fail where
# HWSIM_REQUIRE_HDL=1, as in CI).
apt_install() {  # apt_install "what they are for" package... -- command...
    local why=$1; shift
    local packages=() commands=() missing=()
    while [ "$1" != "--" ]; do packages+=("$1"); shift; done; shift
    commands=("$@")
    for tool in "${commands[@]}"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
    elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
    else
        echo "note: ${missing[*]} missing ($why). Install them with: apt-get install -y ${packages[*]}"
    fi
}
# The HDL tools the RTL export and the RTL-in-the-loop converter are tested with: Icarus Verilog, Verilator
# (with the C++ compiler and make it builds with) and GHDL.
if [ "$extras" = "[test]" ]; then
    apt_install "the HDL tests will skip" iverilog verilator ghdl g++ make -- iverilog verilator ghdl g++ make
fi
# The documentation's browser check (scripts/check_site.py) opens the built site in headless Chromium.
if [ "$extras" = "[docs]" ]; then
    apt_install "scripts/check_site.py cannot run" chromium chromium-driver -- chromium chromedriver
fi
echo "hwsim $(.venv/bin/hwsim --version | awk '{print $2}') is set up in .venv"
