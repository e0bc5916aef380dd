"""Figures of a finished (or partial) sweep folder: one figure per panel, PNG and PDF.

The x axis is ``[plot] x`` (default: the first grid axis with more than one value); every
other grid axis with several values makes panels (one figure each, its value in the file
name); ``[plot] figures = { NAME = [curve, ...] }`` draws each named group of curves in a
figure of its own (``plot_figure=NAME.png``; a curve may be in several, and curves in none go
to ``plot.png``). Error bars are the points' confidence intervals, bands the spread over independently
trained receivers (min to max), and a point with no error seen is drawn as an upper bound;
curves differ in marker and line style as well as colour; rates use a log axis.

What a figure states about itself (read back from the Figure, or from the saved file's metadata):

- the title: the config's ``title`` with the system the figure's points actually ran, in the components'
  own words (:func:`hwsim.study.describe`: antennas, users, constellation, front end, converters; a part
  that differs between the figure's curves is left to the legend). A title holding ``{system}`` gets it
  there; any other title gets it on a second line. ``{KIND.PARAM}`` placeholders (``{channel.antennas}``)
  take the value every point of the figure shares. ``--set channel.antennas=8`` therefore draws
  ``N_r=8``, whatever the title says;
- a mark in the top right corner for a ``--quick`` run and for ``--set`` overrides (``quick run``,
  ``overrides: channel.antennas=8``), in red;
- the x axis names the SNR's definition from the channel (:meth:`hwsim.hooks.ChannelHooks.snr_definition`):
  ``SNR (dB), SNR = 1/N0 per receive antenna`` on the complex links, ``1/sigma^2 per real dimension`` on the
  real one; ``[plot] x_axis = "ebno_db"`` draws :math:`E_b/N_0` instead, each curve's points moved by its own
  ``SNR - Eb/N0`` (:func:`hwsim.study.ebno_offset_db`), the conversion written in the label;
- points with no error seen (upper bounds, ``v``) of different curves at one x are drawn side by side
  (each curve's offset by a small fraction of the axis), so one never hides another's.

The PNG and SVG carry the title in their ``Title`` metadata and the marks and axis labels in
``Description`` (PDF: ``Title`` and ``Subject``).
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
#: ``[plot] x_axis``: the grid's own SNR axis or :math:`E_b/N_0` derived from it.
X_AXES = ("snr_db", "ebno_db")
#: Colour of the quick-run and overrides mark.
MARK_COLOR = "#b00000"


def run_marks(config: dict) -> list[str]:
    """What the figure of a run with ``config`` (a manifest's) marks in its corner: a quick run, the overrides."""
    marks = []
    if config.get("quick_run"):
        marks.append("quick run (the config's [quick] settings)")
    overrides = config.get("overrides")
    if isinstance(overrides, list) and overrides:
        marks.append("overrides: " + ", ".join(str(o) for o in overrides))
    return marks


def _figure_points(settings: dict, grid: dict, curve_names, panel: dict) -> list[dict]:
    """Point keys of the curves ``curve_names`` at the panel values ``panel`` (strings, as results.csv
    writes them), every value of the other grid axes: what :func:`hwsim.study.describe` reads."""
    curves = {c.get("name"): c for c in settings.get("curves") or [] if isinstance(c, dict)}
    points = []
    for name in curve_names:
        fixed = {k: v for k, v in (curves.get(name) or {}).items() if k != "name"}
        axes = [a for a in grid if a not in fixed]
        values = [[v for v in grid[a] if a not in panel or _same_value(v, panel[a])] for a in axes]
        for combo in itertools.product(*values):
            points.append({**fixed, **dict(zip(axes, combo))})
    return points


def _same_value(value, text: str) -> bool:
    if _is_number(str(text)) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) == float(text)
    return str(value) == str(text)


def _facts(settings: dict, grid: dict, curve_names, panel: dict) -> dict:
    """:func:`hwsim.study.describe` of the figure's points; empty where the run's components cannot be read
    (a component of a plugin this process has not imported, a damaged manifest): the figure is still drawn."""
    from .. import study

    system = settings.get("system")
    if not isinstance(system, dict):
        return {}
    try:
        return study.describe(system, _figure_points(settings, grid, curve_names, panel))
    except Exception:  # noqa: BLE001 - a figure of an old or foreign run is drawn without its description
        return {}


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)\}")


def figure_title(title: str, facts: dict) -> str:
    """The config's ``title`` with ``{system}`` and ``{KIND.PARAM}`` filled from ``facts``
    (:func:`hwsim.study.describe`); the system on a line of its own when the title does not place it.
    A placeholder with no shared value stays as written."""
    system = facts.get("system", "")
    values = facts.get("values", {})

    def fill(m):
        key = m.group(1)
        if key == "system":
            return system
        if key in values:
            v = values[key]
            return f"{v:g}" if isinstance(v, float) else str(v)
        return m.group(0)

    placed = "{system}" in title
    text = _PLACEHOLDER.sub(fill, title)
    return text if placed or not system else "\n".join(t for t in (text, system) if t)


def _snr_label(facts: dict) -> str:
    return "SNR (dB)" + (f", {facts['snr']}" if facts.get("snr") else "")


def _ebno(settings: dict, grid: dict, curve: str, panel: dict) -> tuple[float, float] | None:
    """``(SNR - Eb/N0 in dB, bits)`` of ``curve`` in the panel (:func:`hwsim.study.ebno_offset_db`); None when
    the curve's points differ in it or have none."""
    from .. import study

    found = set()
    for point in _figure_points(settings, grid, [curve], panel):
        found.add(study.ebno_offset_db(settings["system"], point))
    return next(iter(found)) if len(found) == 1 else None


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
                    # curves i and i + 4 share a line style (four of them): their gray levels lie far apart
                    "colors": ("0.0", "0.0", "0.0", "0.0", "0.45", "0.45", "0.45", "0.45", "0.7", "0.7")}}
#: File formats a figure is written in (``[plot] formats``).
FORMATS = ("png", "pdf", "svg")


def plot_sweep(out_dir, *, curves=None, ylim=None, style: str = "screen", formats=("png", "pdf")) -> list[Path]:
    """Draw the sweep in ``out_dir``; returns the written files.

    ``curves``: only these curves (names; an unknown one is an error); ``ylim``: (low, high) of the
    y axis; ``style``: a key of :data:`STYLES`; ``formats``: any of :data:`FORMATS`.
    """
    formats = list(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"formats must be some of {', '.join(FORMATS)}, got {', '.join(map(str, formats)) or 'none'}")
    out = Path(out_dir)
    written = []
    for stem, fig, full, described in sweep_figures(out, curves=curves, ylim=ylim, style=style):
        for ext in formats:
            path = out / f"{stem}.{ext}"
            buf = io.BytesIO()
            meta = ({"Title": full, "Subject": described} if ext == "pdf" else
                    {"Title": full, "Description": described})
            fig.savefig(buf, format=ext, dpi=STYLES[style]["dpi"], metadata=meta)
            atomic_write_bytes(path, buf.getvalue())
            written.append(path)
    return written


def sweep_figures(out_dir, *, curves=None, ylim=None, style: str = "screen"):
    """The figures :func:`plot_sweep` saves, one at a time: ``(file stem, Figure, title, description)``, the
    description being the run's marks and the axis labels (what the saved files' metadata carry)."""
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
    x_axis = plot_cfg.get("x_axis", "snr_db")
    if x_axis not in X_AXES or (x_axis == "ebno_db" and x != "snr_db"):
        raise ValueError(f"{manifest_path}: plot.x_axis = {x_axis!r} needs one of {', '.join(X_AXES)}, and "
                         "\"ebno_db\" an x axis of snr_db")
    marks = run_marks(config)
    logy = bool(plot_cfg["logy"]) if "logy" in plot_cfg else _is_rate(config, y)
    if plot_cfg.get("db", False):  # [plot] db = true: the estimate, its interval and spread as 10 log10
        rows, logy = [_in_db(r, y) for r in rows], False
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
        names = list(dict.fromkeys(r["curve"] for r in sel))
        panel = dict(zip(panel_axes, combo))
        facts = _facts(settings, grid, names, panel)
        xlabel = _snr_label(facts) if x == "snr_db" else _LABELS.get(x, x)
        shifts, bits_seen = {}, set()
        if x_axis == "ebno_db":
            for curve in names:
                found = _ebno(settings, grid, curve, panel)
                if found is None:
                    raise ValueError(f"{manifest_path}: plot.x_axis = \"ebno_db\": curve {curve!r} has no Eb/N0 (its "
                                     "source states no information bits per symbol, an estimation link)")
                shifts[curve] = found[0]
                bits_seen.add(found[1])
            xlabel = _ebno_label(facts, bits_seen, shifts)
        span = _x_span(sel, x, shifts)
        for i, curve in enumerate(names):
            pts = sorted((r for r in sel if r["curve"] == curve and _is_number(r[x])), key=lambda r: float(r[x]))
            if shifts:
                pts = [{**r, x: str(float(r[x]) - shifts[curve])} for r in pts]
            if pts:
                if look["colors"] is not None:
                    color = {"color": look["colors"][i % len(look["colors"])]}
                elif len(names) > _MANY_COLORS:
                    color = {"color": _many_color(i)}
                else:
                    color = None
                # no-error bounds of different curves side by side: centred, a small step of the axis apart
                offset = (i - (len(names) - 1) / 2) * _BOUND_STEP * span if len(names) > 1 else 0.0
                handle, curve_notes = _draw_curve(ax, curve, pts, x, y, logy, i, style=color, bound_offset=offset)
                handles.append(handle)
                notes |= curve_notes
        if logy:
            ax.set_yscale("log")
        if ylim is not None:
            ax.set_ylim(lo, hi)
        ax.set_xlabel(plot_cfg.get("xlabel", xlabel), fontsize=look["font"])
        ax.set_ylabel(plot_cfg.get("ylabel", _LABELS.get(y, y)), fontsize=look["font"])
        ax.tick_params(labelsize=look["font"] - 1)
        ax.grid(True, which="both", alpha=0.3)
        # outside the axes, so that it never hides a curve
        ax.legend(handles=handles, fontsize=look["legend"], loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  borderaxespad=0.0)
        title = figure_title(str(config.get("title") or ""), facts)
        suffix = ", ".join(f"{a} = {v}" for a, v in zip(panel_axes, combo))
        head, _, system_line = title.partition("\n")
        full = " | ".join(t for t in (head, group_name, suffix) if t) + (f"\n{system_line}" if system_line else "")
        ax.set_title(_wrap_title(full, fig, look["font"]), fontsize=look["font"])
        fig.text(0.01, 0.01, "; ".join(sorted(notes)), fontsize=look["font"] - 3, color="0.35")
        top = 1.0
        if marks:  # a quick run, overrides: in red in the top right corner, above the title, never cut
            lines = _wrap_marks(marks, fig, look["font"] - 2)
            fig.text(0.99, 0.995, "\n".join(lines), fontsize=look["font"] - 2, color=MARK_COLOR, ha="right",
                     va="top", gid="hwsim-run-marks", fontweight="bold")
            top = 1.0 - 0.045 * len(lines)
        fig.tight_layout(rect=(0, 0.03, 1, top))
        described = "; ".join([*marks, f"x: {ax.get_xlabel()}", f"y: {ax.get_ylabel()}"])
        stem = "plot" + group_stem + "".join(f"_{_name_part(a)}={_name_part(v)}" for a, v in zip(panel_axes, combo))
        yield stem, fig, full, described


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
#: How far apart (a fraction of the x span) the no-error bounds of neighbouring curves are drawn.
_BOUND_STEP = 0.012


def _x_span(rows: list[dict], x: str, shifts: dict) -> float:
    xs = [float(r[x]) - shifts.get(r["curve"], 0.0) for r in rows if _is_number(r[x])]
    xs = [v for v in xs if np.isfinite(v)]
    return (max(xs) - min(xs)) if len(xs) > 1 and max(xs) > min(xs) else 1.0


def _ebno_label(facts: dict, bits: set, shifts: dict) -> str:
    """The Eb/N0 axis label, stating the conversion used."""
    real = " - 3.01 dB (real link: N0 = 2 sigma^2)" if "real" in facts.get("snr", "") else ""
    if len(bits) == 1:
        b = next(iter(bits))
        how = f"SNR - 10 log10({b:g} information bits per symbol per user){real}"
    else:
        how = f"SNR - 10 log10(b){real}, b = each curve's information bits per symbol per user (x code rate)"
    return f"Eb/N0 (dB) = {how}" + (f"; {facts['snr']}" if facts.get("snr") else "")
_MARKERS = "os^D<>PXh*"  # not "v": it marks the no-error bounds
_LINES = ("-", "--", "-.", ":")
# More than ten curves in colour: Matplotlib's 20-colour palette, its ten dark shades first and then their light
# ones, so that curve i + 10 has curve i's hue in a lighter shade (and a marker of its own: _marker).
_MANY_COLORS = 10


def _marker(i: int) -> str:
    """Curve ``i``'s marker: curves ``i`` and ``i + 10`` (same marker index) get different ones."""
    return _MARKERS[(i + i // len(_MARKERS)) % len(_MARKERS)]


def _many_color(i: int):
    """Curve ``i``'s colour when a panel has more than ten curves (screen style)."""
    from matplotlib import colormaps

    palette = colormaps["tab20"].colors
    return palette[(2 * i) % 20 if i % 20 < 10 else (2 * (i % 10) + 1)]


def _wrap_title(text: str, fig, font: float) -> str:
    """Each line of a title broken to the width of the axes (about 60 % of the figure; the legend is beside
    them), so that a long title is never cut at the figure's edge."""
    import textwrap

    chars = max(30, int(0.6 * fig.get_figwidth() * 72 / (0.55 * font)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def _wrap_marks(marks: list[str], fig, font: float) -> list[str]:
    """The run's marks as lines that fit the figure's width (bold text, a little wider than the title's)."""
    import textwrap

    chars = max(30, int(0.97 * fig.get_figwidth() * 72 / (0.62 * font)))
    return [line for mark in marks for line in textwrap.wrap(mark, chars, break_on_hyphens=False)]


def _draw_curve(ax, curve: str, pts: list[dict], x: str, y: str, logy: bool, i: int, *, label: str | None = None,
                style: dict | None = None, bound_offset: float = 0.0):
    """One curve: its estimates with interval bars, a band for the spread over replicas, upper
    bounds for points without any error; returns its legend handle and notes for the caption.
    ``label`` replaces the curve name in the legend; ``style`` overrides the line's style (marker,
    ls, color, mfc, ...) that the curve's index ``i`` picks; ``bound_offset`` moves the no-error bounds along
    x (so that the bounds of several curves at one x stay apart)."""
    notes = set()
    xs = np.array([float(r[x]) for r in pts])
    est = np.array([float(r[y]) for r in pts])
    lo = np.array([float(r["ci_low"]) for r in pts])
    hi = np.array([float(r["ci_high"]) for r in pts])
    exact = all(r["stop"] == "exact" for r in pts)
    # closed forms: large hollow markers, so a simulated point drawn at the same place stays visible
    style = {**dict(marker=_marker(i), ls=_LINES[i % len(_LINES)], ms=8 if exact else 4,
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
        ax.plot(xs[bound] + bound_offset, hi[bound], "v", color=line.get_color(), ms=6, gid=f"bound:{curve}")
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
