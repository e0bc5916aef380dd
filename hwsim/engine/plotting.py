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
import re
from pathlib import Path

import numpy as np

from .._files import atomic_write_bytes
from .results import load_results, read_manifest, result_layout

_LABELS = {"snr_db": "SNR (dB)", "rate": "rate R (bits per input)", "ber": "BER", "mse": "average MSE"}


def _is_rate(config: dict, y: str) -> bool:
    """Whether the sweep estimates an error rate (drawn on a log axis): its study's metric, or judged by the
    column for a study this version does not know."""
    from .. import study

    try:
        study.check_name(config.get("study"))
        return study.config_metric(config) == "rate"
    except Exception:  # noqa: BLE001 - a study this version does not know, or its config damaged
        return y in ("ber", "ser", "bler")


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
    if not manifest_path.is_file():
        raise ValueError(f"{out} holds no sweep (no manifest.json)")
    manifest = read_manifest(manifest_path)
    config, settings = manifest["config"], manifest.get("settings") or {}
    grid = settings.get("grid") or config.get("grid")
    if not (isinstance(grid, dict) and grid and all(isinstance(v, list) for v in grid.values())):
        raise ValueError(f"{manifest_path} is damaged: it has no grid (a table of lists)")
    plot_cfg = config.get("plot") or {}
    stopping = settings.get("stopping") or {}
    if not isinstance(plot_cfg, dict) or not isinstance(stopping, dict):
        raise ValueError(f"{manifest_path} is damaged: its config's plot or its stopping settings are not a table")
    figures = plot_cfg.get("figures") or {}
    if not (isinstance(figures, dict) and all(isinstance(m, list) for m in figures.values())):
        raise ValueError(f"{manifest_path} is damaged: plot.figures is not a table of curve lists")
    confidence = stopping.get("confidence", 0.95)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"{manifest_path} is damaged: stopping.confidence = {confidence!r} does not lie in (0, 1)")
    csv_path = out / "results.csv"
    rows = load_results(csv_path, journal=out / "points.jsonl")
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
    y = result_layout(list(rows[0]))[0]  # the estimate's column, as results.csv names it
    x = plot_cfg.get("x") or default_x(grid)
    if not isinstance(x, str) or x not in rows[0]:
        raise ValueError(f"{csv_path} has no {x!r} column, the x axis {manifest_path} names")
    panel_axes = [a for a in grid if a != x and a in rows[0] and len({r[a] for r in rows if r[a] != ""}) > 1]
    panel_values = [sorted({r[a] for r in rows if r[a] != ""}, key=lambda v: (not _is_number(v), _sort_key(v)))
                    for a in panel_axes]
    logy = bool(plot_cfg["logy"]) if "logy" in plot_cfg else _is_rate(config, y)
    if plot_cfg.get("db", False):  # [plot] db = true: the estimate, its interval and spread as 10 log10
        rows, logy = [_in_db(r, y) for r in rows], False
    written = []
    # [plot] figures: each named group of curves in a figure of its own; curves in no group in plot.png
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
        title = str(config.get("title") or "")
        suffix = ", ".join(f"{a} = {v}" for a, v in zip(panel_axes, combo))
        ax.set_title(" | ".join(t for t in (title, group_name, suffix) if t), fontsize=look["font"])
        fig.text(0.01, 0.01, "; ".join(sorted(notes)), fontsize=look["font"] - 3, color="0.35")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        stem = "plot" + group_stem + "".join(f"_{_name_part(a)}={_name_part(v)}" for a, v in zip(panel_axes, combo))
        for ext in formats:
            path = out / f"{stem}.{ext}"
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, dpi=look["dpi"])
            atomic_write_bytes(path, buf.getvalue())
            written.append(path)
    return written


def _name_part(value) -> str:
    """``value`` as part of a file name: kept as it is when it is letters, digits and ``._+-`` (``snr_db``,
    ``4.0``); otherwise (a path such as ``tables/t1.json``, spaces, quotes) those characters with a short
    hash of the whole value, so distinct values never share a file and no name leaves the folder."""
    import hashlib

    text = str(value)
    if _SAFE_NAME.fullmatch(text) and not text.startswith("."):
        return text
    kept = re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("._")[:40]
    return f"{kept}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


_SAFE_NAME = re.compile(r"[A-Za-z0-9._+-]{1,60}")
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
    finite = np.isfinite(est) & np.isfinite(xs)
    shown = finite & (est > 0) if logy else finite
    if exact:
        handle = line = ax.plot(xs[shown], est[shown], **style)[0]
    else:
        # bars from the estimate to its interval's ends, never negative: a stored point whose estimate lies
        # outside its interval (an older hwsim's importance sampling) is drawn, marked below, not refused
        below = np.nan_to_num(np.clip(est - lo, 0.0, None), nan=0.0, posinf=0.0)
        above = np.nan_to_num(np.clip(hi - est, 0.0, None), nan=0.0, posinf=0.0)
        handle = ax.errorbar(xs[shown], est[shown], yerr=[below[shown], above[shown]], capsize=3, **style)
        line = handle[0]
        outside = shown & ((est < lo) | (est > hi))
        if outside.any():
            ax.plot(xs[outside], est[outside], "x", color=line.get_color(), ms=9, mew=1.5)
            notes.add("x: estimate outside its own interval (not trustworthy; rerun the point)")
    bound = np.isfinite(xs) & (est == 0) & np.isfinite(hi) & (hi > 0) if logy else np.zeros_like(shown)
    if bound.any():  # no error seen: the interval's upper end, drawn as an upper bound
        ax.plot(xs[bound], hi[bound], "v", color=line.get_color(), ms=6)
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
