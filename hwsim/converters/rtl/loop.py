r"""The RTL in the loop: an exported converter module run in Verilator on the Monte Carlo samples.

:func:`backend` turns an :class:`~hwsim.converters.rtl.RTLDesign` (the module
:func:`hwsim.converters.rtl.rtl_design` exports, its ``pipeline = False`` combinational form) into an
:class:`~hwsim.converters.backends.ExternalBackend`: every sample a link converts goes through the
Verilog module as a compiled HDL simulation, and the codes the module puts on its ``code`` port come
back, decoded from the module's output code to code indices. The ``rtl`` converter bank
(:class:`hwsim.converters.hardware.RTLBank`) and the ``hil`` receiver's ``converters = "rtl"`` build
their converters this way.

How the simulation starts
-------------------------
1. **Build** (:func:`build`, once per design). hwsim writes the module (``module.v``, ``d.verilog``) and a
   C++ harness it generates for that module (``harness.cpp``, :func:`harness_source`) into a private
   folder and runs ``verilator --cc --exe --build -O3 ... module.v harness.cpp -o sim``: Verilator
   translates the module to C++, and its makefile compiles the model and the harness with the system
   C++ compiler (``g++``, through ``make``) into one program, ``sim``. The folder, holding ``sim``,
   the two sources, the build log and ``manifest.json``, is renamed into the cache in one step, so a
   folder in the cache is always complete; a lock file per design makes a second process that builds
   the same design at the same time wait for the first and use its program.
2. **Cache.** The folder's name is a hash of the Verilog text, the harness text, the Verilator
   version and the build flags, under ``$HWSIM_RTL_CACHE`` if set, else ``$XDG_CACHE_HOME/hwsim/rtl``,
   else ``~/.cache/hwsim/rtl``: a design is compiled once (a few seconds) and every later simulation
   of it, in any process, starts the cached program. A flash module holds no thresholds (they are the
   comparators', outside it: the program takes them on its command line), but its text names the
   table's full scale and provenance in comments, so each table still has its own program.
3. **Run.** :func:`backend` starts ``sim`` (flash: ``sim --thresholds T1 .. T(M-1)``, the comparator
   thresholds as exact hexadecimal floats) under :class:`~hwsim.converters.backends.ExternalBackend`,
   which speaks the external backend protocol, version 2, over its stdin and stdout, with every
   check of that protocol (framing, sequence numbers, code range, time-outs, a program that dies).
   For each request the harness converts each sample as the converter's front end does and
   evaluates the Verilator model once per sample:

   - ``flash``: the comparators, in double precision: ``therm`` bit ``k-1`` is ``x >= t_k`` (the
     design's ``comparator_thresholds``), what ``d.therm(x)`` gives;
   - ``requantizer``: the sample word of ``d.input_format``: ``ldexp(x, frac)``, rounded (floor:
     ``floor``; nearest: ``floor(s + 0.5)``; convergent: ``nearbyint``) and saturated in double
     before the integer conversion. These are the operations of :meth:`hwsim.qformat.QFormat.to_int`
     in the same IEEE 754 order (``ldexp`` is exact, then one rounded addition), so the integers are
     those of ``d.sample_ints(x)`` bit for bit;

   then it reads ``code``, decodes it to the code index (offset binary, two's complement or Gray,
   :mod:`hwsim.converters.rtl.codes`) and replies with the indices. A pattern that is no code of the
   converter stops the harness with a message on its stderr, which the backend's error quotes. The
   harness exits when its input ends or its parent process goes (a watchdog thread), so it does not
   outlive the simulation that started it.

The simulator must be installed: Verilator (Debian and Ubuntu: ``apt-get install -y verilator``) with
``make`` and a C++ compiler; a missing one raises :class:`HDLSimulatorMissing` naming the package.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..._files import atomic_write_text
from ..backends import ExternalBackend
from . import codes as _codes

#: HDL simulators the loop can run (only Verilator for now).
SIMULATORS = ("verilator",)
#: What to install for each tool the loop needs (Debian / Ubuntu packages).
INSTALL = {"verilator": "apt-get install -y verilator", "make": "apt-get install -y make",
           "c++": "apt-get install -y g++"}
#: Version of the harness and cache layout (part of every cache key).
LOOP_VERSION = 1
#: Flags of the Verilator build (part of every cache key).
BUILD_FLAGS = ("--cc", "--exe", "--build", "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
               "-Wno-fatal", "-CFLAGS", "-O2", "-LDFLAGS", "-pthread")
#: Seconds a Verilator build may take.
BUILD_TIMEOUT = 900.0

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class HDLSimulatorMissing(RuntimeError):
    """The HDL simulator (or the compiler it needs) is not installed; the message names the package."""


@dataclass(frozen=True)
class Build:
    """A compiled simulation of one design.

    Attributes
    ----------
    executable : pathlib.Path
        The program (``sim``) in its cache folder.
    key : str
        The cache key (hash of the Verilog, the harness, the Verilator version and the flags).
    seconds : float
        Wall time of the build (0.0 when the program came from the cache).
    cached : bool
        Whether the program came from the cache.
    """

    executable: Path
    key: str
    seconds: float
    cached: bool


# ------------------------------------------------------------------ tools
def _missing(tool: str, what: str) -> HDLSimulatorMissing:
    return HDLSimulatorMissing(f"the RTL in the loop needs {what} ({tool!r} is not on PATH); install it, on "
                               f"Debian or Ubuntu: {INSTALL[tool]}")


def find_verilator(simulator: str = "verilator") -> str:
    """Path of the ``verilator`` program, after checking that ``make`` and a C++ compiler are there too.

    Raises :class:`HDLSimulatorMissing` naming the package to install where one is missing, and
    ValueError for a simulator other than :data:`SIMULATORS`.
    """
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, got {simulator!r}")
    exe = shutil.which("verilator")
    if exe is None:
        raise _missing("verilator", "the Verilator HDL simulator (package verilator)")
    if shutil.which("make") is None:
        raise _missing("make", "make, which Verilator's build runs (package make)")
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx.split()[0] if cxx.strip() else "g++") is None:
        raise _missing("c++", f"a C++ compiler for Verilator's build ({cxx!r}; package g++)")
    return exe


@functools.lru_cache(maxsize=4)
def verilator_version(exe: str) -> str:
    """``verilator --version`` of the program ``exe``."""
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise HDLSimulatorMissing(f"{exe} --version failed (exit status {r.returncode}): {r.stderr.strip()[:300]}; "
                                  f"reinstall Verilator ({INSTALL['verilator']})")
    return r.stdout.strip()


def cache_root() -> Path:
    """The folder that holds the compiled simulations (module text)."""
    env = os.environ.get("HWSIM_RTL_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "hwsim" / "rtl"


# ------------------------------------------------------------------ the harness
def _ctype(bits: int) -> str:
    return "uint8_t" if bits <= 8 else "uint16_t" if bits <= 16 else "uint32_t" if bits <= 32 else "uint64_t"


def _rule(d, name: str, default: str) -> str:
    value = getattr(d, name, default)
    from hwsim.qformat import OVERFLOWS, ROUNDINGS

    allowed = ROUNDINGS if name.endswith("rounding") else OVERFLOWS
    if value not in allowed:
        raise ValueError(f"the design's {name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _check_design(d) -> None:
    if getattr(d, "pipeline", False):
        raise ValueError("the RTL in the loop runs the combinational module: export it with pipeline=False")
    if not isinstance(d.name, str) or not _IDENTIFIER.fullmatch(d.name):
        raise ValueError(f"the module name must be a plain identifier (letters, digits, _), got {d.name!r}")
    if d.form not in ("flash", "requantizer"):
        raise ValueError(f"the design's form must be 'flash' or 'requantizer', got {d.form!r}")
    _codes.check_code(d.output_code)
    if d.code_bits != _codes.code_bits(d.n_levels):
        raise ValueError(f"the design's code_bits ({d.code_bits}) is not that of {d.n_levels} levels")


def harness_source(d) -> str:
    """The C++ harness (text) that runs the Verilator model of design ``d`` behind the external backend
    protocol, version 2 (module text: what it does per sample)."""
    _check_design(d)
    m, b = int(d.n_levels), int(d.code_bits)
    cls = f"V{d.name}"
    if d.form == "flash":
        width = m - 1
        if width <= 64:
            drive = ("        uint64_t t = 0;\n"
                     "        for (uint32_t k = 0; k < NT; ++k) t |= (uint64_t)(x >= TH[k]) << k;\n"
                     "        top->therm = t;\n")
        else:
            words = (width + 31) // 32
            drive = (f"        uint32_t t[{words}] = {{0}};\n"
                     "        for (uint32_t k = 0; k < NT; ++k) t[k >> 5] |= (uint32_t)(x >= TH[k]) << (k & 31);\n"
                     f"        for (int w = 0; w < {words}; ++w) top->therm[w] = t[w];\n")
        setup = ("static uint32_t NT = 0;\nstatic std::vector<double> TH;\n")
        check_level = ""
        args = ("    if (argc != (int)M + 1 || std::strcmp(argv[1], \"--thresholds\") != 0) {\n"
                "        say(\"usage: sim --thresholds T1 .. T(M-1) (the comparator thresholds)\"); return 1;\n"
                "    }\n"
                "    NT = M - 1;\n"
                "    for (int k = 2; k < argc; ++k) {\n"
                "        char* end = nullptr; errno = 0;\n"
                "        double t = std::strtod(argv[k], &end);\n"
                "        if (end == argv[k] || *end != '\\0' || errno == ERANGE || !std::isfinite(t)) {\n"
                "            say(std::string(\"bad threshold \") + argv[k]); return 1;\n"
                "        }\n"
                "        if (!TH.empty() && !(t > TH.back())) { say(\"thresholds must increase\"); return 1; }\n"
                "        TH.push_back(t);\n"
                "    }\n")
    else:
        fmt = d.input_format
        word, frac, signed = int(fmt.word), int(fmt.frac), bool(fmt.signed)
        if word > 62:
            raise ValueError(f"the RTL in the loop takes sample words of up to 62 bits, got {word}")
        rounding = _rule(d, "rounding", "nearest")
        overflow = _rule(d, "overflow", "saturate")
        if overflow == "error":
            raise ValueError("the RTL in the loop needs a sample rule that always gives a word (overflow "
                             "'saturate' or 'wrap'), got 'error'")
        lo, hi = int(fmt.lo_int), int(fmt.hi_int)
        rnd = {"floor": "std::floor(s)", "nearest": "std::floor(s + 0.5)", "convergent": "std::nearbyint(s)"}[rounding]
        if overflow == "saturate":
            fit = ("        if (r < (double)LO) r = (double)LO;\n"
                   "        if (r > (double)HI) r = (double)HI;\n"
                   "        int64_t v = (int64_t)r;\n")
        else:
            fit = ("        if (!(std::fabs(r) < 4611686018427387904.0)) {\n"
                   "            say(\"a sample beyond 2^62 LSB cannot wrap into the sample word\"); std::exit(1);\n"
                   "        }\n"
                   "        int64_t v = (int64_t)r;\n")
        mask = (1 << word) - 1
        drive = (f"        double s = std::ldexp(x, {frac});\n"
                 f"        double r = {rnd};\n"
                 f"{fit}"
                 f"        top->sample = ({_ctype(word)})((uint64_t)v & {mask}ull);\n")
        lw = int(d.level_format.word)
        if lw > 62:
            raise ValueError(f"the RTL in the loop reads level words of up to 62 bits, got {lw}")
        level_ints = ", ".join(f"{int(v)}LL" for v in np.asarray(d.level_ints, dtype=np.int64))
        setup = (f"static const int64_t LO = {lo}LL;\nstatic const int64_t HI = {hi}LL;\n"
                 f"// sample word: {word} bits, {frac} fraction bits, {'signed' if signed else 'unsigned'}; "
                 f"rounding {rounding}, overflow {overflow}\n"
                 f"static const int64_t LEVEL[{m}] = {{{level_ints}}};\n"
                 f"static int64_t level_of(uint64_t w) {{\n"
                 f"    w &= {(1 << lw) - 1}ull;\n"
                 f"    return (w >> {lw - 1}) ? (int64_t)w - (int64_t)(1ull << {lw}) : (int64_t)w;\n"
                 f"}}\n")
        check_level = ("            const int64_t lv = level_of((uint64_t)top->level);\n"
                       "            if (lv != LEVEL[c]) {\n"
                       "                say(\"the module's level port reads \" + std::to_string(lv) + \" for code \"\n"
                       "                    + std::to_string(c) + \", not the level ROM's \" + std::to_string(LEVEL[c]));\n"
                       "                return 1;\n"
                       "            }\n")
        args = ("    if (argc != 1) { say(\"usage: sim (no arguments)\"); return 1; }\n")
    if d.output_code == "offset_binary":
        decode = "    return w;\n"
    elif d.output_code == "twos_complement":
        decode = f"    return w ^ (1u << {b - 1});\n"
    else:
        decode = ("    uint32_t c = w;\n"
                  "    for (uint32_t s = 1; s < 32; s <<= 1) c ^= c >> s;\n"
                  "    return c;\n")
    return f"""// hwsim: the RTL in the loop -- harness of module {d.name} ({d.form}, {m} levels, {d.output_code})
// generated by hwsim.converters.rtl.loop (loop version {LOOP_VERSION}); speaks the external backend protocol v2.
#include "{cls}.h"
#include "verilated.h"
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <chrono>
#include <vector>
#include <unistd.h>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the protocol is little-endian");

static const uint32_t M = {m}u;
static const uint32_t B = {b}u;
{setup}
static void say(const std::string& s) {{ std::fprintf(stderr, "rtl harness ({d.name}): %s\\n", s.c_str()); }}

// n bytes from stdin; false at a clean end of input before the first byte, exit on a partial read
static bool read_exact(void* buf, size_t n) {{
    char* p = (char*)buf; size_t got = 0;
    while (got < n) {{
        ssize_t r = ::read(0, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {{
            if (got == 0) return false;
            say("input ended in the middle of a message"); std::exit(1);
        }}
        got += (size_t)r;
    }}
    return true;
}}

static void write_all(const void* buf, size_t n) {{
    const char* p = (const char*)buf; size_t done = 0;
    while (done < n) {{
        ssize_t r = ::write(1, p + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {{ say("output closed"); std::exit(1); }}
        done += (size_t)r;
    }}
}}

static uint32_t u32(const unsigned char* p) {{ uint32_t v; std::memcpy(&v, p, 4); return v; }}
static void put32(unsigned char* p, uint32_t v) {{ std::memcpy(p, &v, 4); }}

static uint32_t decode(uint32_t w) {{
{decode}}}

int main(int argc, char** argv) {{
{args}    const pid_t parent = getppid();
    std::thread([parent] {{
        for (;;) {{
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            if (getppid() != parent) {{ say("parent process ended; exiting"); std::_Exit(1); }}
        }}
    }}).detach();

    unsigned char hs[20];
    if (!read_exact(hs, 20)) return 0;
    if (std::memcmp(hs, "HWSIMADC", 8) != 0) {{ say("not an hwsim handshake"); return 1; }}
    uint32_t version = u32(hs + 8), p = u32(hs + 12), levels = u32(hs + 16);
    uint32_t status = 0;
    if (version != 2) status = 2;
    else if (levels != M) status = 3;
    else if (p < 1) status = 4;
    unsigned char reply[16];
    std::memcpy(reply, "HWSIMADC", 8); put32(reply + 8, 2); put32(reply + 12, status);
    write_all(reply, 16);
    if (status != 0) {{
        say(status == 2 ? "client speaks another protocol version" : status == 3
            ? "the client's level count differs from the module's " + std::to_string(M) : "p must be >= 1");
        return 1;
    }}

    VerilatedContext* ctx = new VerilatedContext;
    {cls}* top = new {cls}{{ctx}};
    std::vector<double> xs;
    std::vector<unsigned char> out;
    for (;;) {{
        unsigned char head[12];
        if (!read_exact(head, 12)) break;
        if (std::memcmp(head, "HWRQ", 4) != 0) {{ say("request without its HWRQ header"); return 1; }}
        uint32_t seq = u32(head + 4), n = u32(head + 8);
        if (n == 0) break;
        size_t count = (size_t)n * (size_t)p;
        xs.resize(count);
        if (!read_exact(xs.data(), count * 8)) {{ say("input ended before the samples"); return 1; }}
        out.resize(12 + count * 4 + 8);
        std::memcpy(out.data(), "HWRP", 4); put32(out.data() + 4, seq); put32(out.data() + 8, n);
        unsigned char* codes = out.data() + 12;
        for (size_t i = 0; i < count; ++i) {{
            const double x = xs[i];
{drive}            top->eval();
            uint32_t w = (uint32_t)top->code & {(1 << b) - 1}u;
            uint32_t c = decode(w);
            if (c >= M) {{
                say("the module's code " + std::to_string(w) + " is no code of a " + std::to_string(M)
                    + "-level converter in {d.output_code}");
                return 1;
            }}
{check_level}            put32(codes + 4 * i, c);
        }}
        std::memcpy(codes + 4 * count, "HWND", 4); put32(codes + 4 * count + 4, seq);
        write_all(out.data(), out.size());
    }}
    top->final();
    delete top;
    delete ctx;
    return 0;
}}
"""


# ------------------------------------------------------------------ build and cache
def cache_key(d, exe: str) -> str:
    """The cache key of design ``d`` built by the Verilator ``exe`` (module text)."""
    doc = {"loop": LOOP_VERSION, "verilog": d.verilog, "harness": harness_source(d), "top": d.name,
           "verilator": verilator_version(exe), "flags": list(BUILD_FLAGS), "cxx": os.environ.get("CXX", "")}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _complete(folder: Path) -> bool:
    exe = folder / "sim"
    return (folder / "manifest.json").is_file() and exe.is_file() and os.access(exe, os.X_OK)


def build(d, *, cache_dir=None, simulator: str = "verilator") -> Build:
    """The compiled simulation of design ``d``, from the cache or built now (module text).

    Parameters
    ----------
    d : hwsim.converters.rtl.RTLDesign
        A combinational (``pipeline=False``) flash or requantizer design.
    cache_dir : str or pathlib.Path or None
        Cache folder (default :func:`cache_root`).
    simulator : str
        ``"verilator"``.

    Returns
    -------
    Build
        The program and how it was obtained.
    """
    exe = find_verilator(simulator)
    harness = harness_source(d)
    key = cache_key(d, exe)
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    root.mkdir(parents=True, exist_ok=True)
    final = root / key[:40]
    if _complete(final):
        return Build(final / "sim", key, 0.0, True)
    with open(root / f".{key[:40]}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)       # a second builder of the same design waits here
        if _complete(final):
            return Build(final / "sim", key, 0.0, True)
        if final.exists():                     # left incomplete by hand: rebuild it
            shutil.rmtree(final, ignore_errors=True)
        start = time.perf_counter()
        work = Path(tempfile.mkdtemp(dir=root, prefix=".build-"))
        try:
            atomic_write_text(work / "module.v", d.verilog)
            atomic_write_text(work / "harness.cpp", harness)
            jobs = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))
            argv = [exe, *BUILD_FLAGS, "-j", str(jobs), "--top-module", d.name, "--prefix", f"V{d.name}",
                    "-Mdir", "obj", "-o", "sim", "module.v", "harness.cpp"]
            try:
                r = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"the Verilator build of module {d.name} took more than {BUILD_TIMEOUT:g} s") \
                    from None
            log = f"$ {' '.join(argv)}\n{r.stdout}\n{r.stderr}"
            atomic_write_text(work / "build.log", log)
            if r.returncode != 0 or not (work / "obj" / "sim").is_file():
                tail = (r.stderr.strip() or r.stdout.strip())[-3000:]
                raise RuntimeError(f"the Verilator build of module {d.name} failed (exit status {r.returncode}); "
                                   f"its output ends with:\n{tail}")
            os.replace(work / "obj" / "sim", work / "sim")
            shutil.rmtree(work / "obj", ignore_errors=True)
            seconds = time.perf_counter() - start
            atomic_write_text(work / "manifest.json", json.dumps(
                {"key": key, "module": d.name, "form": d.form, "levels": int(d.n_levels),
                 "output_code": d.output_code, "verilator": verilator_version(exe), "flags": list(BUILD_FLAGS),
                 "build_seconds": round(seconds, 3)}, indent=1) + "\n")
            os.chmod(work, 0o755)
            os.rename(work, final)              # the complete folder appears in one step
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return Build(final / "sim", key, seconds, False)


def command(d, program: Build) -> list[str]:
    """The command line that runs ``program`` for design ``d`` (flash: the comparator thresholds as
    exact hexadecimal floats)."""
    if d.form == "flash":
        t = np.asarray(d.comparator_thresholds, dtype=np.float64)
        if t.shape != (d.n_levels - 1,) or not np.all(np.isfinite(t)):
            raise ValueError(f"the design's comparator_thresholds must be {d.n_levels - 1} finite numbers")
        return [str(program.executable), "--thresholds", *(float(v).hex() for v in t)]
    return [str(program.executable)]


class RTLBackend(ExternalBackend):
    """An :class:`~hwsim.converters.backends.ExternalBackend` running a compiled design (:func:`backend`).

    Attributes
    ----------
    design : hwsim.converters.rtl.RTLDesign
        The design it simulates.
    build : Build
        The program it runs.
    """

    def __init__(self, d, program: Build, n_converters: int, *, timeout: float = 60.0, name: str | None = None):
        self.design = d
        self.build = program
        super().__init__(command(d, program), n_converters, d.n_levels, timeout=timeout,
                         name=name or f"RTL {d.form} {d.name} in Verilator")


def backend(d, n_converters: int, *, cache_dir=None, simulator: str = "verilator", timeout: float = 60.0,
            name: str | None = None) -> RTLBackend:
    """``n_converters`` converters of design ``d`` simulated in Verilator, behind the external backend
    protocol (``convert(z [B, p]) -> code indices [B, p]``).

    Parameters
    ----------
    d : hwsim.converters.rtl.RTLDesign
        The design (combinational).
    n_converters : int
        p.
    cache_dir : str or pathlib.Path or None
        Cache folder of the compiled simulations (default :func:`cache_root`).
    simulator : str
        ``"verilator"``.
    timeout : float
        Seconds one request may take.
    name : str or None
        Name of the backend in messages.

    Returns
    -------
    RTLBackend
        The running simulation; ``close()`` ends it.
    """
    return RTLBackend(d, build(d, cache_dir=cache_dir, simulator=simulator), n_converters, timeout=timeout,
                      name=name)


__all__ = ["BUILD_FLAGS", "Build", "HDLSimulatorMissing", "INSTALL", "RTLBackend", "SIMULATORS", "backend", "build",
           "cache_key", "cache_root", "command", "find_verilator", "harness_source", "verilator_version"]
