"""Figures of a finished (or partial) sweep folder: one figure per panel, PNG and PDF.

The x axis is ``[plot] x`` (default: the first grid axis with more than one value); every
other grid axis with several values makes panels (one figure each, its value in the file
name); ``[plot] figures = { NAME = [curve, ...] }`` draws each named group of curves in a
figure of its own (``plot_figure=NAME.png``; a curve may be in several, and curves in none go
to ``plot.png``). Error bars are the points' confidence intervals, bands the spread over independently
trained receivers (min to max), and a point with no error seen is drawn as an upper bound;
curves differ in marker and line style as well as colour; rates use a log axis.
"""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import numpy as np

from .._files import atomic_write_bytes
from .results import read_results
from ..studies import load_study, result_columns, study_metric

_LABELS = {"snr_db": "SNR (dB)", "rate": "rate R (bits per input)", "ber": "BER", "mse": "average MSE"}


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def default_x(grid: dict) -> str:
    """The x axis when ``[plot] x`` is not given: the first numeric grid axis with several values."""
    numeric = [a for a, values in grid.items() if all(isinstance(v, (int, float)) for v in values)]
    varying = [a for a in numeric if len(grid[a]) > 1]
    return (varying or numeric or list(grid))[0]


#: ``style``: ``screen`` (colour, wide) or ``paper`` (gray levels, a column-and-a-half wide, 300 dpi): curves
#: differ in marker and line style in both, so either reads in grayscale.
STYLES = {"screen": {"figsize": (8.4, 4.6), "dpi": 120, "font": 10, "legend": 8, "colors": None},
          "paper": {"figsize": (6.2, 3.4), "dpi": 300, "font": 8, "legend": 6.5,
                    "colors": ("0.0", "0.45", "0.25", "0.6", "0.1", "0.35", "0.5", "0.15", "0.7", "0.3")}}
FORMATS = ("png", "pdf", "svg")


def plot_sweep(out_dir, *, curves=None, ylim=None, style: str = "screen", formats=("png", "pdf")) -> list[Path]:
    """Draw the sweep in ``out_dir``; returns the written files.

    ``curves``: only these curves (names; an unknown one is an error); ``ylim``: (low, high) of the
    y axis; ``style``: a key of :data:`STYLES`; ``formats``: any of :data:`FORMATS`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(out_dir)
    manifest_path = out / "manifest.json"
    if not manifest_path.exists():
        raise ValueError(f"{out} holds no sweep (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    config = manifest["config"]
    grid = manifest.get("settings", {}).get("grid") or config["grid"]
    study = load_study(config["study"])
    rows = read_results(out / "results.csv") if (out / "results.csv").exists() else []
    if not rows:
        raise ValueError(f"{out} has no finished points to plot yet")
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    formats = list(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"formats must be some of {', '.join(FORMATS)}, got {', '.join(map(str, formats)) or 'none'}")
    if ylim is not None:
        lo, hi = (float(v) for v in ylim)
        if not lo < hi:
            raise ValueError(f"ylim must be two numbers, low < high, got {lo:g} {hi:g}")
    if curves:
        known = list(dict.fromkeys(r["curve"] for r in rows))
        unknown = [c for c in curves if c not in known]
        if unknown:
            raise ValueError(f"{', '.join(map(repr, unknown))}: no such curve in {out} (curves: "
                             f"{', '.join(map(repr, known))})")
        rows = [r for r in rows if r["curve"] in curves]
    look = STYLES[style]
    y = result_columns(study, config)[0]
    plot_cfg = config.get("plot", {})
    x = plot_cfg.get("x") or default_x(grid)
    panel_axes = [a for a in grid if a != x and a in rows[0] and len({r[a] for r in rows if r[a] != ""}) > 1]
    panel_values = [sorted({r[a] for r in rows if r[a] != ""}, key=lambda v: (not _is_number(v), _sort_key(v)))
                    for a in panel_axes]
    logy = plot_cfg.get("logy", study_metric(study, config) == "rate")
    if plot_cfg.get("db", False):  # [plot] db = true: the estimate, its interval and spread as 10 log10
        rows, logy = [_in_db(r, y) for r in rows], False
    confidence = manifest.get("settings", {}).get("stopping", {}).get("confidence", 0.95)
    written = []
    # [plot] figures: each named group of curves in a figure of its own; curves in no group in plot.png
    figures = plot_cfg.get("figures") or {}
    listed = {c for members in figures.values() for c in members}
    groups = [(f"_figure={name}", name, set(members)) for name, members in figures.items()]
    if not figures or any(r["curve"] not in listed for r in rows):
        groups.insert(0, ("", "", None))
    for (group_stem, group_name, members), combo in itertools.product(
            groups, itertools.product(*panel_values) if panel_axes else [()]):
        sel = [r for r in rows if all(r[a] in ("", v) for a, v in zip(panel_axes, combo))
               and (r["curve"] not in listed if members is None else r["curve"] in members)]
        if not sel:
            continue
        fig = Figure(figsize=look["figsize"])
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        notes = {f"bars: {confidence:.0%} confidence intervals"}
        handles = []
        for i, curve in enumerate(dict.fromkeys(r["curve"] for r in sel)):
            pts = sorted((r for r in sel if r["curve"] == curve and _is_number(r[x])), key=lambda r: float(r[x]))
            if pts:
                color = None if look["colors"] is None else {"color": look["colors"][i % len(look["colors"])]}
                handle, curve_notes = _draw_curve(ax, curve, pts, x, y, logy, i, style=color)
                handles.append(handle)
                notes |= curve_notes
        if logy:
            ax.set_yscale("log")
        if ylim is not None:
            ax.set_ylim(lo, hi)
        ax.set_xlabel(plot_cfg.get("xlabel", _LABELS.get(x, x)), fontsize=look["font"])
        ax.set_ylabel(plot_cfg.get("ylabel", _LABELS.get(y, y)), fontsize=look["font"])
        ax.tick_params(labelsize=look["font"] - 1)
        ax.grid(True, which="both", alpha=0.3)
        # outside the axes, so that it never hides a curve
        ax.legend(handles=handles, fontsize=look["legend"], loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  borderaxespad=0.0)
        title = config.get("title", "")
        suffix = ", ".join(f"{a} = {v}" for a, v in zip(panel_axes, combo))
        ax.set_title(" | ".join(t for t in (title, group_name, suffix) if t), fontsize=look["font"])
        fig.text(0.01, 0.01, "; ".join(sorted(notes)), fontsize=look["font"] - 3, color="0.35")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        stem = "plot" + group_stem + "".join(f"_{a}={v}" for a, v in zip(panel_axes, combo))
        for ext in formats:
            path = out / f"{stem}.{ext}"
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, dpi=look["dpi"])
            atomic_write_bytes(path, buf.getvalue())
            written.append(path)
    return written


_MARKERS = "os^Dv<>PXh*"
_LINES = ("-", "--", "-.", ":")


def _draw_curve(ax, curve: str, pts: list[dict], x: str, y: str, logy: bool, i: int, *, label: str | None = None,
                style: dict | None = None):
    """One curve: its estimates with interval bars, a band for the spread over replicas, upper
    bounds for points without any error; returns its legend handle and notes for the caption.
    ``label`` replaces the curve name in the legend; ``style`` overrides the line's style (marker,
    ls, color, mfc, ...) that the curve's index ``i`` picks."""
    notes = set()
    xs = np.array([float(r[x]) for r in pts])
    est = np.array([float(r[y]) for r in pts])
    lo = np.array([float(r["ci_low"]) for r in pts])
    hi = np.array([float(r["ci_high"]) for r in pts])
    exact = all(r["stop"] == "exact" for r in pts)
    # closed forms: large hollow markers, so a simulated point drawn at the same place stays visible
    style = {**dict(marker=_MARKERS[i % len(_MARKERS)], ls=_LINES[i % len(_LINES)], ms=8 if exact else 4,
                    mfc="none" if exact else None, label=curve if label is None else label), **(style or {})}
    shown = est > 0 if logy else np.ones_like(est, dtype=bool)
    if exact:
        handle = line = ax.plot(xs[shown], est[shown], **style)[0]
    else:
        handle = ax.errorbar(xs[shown], est[shown], yerr=[est[shown] - lo[shown], hi[shown] - est[shown]],
                             capsize=3, **style)
        line = handle[0]
    if (~shown).any():  # no error seen: the interval's upper end, drawn as an upper bound
        ax.plot(xs[~shown], hi[~shown], "v", color=line.get_color(), ms=6)
        notes.add("v: no error seen, upper end of the interval")
    spread = [r.get("spread_min", "") for r in pts], [r.get("spread_max", "") for r in pts]
    has = np.array([a != "" and b != "" for a, b in zip(*spread)])
    if has.any():
        smin = np.array([float(a) if a != "" else np.nan for a in spread[0]])
        smax = np.array([float(b) if b != "" else np.nan for b in spread[1]])
        if logy:
            smin = np.where(smin > 0, smin, np.nan)
        ax.fill_between(xs[has], smin[has], smax[has], color=line.get_color(), alpha=0.15, lw=0)
        notes.add("bands: min-max over independently trained receivers")
    return handle, notes


def _in_db(row: dict, y: str) -> dict:
    """``row`` with the estimate ``y``, its interval and its spread in dB (10 log10). A value that is not
    positive has no dB: an estimate becomes NaN (not drawn), an interval's end the estimate, a spread ""."""
    out = dict(row)
    for key in (y, "ci_low", "ci_high", "spread_min", "spread_max"):
        value = row.get(key, "")
        if _is_number(value):
            if float(value) > 0:
                out[key] = str(10 * np.log10(float(value)))
            else:
                out[key] = {y: "nan", "ci_low": out[y], "ci_high": out[y]}.get(key, "")
    return out


def _sort_key(value: str):
    return float(value) if _is_number(value) else value
