"""Run exported RTL in the HDL simulators: Icarus Verilog, Verilator and GHDL.

Each runner copies the given files into a fresh temporary folder, builds and runs the testbench
there (its vector files are read from that folder) and returns a :class:`SimResult`: the
simulator's exit status, the whole log, and ``passed``, which needs all three of exit status 0, a
``PASS`` line and no ``MISMATCH`` line. A simulator that is not installed raises
:class:`SimulatorMissing`, whose message names the Debian package
(``apt-get install -y iverilog verilator ghdl``).

- :func:`run_icarus`: ``iverilog -g2005`` then ``vvp -n`` (Icarus 11 exits with status 1 after ``$fatal``);
- :func:`run_verilator` (or :func:`build_verilator` once, then :meth:`VerilatorBuild.run` per vector set):
  ``verilator --binary`` (``--main --exe --build --timing``), then the binary
  (a ``$fatal`` aborts it with a non-zero status);
- :func:`run_ghdl`: ``ghdl -a --std=08`` of each file in order, ``ghdl -e`` and ``ghdl -r`` of the top
  (``severity failure`` exits non-zero);
- :func:`lint_verilator`: ``verilator --lint-only -Wall`` of one module (a file named after the module,
  so Verilator's file-name rule holds); ``clean`` means status 0 and no warning at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Debian package of each simulator command.
PACKAGES = {"iverilog": "iverilog", "vvp": "iverilog", "verilator": "verilator", "ghdl": "ghdl"}

#: Seconds a build or a run may take.
DEFAULT_TIMEOUT = 300.0


class SimulatorMissing(RuntimeError):
    """An HDL simulator's command is not installed (the message names its Debian package)."""


@dataclass(frozen=True)
class SimResult:
    """Outcome of one testbench run.

    Attributes
    ----------
    simulator : str
        ``"icarus"``, ``"verilator"`` or ``"ghdl"``.
    passed : bool
        Status 0, a ``PASS`` line and no ``MISMATCH`` line.
    returncode : int
        Exit status of the last command that ran (the build's, when the build failed).
    log : str
        Everything the commands printed.
    stage : str
        ``"build"`` or ``"run"``: where it ended.
    """

    simulator: str
    passed: bool
    returncode: int
    log: str
    stage: str

    def __bool__(self) -> bool:
        return self.passed


def have(tool: str) -> bool:
    """Whether ``tool`` is on the PATH."""
    return shutil.which(tool) is not None


def require(tool: str) -> str:
    """The path of ``tool``; :class:`SimulatorMissing` naming its Debian package when it is not installed."""
    path = shutil.which(tool)
    if path is None:
        pkg = PACKAGES.get(tool, tool)
        raise SimulatorMissing(f"{tool} is not installed: install the Debian package {pkg} "
                               f"(apt-get install -y iverilog verilator ghdl installs all three HDL simulators)")
    return path


def _stage(files, folder: Path) -> list[str]:
    names = []
    for f in files:
        if isinstance(f, tuple):          # (name, text)
            name, text = f
            (folder / name).write_text(text)
        else:
            name = Path(f).name
            shutil.copyfile(f, folder / name)
        names.append(name)
    return names


def _run(cmd, cwd, timeout) -> tuple[int, str]:
    env = dict(os.environ)
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        return 124, f"$ {' '.join(cmd)}\ntimed out after {timeout} s\n{exc.stdout or ''}{exc.stderr or ''}"
    return p.returncode, f"$ {' '.join(cmd)}\n{p.stdout}{p.stderr}"


def _verdict(name, rc, log, stage, output: str = "") -> SimResult:
    """``output`` is what the simulation itself printed (the verdict reads only that)."""
    passed = rc == 0 and stage == "run" and "PASS " in output and "MISMATCH" not in output
    return SimResult(name, passed, rc, log, stage)


def _inputs(files, data_files):
    return list(files) + list(data_files or ())


def run_icarus(files, top: str, data_files=(), *, timeout: float = DEFAULT_TIMEOUT) -> SimResult:
    """Build ``files`` (Verilog sources: paths or ``(name, text)`` pairs) with ``iverilog -g2005``, top module
    ``top``, and run it with ``vvp -n`` in a temporary folder holding ``data_files`` (vector files)."""
    iverilog, vvp = require("iverilog"), require("vvp")
    with tempfile.TemporaryDirectory(prefix="hwsim_icarus_") as tmp:
        names = _stage(_inputs(files, data_files), Path(tmp))[:len(list(files))]
        rc, log = _run([iverilog, "-g2005", "-Wall", "-s", top, "-o", "sim.vvp", *names], tmp, timeout)
        if rc:
            return _verdict("icarus", rc, log, "build")
        rc, log2 = _run([vvp, "-n", "sim.vvp"], tmp, timeout)
        return _verdict("icarus", rc, log + log2, "run", log2.split("\n", 1)[-1])


class VerilatorBuild:
    """A Verilator binary built once (:func:`build_verilator`) and run as often as wanted with different data
    files (the testbench reads its vectors when it runs, so changed vectors need no new build).

    Call :meth:`close` (or use it as a context manager) to remove its folder.
    """

    def __init__(self, folder: tempfile.TemporaryDirectory, binary: Path | None, log: str, returncode: int):
        self._folder, self.binary, self.log, self.returncode = folder, binary, log, returncode

    @property
    def ok(self) -> bool:
        """Whether the build succeeded."""
        return self.binary is not None

    def run(self, data_files=(), *, timeout: float = DEFAULT_TIMEOUT) -> SimResult:
        """Run the binary in a fresh folder holding ``data_files`` (paths or ``(name, text)`` pairs)."""
        if self.binary is None:
            return _verdict("verilator", self.returncode, self.log, "build")
        with tempfile.TemporaryDirectory(prefix="hwsim_verilator_run_") as tmp:
            _stage(list(data_files), Path(tmp))
            rc, log = _run([str(self.binary)], tmp, timeout)
        return _verdict("verilator", rc, self.log + log, "run", log.split("\n", 1)[-1])

    def close(self) -> None:
        """Remove the build folder."""
        self._folder.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def build_verilator(files, top: str, *, timeout: float = DEFAULT_TIMEOUT, optimize: str = "-O0") -> VerilatorBuild:
    """Build ``files`` (paths or ``(name, text)`` pairs) with ``verilator --binary``, top module ``top``, C++
    compiled with ``optimize``; see :class:`VerilatorBuild`."""
    verilator = require("verilator")
    folder = tempfile.TemporaryDirectory(prefix="hwsim_verilator_")
    names = _stage(list(files), Path(folder.name))
    cmd = [verilator, "--binary", "--top-module", top, "--Mdir", "obj", "-o", "sim", "-CFLAGS", optimize,
           "--build-jobs", "1", *names]
    rc, log = _run(cmd, folder.name, timeout)
    binary = Path(folder.name) / "obj" / "sim"
    return VerilatorBuild(folder, binary if rc == 0 and binary.is_file() else None, log, rc)


def run_verilator(files, top: str, data_files=(), *, timeout: float = DEFAULT_TIMEOUT,
                  optimize: str = "-O0") -> SimResult:
    """Build ``files`` with ``verilator --binary`` (top module ``top``, C++ compiled with ``optimize``) and run
    the binary in a temporary folder holding ``data_files``."""
    with build_verilator(files, top, timeout=timeout, optimize=optimize) as build:
        return build.run(data_files, timeout=timeout)


def run_ghdl(files, top: str, data_files=(), *, timeout: float = DEFAULT_TIMEOUT) -> SimResult:
    """Analyse ``files`` (VHDL-2008, in order: the design before its testbench) with ``ghdl -a --std=08``,
    elaborate and run ``top`` in a temporary folder holding ``data_files``."""
    ghdl = require("ghdl")
    with tempfile.TemporaryDirectory(prefix="hwsim_ghdl_") as tmp:
        names = _stage(_inputs(files, data_files), Path(tmp))[:len(list(files))]
        log = ""
        for name in names:
            rc, part = _run([ghdl, "-a", "--std=08", name], tmp, timeout)
            log += part
            if rc:
                return _verdict("ghdl", rc, log, "build")
        rc, part = _run([ghdl, "-e", "--std=08", top], tmp, timeout)
        log += part
        if rc:
            return _verdict("ghdl", rc, log, "build")
        rc, part = _run([ghdl, "-r", "--std=08", top], tmp, timeout)
        return _verdict("ghdl", rc, log + part, "run", part.split("\n", 1)[-1])


def lint_verilator(text: str, module: str, *, timeout: float = DEFAULT_TIMEOUT) -> tuple[bool, str]:
    """``verilator --lint-only -Wall`` of the Verilog ``text`` of ``module`` (written to ``<module>.v``):
    ``(clean, log)``, clean meaning status 0 and nothing printed."""
    verilator = require("verilator")
    with tempfile.TemporaryDirectory(prefix="hwsim_lint_") as tmp:
        (Path(tmp) / f"{module}.v").write_text(text)
        rc, log = _run([verilator, "--lint-only", "-Wall", "--top-module", module, f"{module}.v"], tmp, timeout)
    body = log.split("\n", 1)[1] if "\n" in log else ""
    return rc == 0 and not body.strip(), log


def analyse_ghdl(text: str, unit: str, *, timeout: float = DEFAULT_TIMEOUT) -> tuple[bool, str]:
    """``ghdl -a --std=08`` of the VHDL ``text`` (written to ``<unit>.vhd``): ``(clean, log)``."""
    ghdl = require("ghdl")
    with tempfile.TemporaryDirectory(prefix="hwsim_ghdl_") as tmp:
        (Path(tmp) / f"{unit}.vhd").write_text(text)
        rc, log = _run([ghdl, "-a", "--std=08", f"{unit}.vhd"], tmp, timeout)
    body = log.split("\n", 1)[1] if "\n" in log else ""
    return rc == 0 and not body.strip(), log


def lint_verilator_package(text: str, package: str, *, timeout: float = DEFAULT_TIMEOUT) -> tuple[bool, str]:
    """``verilator --lint-only -Wall -sv`` of the SystemVerilog package ``text`` (``<package>.sv``), imported by
    an empty module so that Verilator has a top: ``(clean, log)``."""
    verilator = require("verilator")
    with tempfile.TemporaryDirectory(prefix="hwsim_lint_") as tmp:
        (Path(tmp) / f"{package}.sv").write_text(text)
        (Path(tmp) / f"{package}_lint.sv").write_text(f"module {package}_lint;\n    import {package}::*;\nendmodule\n")
        rc, log = _run([verilator, "--lint-only", "-Wall", "-sv", "--top-module", f"{package}_lint", f"{package}.sv",
                        f"{package}_lint.sv"], tmp, timeout)
    body = log.split("\n", 1)[1] if "\n" in log else ""
    return rc == 0 and not body.strip(), log


__all__ = ["PACKAGES", "SimResult", "SimulatorMissing", "analyse_ghdl", "have", "lint_verilator",
           "lint_verilator_package", "require", "run_ghdl", "run_icarus", "run_verilator", "build_verilator",
           "VerilatorBuild"]
