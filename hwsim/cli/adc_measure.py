"""``hwsim adc measure``: a measured converter's decision table from a capture of its raw codes.

.. code-block:: text

    hwsim adc measure CAPTURE --stimulus sine|ramp --levels M [--amplitude A --offset O]
                      [--full-scale LO HI] [--nominal TABLE] [--cycles J] [--converter ID]
                      [--units U] [--dac-bits N] --out TABLE [--png PLOT]

``CAPTURE`` is a ``.csv`` (a ``code`` column, optionally ``converter`` and ``sample``) or a
``.npy`` of codes (:mod:`hwsim.converters.measurement`). The code-density (histogram) test of
IEEE Std 1241 gives the transition levels with their uncertainties, DNL and INL (end-point and
best fit) and the missing codes; a sine capture's spectrum gives SINAD, SFDR, THD and ENOB. The
summary is printed, the derived table written to ``--out`` in the format of its extension (any
table format, :func:`hwsim.converters.tables.export_table`; provenance: the capture's name and
SHA-256, the stimulus, the method) and a plot to ``--png`` (default: ``--out`` with the suffix
``.png``).

Without ``--amplitude`` and ``--offset`` the stimulus's amplitude and offset are fitted to the
nominal converter: ``--nominal TABLE`` (a table file), or the uniform converter of ``M`` levels over
``--full-scale``. The command returns an exit code and raises ValueError on bad input. Heavy modules
(numpy, numba, matplotlib) load only when it runs, so importing this module is light; the
integrator adds the subcommand with :func:`add_measure_parser`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_measure_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``measure`` to the subparsers of ``hwsim adc``."""
    m = subparsers.add_parser(
        "measure", help="a measured converter's table from a capture of its codes (IEEE 1241 code density)",
        description="Derive a converter's decision table from a capture of its raw output codes under a sine or "
                    "ramp stimulus (IEEE Std 1241 code-density test): transition levels with uncertainties, "
                    "DNL/INL, missing codes, and for a sine SINAD/SFDR/THD/ENOB. Writes the table (any table "
                    "format, by --out's extension) and a plot.")
    m.add_argument("capture", metavar="CAPTURE", help="capture file: .csv (a code column; optional converter, "
                                                      "sample columns) or .npy (codes [samples] or [samples, "
                                                      "converters])")
    m.add_argument("--stimulus", required=True, choices=("sine", "ramp"), help="the stimulus the capture saw")
    m.add_argument("--levels", required=True, type=int, metavar="M", help="the converter's level count (codes 0..M-1)")
    m.add_argument("--amplitude", type=float, metavar="A", help="stimulus amplitude (input units); with --offset")
    m.add_argument("--offset", type=float, metavar="O", help="stimulus offset (input units); with --amplitude")
    m.add_argument("--full-scale", nargs=2, type=float, metavar=("LO", "HI"),
                   help="the converter's input range: the exported table's full scale, and without --amplitude/"
                        "--offset/--nominal the uniform converter they are fitted to")
    m.add_argument("--nominal", metavar="TABLE", help="the converter's nominal table file (M levels): the fit of "
                                                      "amplitude and offset when not given, the table's levels, and "
                                                      "the deviation it reports")
    m.add_argument("--cycles", type=int, metavar="J", help="whole sine cycles in the record (coherent sampling); "
                                                           "default: a Blackman-Harris window")
    m.add_argument("--converter", metavar="ID", help="which converter of a capture that holds several")
    m.add_argument("--units", default="V", help="units of the input (default V)")
    m.add_argument("--dac-bits", type=int, metavar="N",
                   help="round the thresholds to an N-bit DAC (1..24); default 12 for c, memh, mif, coe, none "
                        "otherwise")
    m.add_argument("--out", required=True, metavar="TABLE", help="the derived table (.json, .csv, .mat, .h, .mem, "
                                                                  ".mif, .coe)")
    m.add_argument("--png", metavar="PLOT", help="the plot (default: --out with the suffix .png)")
    m.set_defaults(func=measure_command)
    return m


def _plot_png(analysis, title: str) -> bytes:
    import io

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = 3 if analysis.spectrum is not None else 2
    fig = Figure(figsize=(7.5, 2.6 * rows + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    m = analysis.n_levels
    ax = axes[0]
    ax.bar(np.arange(m), analysis.hits, color="C0", width=0.9)
    for k in analysis.missing_codes:
        ax.axvline(k, color="C3", lw=1, ls=":")
    ax.set_xlabel("code")
    ax.set_ylabel("hits")
    ax.set_title(title + (f" (missing codes: {', '.join(map(str, analysis.missing_codes[:12]))})"
                          if analysis.missing_codes else ""), fontsize="medium")
    ax = axes[1]
    k = np.arange(1, m)
    if analysis.dnl.size:
        ax.bar(np.arange(1, m - 1) + 0.5, analysis.dnl, color="C0", alpha=0.6, width=0.8, label="DNL (inner codes)")
    ax.plot(k, analysis.inl_endpoint, "o-", color="C3", ms=3, label="INL, end-point")
    ax.plot(k, analysis.inl_best_fit, "s--", color="C2", ms=3, label="INL, best fit")
    if analysis.deviation_lsb is not None:
        ax.plot(k, analysis.deviation_lsb, "^:", color="C4", ms=3, label="T - T_nominal")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("transition k")
    ax.set_ylabel("LSB")
    ax.legend(fontsize="small")
    if analysis.spectrum is not None:
        ax = axes[2]
        sp = analysis.spectrum
        p = np.maximum(sp["power_db"], -250)
        ax.plot(np.arange(p.size) / sp["n"], p, color="C0", lw=0.6)
        for h, fh in sp["harmonic_bins"].items():
            if fh is not None:
                ax.annotate(str(h), (fh / sp["n"], p[int(round(fh))]), fontsize="x-small", color="C3")
        ax.set_xlabel("frequency (cycles per sample)")
        ax.set_ylabel("dBc")
        ax.set_title(f"SINAD {analysis.sinad_db:.2f} dB, SFDR {analysis.sfdr_db:.1f} dBc, THD {analysis.thd_db:.1f} "
                     f"dBc, ENOB {analysis.enob:.2f} bits", fontsize="medium")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def measure_command(args) -> int:
    """``hwsim adc measure``."""
    from .._files import atomic_write_bytes
    from .._progress import shown
    from ..converters.measurement import analyze_capture
    from ..converters.tables import EXTENSIONS, import_table

    out = Path(args.out)
    fmt = next((f for f, exts in EXTENSIONS.items() if out.suffix.lower() in exts), None)
    if fmt is None:
        raise ValueError(f"--out {args.out!r}: unknown table extension; allowed: "
                         f"{', '.join(e for exts in EXTENSIONS.values() for e in exts)}")
    if not out.parent.is_dir():
        raise ValueError(f"--out {args.out!r}: folder {str(out.parent)!r} does not exist")
    png = Path(args.png) if args.png else out.with_suffix(".png")
    if png.suffix.lower() != ".png":
        raise ValueError(f"--png must end in .png, got {str(png)!r}")
    if not png.parent.is_dir():
        raise ValueError(f"--png {str(png)!r}: folder {str(png.parent)!r} does not exist")
    if (args.amplitude is None) != (args.offset is None):
        raise ValueError("give --amplitude and --offset together, or neither (then they are fitted to --nominal or "
                         "to the uniform converter over --full-scale)")
    nominal = import_table(args.nominal)[0] if args.nominal else None
    analysis = analyze_capture(args.capture, args.levels, stimulus=args.stimulus, converter=args.converter,
                               amplitude=args.amplitude, offset=args.offset,
                               full_scale=tuple(args.full_scale) if args.full_scale else None, nominal=nominal,
                               cycles=args.cycles)
    print(analysis.summary())   # file names in it are shown as printable ASCII (hwsim._progress.shown)
    if analysis.table is None:
        raise ValueError(f"{args.capture}: the capture gives no table (fewer than two codes were seen); nothing "
                         "was written")
    analysis.export(out, fmt, units=args.units, dac=args.dac_bits)
    print(f"wrote {out} ({fmt})")
    title = shown(Path(args.capture).name).replace("$", r"\$")   # no mathtext from a file name
    atomic_write_bytes(png, _plot_png(analysis, f"{title}: {args.stimulus} code density"))
    print(f"plot: {png}")
    return 0


__all__ = ["add_measure_parser", "measure_command"]
