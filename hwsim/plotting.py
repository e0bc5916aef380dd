"""Figures of a finished (or partial) sweep folder: one figure per panel, PNG and PDF.

The x axis is ``[plot] x`` (default: the first grid axis with more than one value); every
other grid axis with several values makes panels (one figure each, its value in the file
name). Error bars are the points' confidence intervals; rates use a log axis.
"""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import numpy as np

from .results import atomic_write_bytes, read_results
from .studies import load_study

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


def plot_sweep(out_dir) -> list[Path]:
    """Draw the sweep in ``out_dir``; returns the written files."""
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
    y = study.ESTIMATE_COLUMN
    plot_cfg = config.get("plot", {})
    x = plot_cfg.get("x") or default_x(grid)
    panel_axes = [a for a in grid if a != x and a in rows[0] and len({r[a] for r in rows if r[a] != ""}) > 1]
    panel_values = [sorted({r[a] for r in rows if r[a] != ""}, key=lambda v: (not _is_number(v), _sort_key(v)))
                    for a in panel_axes]
    logy = plot_cfg.get("logy", study.METRIC == "rate")
    written = []
    for combo in itertools.product(*panel_values) if panel_axes else [()]:
        sel = [r for r in rows if all(r[a] in ("", v) for a, v in zip(panel_axes, combo))]
        fig = Figure(figsize=(6.4, 4.6))
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        for curve in dict.fromkeys(r["curve"] for r in sel):
            pts = sorted((r for r in sel if r["curve"] == curve and _is_number(r[x])), key=lambda r: float(r[x]))
            if not pts:
                continue
            xs = np.array([float(r[x]) for r in pts])
            est = np.array([float(r[y]) for r in pts])
            lo = np.array([float(r["ci_low"]) for r in pts])
            hi = np.array([float(r["ci_high"]) for r in pts])
            shown = est > 0 if logy else np.ones_like(est, dtype=bool)
            line = ax.errorbar(xs[shown], est[shown], yerr=[est[shown] - lo[shown], hi[shown] - est[shown]],
                               marker="o", ms=4, capsize=3, label=curve)
            if (~shown).any():  # no error seen: mark the interval's upper end
                ax.plot(xs[~shown], hi[~shown], "v", color=line[0].get_color())
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel(plot_cfg.get("xlabel", _LABELS.get(x, x)))
        ax.set_ylabel(plot_cfg.get("ylabel", _LABELS.get(y, y)))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        title = config.get("title", "")
        suffix = ", ".join(f"{a} = {v}" for a, v in zip(panel_axes, combo))
        ax.set_title(" | ".join(t for t in (title, suffix) if t), fontsize=10)
        fig.tight_layout()
        stem = "plot" + "".join(f"_{a}={v}" for a, v in zip(panel_axes, combo))
        for ext in ("png", "pdf"):
            path = out / f"{stem}.{ext}"
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, dpi=120)
            atomic_write_bytes(path, buf.getvalue())
            written.append(path)
    return written


def _sort_key(value: str):
    return float(value) if _is_number(value) else value
