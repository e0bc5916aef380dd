"""``hwsim adc``: export, import and inspect converter decision tables.

.. code-block:: text

    hwsim adc export MODEL --format json|csv|c|memh|mat|mif|coe --out FILE [--full-scale LO HI] [--units U]
                     [--dac-bits N]
    hwsim adc export MODEL --format verilog|vhdl|sv-package --out FILE [--form flash|requantizer]
                     [--output-code offset_binary|twos_complement|gray] [--pipeline] [--input-format Q3.8]
                     [--level-format Q1.14] [--name NAME] [--dac-bits N] [--full-scale LO HI] [--units U]
    hwsim adc import FILE
    hwsim adc inspect FILE [--png PATH]

``MODEL`` is a trained receiver (``.pt`` with its ``.pt.json`` sidecar) or a table file
(json, csv, mat). The RTL formats (``verilog``, ``vhdl``, ``sv-package``) write a converter module with
its self-checking testbench and golden vectors, or a SystemVerilog package
(:func:`hwsim.converters.rtl.export_rtl`). ``import`` validates a table and prints a summary; ``inspect`` also
prints DNL/INL and draws the transfer curve to a PNG (default: beside FILE, ``.png``).
Each subcommand returns an exit code and raises ValueError on bad input. Heavy modules
load only when a subcommand runs, so importing this module is light.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .._progress import shown as _shown  # text from a file, made one printable line

#: Formats of the RTL export (:func:`hwsim.converters.rtl.export_rtl`), with the suffixes that select them.
RTL_FORMATS = {"verilog": (".v",), "vhdl": (".vhd", ".vhdl"), "sv-package": (".sv",)}

FORMATS = ("json", "csv", "c", "memh", "mat", "mif", "coe", *RTL_FORMATS)


def add_adc_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``adc`` (with ``export``, ``import``, ``inspect``, ``measure``) to an argparse subparsers object."""
    p = subparsers.add_parser("adc", help="export, import and inspect ADC decision tables (hardware in the loop)",
                              description="Take a learned quantizer to a real converter and back: export its "
                                          "decision table (JSON, CSV, C header, $readmemh file, MATLAB, Intel "
                                          "MIF, Xilinx COE, Verilog/VHDL RTL), import "
                                          "and validate a table, inspect its DNL/INL and transfer curve, derive "
                                          "a measured converter's table from a capture of its codes.")
    sub = p.add_subparsers(dest="adc_command", metavar="SUBCOMMAND", required=True)

    e = sub.add_parser("export", help="write the decision table of a trained receiver or a table file",
                       description="Write MODEL's decision table. MODEL is a trained receiver (.pt with its "
                                   ".pt.json sidecar) or a table file (.json, .csv, .mat, .h, .memh, .mif, .coe). C headers and memory "
                                   "files hold threshold codes of a DAC (--dac-bits, default 12) over the full "
                                   "scale.")
    e.add_argument("model", metavar="MODEL")
    e.add_argument("--format", choices=FORMATS, help="output format (default: from --out's extension)")
    e.add_argument("--out", required=True, metavar="FILE")
    e.add_argument("--full-scale", nargs=2, type=float, metavar=("LO", "HI"),
                   help="input range (default: the table's, or one threshold spacing beyond the outer thresholds)")
    e.add_argument("--units", help="units of the input (default: the table's, or V)")
    e.add_argument("--dac-bits", type=int, metavar="N",
                   help="round thresholds to an N-bit DAC (1..24); default 12 for c and memh, none otherwise "
                        "(RTL: flash form only; the DAC codes go to a ROM module NAME_dac_rom)")
    r = e.add_argument_group("RTL formats (verilog, vhdl, sv-package)")
    r.add_argument("--form", choices=("flash", "requantizer"),
                   help="flash: thermometer-code encoder (ones counter); requantizer: fixed-point sample in, "
                        "code and level out (default flash)")
    r.add_argument("--output-code", choices=("offset_binary", "twos_complement", "gray"),
                   help="code on the module's output port (default offset_binary)")
    r.add_argument("--pipeline", action="store_true", help="register the outputs on clk (one cycle of latency)")
    r.add_argument("--input-format", metavar="QM.N",
                   help="requantizer sample word, e.g. Q3.8 (default: 12 bits covering the full scale)")
    r.add_argument("--level-format", metavar="QM.N",
                   help="level ROM word, e.g. Q1.14 (default: 16 bits covering the levels)")
    r.add_argument("--name", help="module name (default: FILE's stem if it is a valid name, else hwsim_adc)")
    e.set_defaults(func=export_command)

    i = sub.add_parser("import", help="validate a table file and print a summary",
                       description="Validate a table file (.json, .csv, .mat, .h, .memh, .mif, .coe) and print its "
                                   "levels, thresholds, "
                                   "full scale and provenance.")
    i.add_argument("file", metavar="FILE")
    i.set_defaults(func=import_command)

    s = sub.add_parser("inspect", help="thresholds, levels, DNL/INL and a PNG of the transfer curve",
                       description="Print a table's thresholds, levels and DNL/INL (end-point fit, LSB) and "
                                   "draw its transfer curve. FILE is a table file or a trained receiver .pt.")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--png", metavar="PATH", help="where to write the plot (default: FILE with the suffix .png)")
    s.set_defaults(func=inspect_command)

    from .adc_measure import add_measure_parser  # light: its heavy modules load when it runs

    add_measure_parser(sub)
    return p


def export_command(args) -> int:
    """``hwsim adc export``."""
    from ..converters.tables import EXTENSIONS, export_from_model, export_table, import_table, sha256_file

    src = Path(args.model)
    out = Path(args.out)
    if not src.is_file():
        raise ValueError(f"MODEL {args.model!r} is not a file")
    fmt = args.format
    if fmt is None:
        fmt = next((f for f, exts in {**EXTENSIONS, **RTL_FORMATS}.items() if out.suffix.lower() in exts), None)
        if fmt is None:
            raise ValueError(f"cannot tell the format from --out {args.out!r}; give --format "
                             f"({', '.join(FORMATS)})")
    full_scale = tuple(args.full_scale) if args.full_scale else None
    if fmt in RTL_FORMATS:
        return _export_rtl_command(args, src, out, fmt, full_scale)
    given = [opt for opt, v in (("--form", args.form), ("--output-code", args.output_code),
                                ("--pipeline", args.pipeline or None), ("--input-format", args.input_format),
                                ("--level-format", args.level_format), ("--name", args.name)) if v is not None]
    if given:
        raise ValueError(f"{', '.join(given)}: options of the RTL formats ({', '.join(RTL_FORMATS)}) only, not of "
                         f"--format {fmt}")
    if src.suffix.lower() == ".pt":
        doc = export_from_model(src, out, fmt, full_scale=full_scale, units=args.units or "V", dac=args.dac_bits)
    else:
        adc, meta = import_table(src)
        prov = {k: v for k, v in meta["provenance"].items() if k not in ("hwsim_version", "created_utc")}
        prov.update(source_table=src.name, source_table_sha256=sha256_file(src))
        fs = meta["full_scale"]
        doc = export_table(adc, out, fmt, full_scale=full_scale or (fs["min"], fs["max"]),
                           units=args.units or fs["units"], provenance=prov, dac=args.dac_bits)
    fs = doc["full_scale"]
    line = (f"wrote {_shown(out)} ({fmt}): {doc['n_levels']} levels, full scale [{fs['min']:.6g}, "
            f"{fs['max']:.6g}] {fs['units']}")
    if "dac" in doc:
        line += f", {doc['dac']['bits']}-bit threshold DAC (worst rounding {doc['dac']['max_error_lsb']:.3f} LSB)"
    print(line)
    return 0


def _export_rtl_command(args, src: Path, out: Path, fmt: str, full_scale) -> int:
    """``hwsim adc export --format verilog|vhdl|sv-package``."""
    from ..converters.rtl import export_rtl
    from ..converters.tables import load_any, sha256_file

    adc, meta = load_any(src)
    prov = {k: v for k, v in (meta.get("provenance") or {}).items() if k not in ("hwsim_version", "created_utc")}
    if src.suffix.lower() != ".pt":
        prov.update(source_table=src.name, source_table_sha256=sha256_file(src))
    fs = meta["full_scale"]
    result = export_rtl(adc, out, fmt, form=args.form or "flash", output_code=args.output_code or "offset_binary",
                        name=args.name, pipeline=bool(args.pipeline), input_format=args.input_format,
                        level_format=args.level_format, dac=args.dac_bits,
                        full_scale=full_scale or (fs["min"], fs["max"]), units=args.units or fs["units"],
                        provenance=prov)
    d = result["design"]
    written = ", ".join(_shown(result[role]) for role in ("module", "dac_rom", "testbench", "vectors", "package")
                        if role in result)
    line = (f"wrote {written} ({fmt}): {d.form} converter {d.name}, {d.n_levels} levels, {d.code_bits}-bit "
            f"{d.output_code} code")
    if d.input_format is not None:
        line += f", input {d.input_format.name} ({d.input_format.word} bits)"
    line += f", levels {d.level_format.name} ({d.level_format.word} bits)"
    if d.pipeline:
        line += ", pipelined (1 cycle)"
    print(line)
    return 0


def _summary(adc, meta) -> list[str]:
    fs = meta["full_scale"]
    lines = [f"levels:      {adc.n_levels} ({adc.bits:.3g} bits)",
             f"full scale:  [{fs['min']:.6g}, {fs['max']:.6g}] {_shown(fs['units'])}",
             "thresholds:  " + ", ".join(f"{t:.6g}" for t in adc.thresholds),
             "levels:      " + ", ".join(f"{g:.6g}" for g in adc.levels)]
    dac = meta.get("dac")
    if dac:
        lines.append(f"DAC:         {dac['bits']} bits over [{dac['full_scale']['min']:.6g}, "
                     f"{dac['full_scale']['max']:.6g}], codes " + ", ".join(map(str, dac["threshold_codes"])))
    prov = meta.get("provenance") or {}
    if prov:
        lines.append("provenance:")
        for k, v in prov.items():
            if k == "training_config" and isinstance(v, dict):
                v = ", ".join(f"{a}={b}" for a, b in v.items() if not isinstance(b, dict))
            lines.append(f"  {_shown(k)}: {_shown(v)}")
    return lines


def import_command(args) -> int:
    """``hwsim adc import``."""
    from ..converters.tables import import_table

    adc, meta = import_table(args.file)
    print(f"{_shown(args.file)}: valid {meta['source_format']} table")
    print("\n".join(_summary(adc, meta)))
    return 0


def _plot_png(adc, meta, dnl, inl, title: str) -> bytes:
    import io

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fs = meta["full_scale"]
    lo, hi = fs["min"], fs["max"]
    pad = 0.05 * (hi - lo)
    t = adc.thresholds
    fig = Figure(figsize=(7, 6.5 if dnl is not None else 4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2 if dnl is not None else 1, 1, squeeze=False)[:, 0]
    ax = axes[0]
    edges = np.concatenate(([min(lo, t[0]) - pad], t, [max(hi, t[-1]) + pad]))
    ax.stairs(adc.levels, edges, baseline=None, color="C0", lw=1.5, label="level (output)")
    ax2 = ax.twinx()
    ax2.stairs(np.arange(adc.n_levels), edges, baseline=None, color="C1", lw=0.8, ls="--", label="code")
    ax2.set_ylabel("code")
    for v in t:
        ax.axvline(v, color="0.85", lw=0.5, zorder=0)
    ax.axvspan(lo, hi, color="C2", alpha=0.06, label="full scale")
    ax.set_xlabel(f"input ({fs['units']})")
    ax.set_ylabel(f"level ({fs['units']})")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small")
    if dnl is not None:
        ax = axes[1]
        ax.bar(np.arange(1, dnl.size + 1), dnl, color="C0", label="DNL (inner codes)")
        ax.plot(np.arange(1, inl.size + 1), inl, "o-", color="C3", ms=3, label="INL (transitions)")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("code / transition index")
        ax.set_ylabel("LSB (end-point fit)")
        ax.legend(fontsize="small")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def inspect_command(args) -> int:
    """``hwsim adc inspect``."""
    from ..converters.impairments import dnl_inl
    from .._files import atomic_write_bytes
    from ..converters.tables import load_any

    path = Path(args.file)
    png = Path(args.png) if args.png else path.with_suffix(".png")
    if png.suffix.lower() != ".png":
        raise ValueError(f"--png must end in .png, got {str(png)!r}")
    if not png.parent.is_dir():
        raise ValueError(f"--png {str(png)!r}: folder {str(png.parent)!r} does not exist")
    adc, meta = load_any(path)
    print(f"{_shown(args.file)}: {meta['source_format']} table")
    print("\n".join(_summary(adc, meta)))
    dnl = inl = None
    if adc.n_levels >= 3:
        dnl, inl = dnl_inl(adc)
        print("DNL (LSB):   " + ", ".join(f"{v:+.3f}" for v in dnl))
        print("INL (LSB):   " + ", ".join(f"{v:+.3f}" for v in inl))
        print(f"max |DNL| = {abs(dnl).max():.3f} LSB, max |INL| = {abs(inl).max():.3f} LSB "
              "(end-point fit; LSB = mean inner code width)")
    else:
        print("DNL/INL:     not defined for a 2-level table")
    title = _shown(path.name).replace("$", r"\$")   # no mathtext from a file name
    atomic_write_bytes(png, _plot_png(adc, meta, dnl, inl, f"{title}: {adc.n_levels}-level transfer curve"))
    print(f"plot: {png}")
    return 0
