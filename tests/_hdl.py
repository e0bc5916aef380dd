"""The one rule for tests that need an HDL simulator: skip when it is missing (naming the Debian package),
fail instead when ``HWSIM_REQUIRE_HDL=1`` (CI installs the simulators, so a missing one there is a bug)."""

from __future__ import annotations

import os
import shutil

import pytest

#: Debian package of each HDL tool.
PACKAGES = {"iverilog": "iverilog", "vvp": "iverilog", "verilator": "verilator", "ghdl": "ghdl", "g++": "g++"}


def need_tool(*tools: str) -> None:
    """Skip the calling test unless every tool in ``tools`` is on the PATH (fail under HWSIM_REQUIRE_HDL=1)."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    pkgs = sorted({PACKAGES.get(t, t) for t in missing})
    reason = (f"{', '.join(missing)} not installed (apt-get install -y {' '.join(pkgs)}; "
              "scripts/bootstrap.sh --test installs the HDL simulators)")
    if os.environ.get("HWSIM_REQUIRE_HDL") == "1":
        pytest.fail(f"HWSIM_REQUIRE_HDL=1 but {reason}")
    pytest.skip(reason)
