#!/usr/bin/env python
"""Samples per second through the RTL in the loop against the Python table, in one run on the same samples.

A designed table (``uniform`` or ``lloyd_max``, ``--bits`` bits) exported as Verilog
(:func:`hwsim.converters.rtl.rtl_design`, ``--form`` flash or requantizer) is compiled once with Verilator
into a fresh cache folder (the build time is reported on its own line), then ``--samples`` Gaussian
samples for ``--converters`` converters go through

- the RTL: the ``rtl`` bank's backend (the compiled module over the external backend protocol);
- the Python table: :class:`hwsim.converters.backends.SimulatedBackend` (``ThresholdADC.encode``).

Each is timed as the fastest of ``--repeats`` conversions after one warm-up, and the codes are checked
to agree (flash: the table's exactly; requantizer: the design's reference indices). Prints::

    build: S s (verilator, cold cache)
    rtl: X samples/s
    python table: Y samples/s
    ratio python/rtl: Z

    python scripts/bench_rtl.py [--samples 2000000] [--converters 24] [--bits 3] [--form flash]
"""

import argparse
import tempfile
import time

import numpy as np

from hwsim.converters.backends import SimulatedBackend
from hwsim.converters.hardware import RTLBank
from hwsim.converters.rtl import loop


def _timed(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=float, default=2e6, help="samples per conversion (default 2e6)")
    ap.add_argument("--converters", type=int, default=24, help="converters p (default 24)")
    ap.add_argument("--bits", type=int, default=3, help="bits of the table (default 3)")
    ap.add_argument("--table", choices=("uniform", "lloyd_max"), default="uniform")
    ap.add_argument("--form", choices=("flash", "requantizer"), default="flash")
    ap.add_argument("--output-code", default="offset_binary")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    p = args.converters
    rows = max(1, int(args.samples) // p)
    n = rows * p
    bank = RTLBank(table=args.table, bits=args.bits, form=args.form, output_code=args.output_code)
    table = bank.table
    d = bank.design(table)
    z = np.random.default_rng(0).standard_normal((rows, p)) * 1.2

    with tempfile.TemporaryDirectory(prefix="hwsim-bench-rtl-") as cache:
        t0 = time.perf_counter()
        program = loop.build(d, cache_dir=cache)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        rtl = loop.backend(d, p, cache_dir=cache)
        start_s = time.perf_counter() - t0
        python = SimulatedBackend(table, p, name="python table")
        try:
            want = table.encode(z) if args.form == "flash" else d.reference_index(z)
            got = rtl.convert(z)
            if not np.array_equal(got, want):
                raise SystemExit(f"the RTL's codes differ from the reference on {int(np.sum(got != want))} of {n} "
                                 "samples")
            t_rtl = _timed(lambda: rtl.convert(z), args.repeats)
            t_py = _timed(lambda: python.convert(z), args.repeats)
        finally:
            rtl.close()
    print(f"design: {args.table} {args.bits}-bit table, {d.n_levels} levels, {d.form}, {d.output_code}; "
          f"{n} samples, p = {p}; {loop.verilator_version(loop.find_verilator())}")
    print(f"build: {build_s:.2f} s (verilator, cold cache: {not program.cached}); process start and handshake: "
          f"{start_s * 1e3:.1f} ms")
    print(f"codes: equal to the {'table' if args.form == 'flash' else 'design reference'} on all {n} samples")
    print(f"rtl: {n / t_rtl:.4g} samples/s")
    print(f"python table: {n / t_py:.4g} samples/s")
    print(f"ratio python/rtl: {t_rtl / t_py:.3g}")


if __name__ == "__main__":
    main()
