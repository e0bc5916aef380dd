r"""Comparing finished sweeps: overlaid figures and differences with confidence intervals.

``hwsim compare DIR1 DIR2 ...`` reads the ``results.csv`` and ``manifest.json`` of each run
folder. The first folder is the *reference*; every other run is compared with it.

Matching points
    Two points match when they belong to the same curve (equal curve names; or the curves
    named by ``pairs``, which then replace name matching) and have the same values on the
    grid axes of both runs (numbers compared as numbers: ``2`` equals ``2.0``). Points whose
    curve or grid position exists in one run only are drawn but not compared. Runs of
    different configs are compared the same way: a learned receiver's run against a baseline
    run needs ``pairs`` when the curves are named differently.

The difference and its interval
    For a matching pair the difference is ``other - reference``. Its interval combines the two
    points' own intervals by the MOVER method (method of variance estimates recovery;
    Newcombe, *Interval estimation for the difference between independent proportions*,
    Stat. Med. 1998, method 10; Zou and Donner, *Construction of confidence limits about
    effect measures: a general approach*, Stat. Med. 2008): with estimates
    :math:`\hat a` (reference), :math:`\hat b` (other) and interval ends :math:`l, u`,

    .. math::

        L = \hat b - \hat a - \sqrt{(\hat b - l_b)^2 + (u_a - \hat a)^2}, \qquad
        U = \hat b - \hat a + \sqrt{(u_b - \hat b)^2 + (\hat a - l_a)^2}.

    Each half-width counts as a normal approximation of that side's uncertainty; half-widths
    are first rescaled to the requested level (by the ratio of normal quantiles) when a run
    used another confidence. With the Wilson intervals of error rates this is Newcombe's
    hybrid score interval; it keeps the intervals' asymmetry, so a point with **no error
    observed** (estimate 0, interval [0, u]) enters with its upper bound ``u`` as the
    uncertainty on the side where its true rate may lie, and none below 0. Clustered
    intervals and t intervals (MSE, replicas of trained receivers) enter the same way; with few
    replicas this is conservative (each side keeps its own t quantile). The difference is
    *significant* at the level when its interval excludes 0.

Independence
    The formula assumes the two estimates are independent. Two runs are independent unless a
    point of each drew the same random numbers: same root seed and common-random-numbers
    setting, and the same curve and parameters (with common random numbers: the same grid
    position). Such pairs are marked ``same draws``; when the two runs have the same config
    (equal config hashes in their manifests) and their numbers agree too, the pair is
    ``identical`` (difference 0, nothing to test). Equal numbers from different configs (a change
    that did not reach this point) are not called identical: they are tested like any pair and
    marked ``same draws, other config``. Same draws with different numbers (a run before and after
    a code change, or with a different ``--set``) are positively correlated, so the interval above
    is then conservative (too wide). Common random numbers *within* one run do not make two runs
    dependent.

Different systems
    Two points with the same seed and parameters are *not* the same draws when the runs' systems
    differ at that point: the receiver-independent stages (source, channel, front end, converters;
    :data:`hwsim.study.DESCRIBED`) with every default filled, as the manifests' resolved settings hold
    them, and the point's own keys of those stages. Such a pair is marked ``different systems`` with what
    differs (``channel.antennas 16 -> 8``), and the printed block for the run starts with a line saying so.

Damaged folders
    A manifest that is not a JSON object with a config, or a results.csv that is cut, ragged or
    holds a non-number where a number belongs, is refused with :class:`CompareError` naming the
    file and line (:func:`hwsim.engine.results.load_results`). A difference that is not a number
    (a NaN estimate) is ``undefined``, never "not significant".
"""

from __future__ import annotations

import io
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .._files import atomic_write_bytes
from .._progress import shown
from .results import load_results, read_manifest, result_layout

#: Output formats of the comparison figure (the suffix of ``out``).
FORMATS = ("png", "pdf", "svg")


class CompareError(ValueError):
    """Runs that cannot be compared (a folder without results, different metrics or x axes, bad names)."""


@dataclass
class Run:
    """One finished (or partial) sweep folder."""

    path: Path
    label: str
    manifest: dict
    rows: list[dict]
    y: str                      # the metric's results.csv column: ber, ser, mse, ...
    samples: str                # the sample-count column: bits, symbols, samples, ...
    params: list[str]           # the point-parameter columns of results.csv
    grid: dict
    confidence: float
    seed: int | None
    common_random_numbers: bool
    config: dict = field(repr=False, default_factory=dict)

    @property
    def curves(self) -> list[str]:
        return list(dict.fromkeys(r["curve"] for r in self.rows))


def load_run(path, label: str | None = None) -> Run:
    """Read a sweep folder; raises :class:`CompareError` with a one-line reason when it holds no results."""
    path = Path(path)
    label = str(path) if label is None else label
    if not path.exists():
        raise CompareError(f"{label} does not exist")
    if not path.is_dir():
        raise CompareError(f"{label} is not a folder (give sweep output folders)")
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise CompareError(f"{label} holds no sweep (no manifest.json)")
    csv_path = path / "results.csv"
    try:
        manifest = read_manifest(manifest_path)
        rows = load_results(csv_path, journal=path / "points.jsonl") if csv_path.is_file() else []
    except ValueError as exc:
        raise CompareError(str(exc)) from None
    if not rows:
        raise CompareError(f"{label} has no finished points yet (no results.csv rows); run or resume the sweep first")
    y, samples, params = result_layout(list(rows[0]))
    config = manifest["config"]
    settings = manifest.get("settings") or {}
    grid = settings.get("grid") or config.get("grid") or {}
    stopping = settings.get("stopping") or {}
    if not (isinstance(grid, dict) and all(isinstance(v, list) for v in grid.values()) and isinstance(stopping, dict)):
        raise CompareError(f"{manifest_path} is damaged: its grid is not a table of lists or its stopping not a table")
    try:
        confidence = float(stopping.get("confidence", 0.95))
    except (TypeError, ValueError):
        confidence = math.nan
    if not 0.0 < confidence < 1.0:
        raise CompareError(f"{manifest_path} is damaged: stopping.confidence = {stopping.get('confidence')!r} does not "
                           "lie in (0, 1)")
    crn = bool(settings.get("common_random_numbers", config.get("common_random_numbers", False)))
    seed = manifest.get("root_seed", config.get("seed"))
    return Run(path, label, manifest, rows, y, samples, params, grid, confidence, seed, crn, config)


def _value(text: str):
    """A results.csv cell as a comparable value: a float when it is a number, else the text."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def _z(confidence: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(0.5 + confidence / 2))


def mover_interval(a: float, a_low: float, a_high: float, b: float, b_low: float, b_high: float,
                   *, scale_a: float = 1.0, scale_b: float = 1.0) -> tuple[float, float, float]:
    """``(b - a, low, high)``: the MOVER interval of the difference of two independent estimates from
    their own intervals (see the module doc); ``scale_*`` rescale each interval's half-widths to the
    level wanted (ratio of normal quantiles)."""
    d = b - a
    low = d - math.hypot((b - b_low) * scale_b, (a_high - a) * scale_a)
    high = d + math.hypot((b_high - b) * scale_b, (a - a_low) * scale_a)
    return d, low, high


@dataclass
class Difference:
    """One matched pair of points: the reference's and the other run's rows and their difference."""

    reference: Run
    other: Run
    ref_row: dict
    other_row: dict
    where: dict                 # grid axis -> value (text as in results.csv)
    difference: float
    low: float
    high: float
    confidence: float
    same_draws: bool
    identical: bool
    exact: bool
    #: What differs between the two points' systems (:func:`system_changes`); empty: the same system.
    system_changes: list = field(default_factory=list)

    @property
    def undefined(self) -> bool:
        """The difference or its interval is not a number (a NaN estimate or interval end): nothing to test."""
        return not self.identical and any(math.isnan(v) for v in (self.difference, self.low, self.high))

    @property
    def significant(self) -> bool:
        return not self.identical and not self.undefined and (self.low > 0 or self.high < 0)

    @property
    def verdict(self) -> str:
        if self.identical:
            return "identical (same seed, config and results)"
        if self.undefined:
            return "undefined (not a number)"
        if self.exact:
            return ("different" if self.difference else "equal") + " (exact values)"
        word = "significant" if self.significant else "not significant"
        if self.system_changes:
            word += f" (different systems: {'; '.join(self.system_changes)})"
        elif self.same_draws:
            word += " (same draws" + (", other config" if self.equal_numbers else "") + ": conservative)"
        return word

    @property
    def equal_numbers(self) -> bool:
        """Same draws and the same numbers, but not the same config (so not called identical)."""
        return self.same_draws and not self.identical and _identical(self.reference, self.other, self.ref_row,
                                                                     self.other_row)


def _system_of(run: Run, row: dict) -> dict:
    """The receiver-independent stages of ``run`` at the point ``row`` as flat ``{"KIND.PARAM": value}`` (and
    ``"KIND"``: its type): the manifest's resolved tables with the row's own keys of those stages."""
    from ..study import DESCRIBED

    system = (run.manifest.get("settings") or {}).get("system")
    system = system if isinstance(system, dict) else {}
    flat = {}
    for kind in DESCRIBED:
        table = system.get(kind) if isinstance(system.get(kind), dict) else {}
        for param, value in table.items():
            flat[kind if param == "type" else f"{kind}.{param}"] = json.dumps(value, sort_keys=True)
    for key in run.params:
        if key.partition(".")[0] in DESCRIBED and row.get(key, "") != "":
            flat[key] = json.dumps(_value(row[key]))
    return flat


def system_changes(ref: Run, other: Run, a: dict, b: dict) -> list[str]:
    """What differs between the two points' systems (``"channel.antennas 16 -> 8"``), [] when nothing does or a
    manifest records no resolved system (an old run: nothing to say)."""
    if not ((ref.manifest.get("settings") or {}).get("system") and (other.manifest.get("settings") or {}).get("system")):
        return []
    sa, sb = _system_of(ref, a), _system_of(other, b)
    out = []
    for key in sorted(set(sa) | set(sb)):
        if sa.get(key) != sb.get(key):
            out.append(f"{key} {json.loads(sa[key]) if key in sa else '(none)'} -> "
                       f"{json.loads(sb[key]) if key in sb else '(none)'}")
    return out


def _same_draws(ref: Run, other: Run, a: dict, b: dict) -> bool:
    """Whether two points drew the same random numbers (see the module doc)."""
    if system_changes(ref, other, a, b):
        return False  # the same seed and keys draw other numbers in another system
    if ref.seed is None or ref.seed != other.seed or ref.common_random_numbers != other.common_random_numbers:
        return False
    if ref.common_random_numbers:  # the stream is keyed by the grid position alone
        return set(ref.grid) == set(other.grid)
    if a["curve"] != b["curve"]:
        return False
    pa = {k: _value(a[k]) for k in ref.params if a.get(k, "") != ""}
    pb = {k: _value(b[k]) for k in other.params if b.get(k, "") != ""}
    return pa == pb


_SAME = ("ci_low", "ci_high", "errors")


def _identical(ref: Run, other: Run, a: dict, b: dict) -> bool:
    return (_value(a[ref.y]) == _value(b[other.y]) and all(_value(a[k]) == _value(b[k]) for k in _SAME)
            and _value(a[ref.samples]) == _value(b[other.samples]))


def _config_identity(run: Run):
    """What makes two runs' configs the same: the manifest's config hash (the sweep's identity), or the
    config itself in a manifest that records none."""
    digest = run.manifest.get("config_hash")
    return ("hash", digest) if isinstance(digest, str) and digest else ("config", json.dumps(run.config,
                                                                                             sort_keys=True))


def same_config(ref: Run, other: Run) -> bool:
    """Whether two runs ran the same config (equal config hashes)."""
    return _config_identity(ref) == _config_identity(other)


def _check_metrics(runs: list[Run]) -> None:
    ref = runs[0]
    for run in runs[1:]:
        if run.y != ref.y:
            raise CompareError(f"cannot compare {ref.label} ({ref.y}) with {run.label} ({run.y}): the runs measure "
                               "different metrics")


def _check_names(runs: list[Run], curves, pairs) -> tuple[list[str] | None, list[tuple[str, str]] | None]:
    known = list(dict.fromkeys(c for run in runs for c in run.curves))
    if curves:
        curves = list(dict.fromkeys(curves))
        unknown = [c for c in curves if c not in known]
        if unknown:
            raise CompareError(f"no run has a curve named {', '.join(map(repr, unknown))}; the curves are: "
                               f"{', '.join(map(repr, known))}")
    if pairs:
        pairs = [tuple(p) for p in pairs]
        for ref_name, other_name in pairs:
            if ref_name not in runs[0].curves:
                raise CompareError(f"--pair {ref_name!r} {other_name!r}: the reference run {runs[0].label} has no curve "
                                   f"{ref_name!r}; its curves are: {', '.join(map(repr, runs[0].curves))}")
            if not any(other_name in run.curves for run in runs[1:]):
                raise CompareError(f"--pair {ref_name!r} {other_name!r}: no other run has a curve {other_name!r}; "
                                   f"their curves are: "
                                   f"{', '.join(map(repr, dict.fromkeys(c for r in runs[1:] for c in r.curves)))}")
        if curves:  # a paired curve is always shown
            curves = list(dict.fromkeys([*curves, *(n for p in pairs for n in p)]))
    return curves or None, pairs or None


def _keep(run: Run, curves) -> list[dict]:
    return [r for r in run.rows if curves is None or r["curve"] in curves]


def match_points(runs: list[Run], *, curves=None, pairs=None, confidence: float | None = None) -> list[Difference]:
    """The differences of every other run from the reference ``runs[0]`` at their matching points.

    ``curves``: only these curve names; ``pairs``: ``[(reference curve, other curve), ...]`` to
    compare instead of equal names; ``confidence``: the level of the differences' intervals
    (default: the reference's).
    """
    if len(runs) < 2:
        raise CompareError("compare needs at least two run folders")
    _check_metrics(runs)
    curves, pairs = _check_names(runs, curves, pairs)
    ref = runs[0]
    level = ref.confidence if confidence is None else float(confidence)
    if not 0.0 < level < 1.0:
        raise CompareError(f"confidence must lie in (0, 1), got {level}")
    z = _z(level)
    out = []
    for other in runs[1:]:
        axes = list(dict.fromkeys([*ref.grid, *other.grid]))
        mapping = pairs if pairs else [(c, c) for c in ref.curves if c in other.curves]
        index: dict = {}
        for row in _keep(other, curves):
            index.setdefault((row["curve"], tuple(_value(row.get(a, "")) for a in axes)), row)
        for ref_name, other_name in mapping:
            for a in _keep(ref, curves):
                if a["curve"] != ref_name:
                    continue
                b = index.get((other_name, tuple(_value(a.get(ax, "")) for ax in axes)))
                if b is None:
                    continue
                d, low, high = mover_interval(float(a[ref.y]), float(a["ci_low"]), float(a["ci_high"]),
                                              float(b[other.y]), float(b["ci_low"]), float(b["ci_high"]),
                                              scale_a=z / _z(ref.confidence), scale_b=z / _z(other.confidence))
                changes = system_changes(ref, other, a, b)
                same = not changes and _same_draws(ref, other, a, b)
                identical = same and same_config(ref, other) and _identical(ref, other, a, b)
                exact = a.get("stop") == "exact" and b.get("stop") == "exact"
                where = {ax: a.get(ax, "") for ax in axes if a.get(ax, "") != ""}
                out.append(Difference(ref, other, a, b, where, d, low, high, level, same, identical, exact,
                                      changes))
    return out


def _num(v: float) -> str:
    return f"{v:.3e}"


def _signed(v: float) -> str:
    return f"{v:+.2e}"


def format_differences(runs: list[Run], diffs: list[Difference], pairs=None) -> str:
    """The table ``hwsim compare`` prints: one block per other run, one line per matched point."""
    ref = runs[0]
    lines = []
    level = diffs[0].confidence if diffs else ref.confidence
    lines.append(f"differences other - reference at matching points (same curve{' pair' if pairs else ''}, same grid "
                 f"values); reference: {ref.label}")
    lines.append(f"{level:.0%} intervals of a difference combine the two points' own intervals (MOVER, Newcombe "
                 "1998); significant: the interval excludes 0")
    for other in runs[1:]:
        mine = [d for d in diffs if d.other is other]
        lines.append("")
        lines.append(f"{other.label} - {ref.label} ({ref.y})")
        changed = list(dict.fromkeys(c for d in mine for c in d.system_changes))
        if changed:
            lines.append(f"  different systems (not the same draws, whatever the seed): {'; '.join(changed)}")
        if not mine:
            hint = "" if pairs else "; name the curves to compare with --pair REFERENCE_CURVE OTHER_CURVE"
            lines.append(f"  no matching points (no curve{' pair' if pairs else ''} at common grid values{hint})")
            continue
        axes = list(dict.fromkeys(a for d in mine for a in d.where))
        table = [["curve", *axes, f"reference {ref.y} [CI]", f"other {ref.y} [CI]", f"difference [{level:.0%} CI]",
                  ""]]
        for d in mine:
            a, b = d.ref_row, d.other_row
            name = shown(a["curve"] if a["curve"] == b["curve"] else f"{a['curve']} -> {b['curve']}")
            table.append([name, *(d.where.get(ax, "") for ax in axes),
                          f"{_num(float(a[ref.y]))} [{float(a['ci_low']):.2e}, {float(a['ci_high']):.2e}]",
                          f"{_num(float(b[other.y]))} [{float(b['ci_low']):.2e}, {float(b['ci_high']):.2e}]",
                          "0 (the same numbers)" if d.identical else
                          f"{_signed(d.difference)} [{_signed(d.low)}, {_signed(d.high)}]", d.verdict])
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        counts = sum(d.significant for d in mine), sum(d.identical for d in mine)
        lines.append(f"  {len(mine)} matched points: {counts[0]} significant differences"
                     + (f", {counts[1]} identical" if counts[1] else ""))
    return "\n".join(lines)


# --------------------------------------------------------------------------- figures
def _x_axis(runs: list[Run]) -> str:
    from .plotting import default_x

    ref = runs[0]
    x = (ref.config.get("plot") or {}).get("x") or default_x(ref.grid)
    for run in runs[1:]:
        if x not in run.params:
            raise CompareError(f"{run.label} has no {x!r} values (the x axis of {ref.label}): the runs cannot share "
                               "a figure")
    return x


def _logy(ref: Run) -> bool:
    plot_cfg = ref.config.get("plot") or {}
    if "logy" in plot_cfg:
        return bool(plot_cfg["logy"])
    try:
        from .. import study

        study.check_name(ref.config["study"])
        return study.config_metric(ref.config) == "rate"
    except Exception:  # noqa: BLE001 - a study this version does not know: judge by the column
        return ref.y in ("ber", "ser")


def plot_compare(runs: list[Run], out, *, curves=None, pairs=None) -> list[Path]:
    """Overlay the runs (legend ``"DIR: curve"``) in one figure per panel; returns the written files.

    ``out``: the figure's file (``.png``, ``.pdf`` or ``.svg``); with panels (grid axes besides x
    with several values) each panel goes to ``STEM_AXIS=VALUE.EXT``. A curve keeps its colour
    and marker in every run; the runs differ in line style (and hollow markers after the first).
    """
    out = Path(out)
    ext = out.suffix.lstrip(".").lower()
    if ext not in FORMATS:
        raise CompareError(f"--out must end in one of {', '.join('.' + f for f in FORMATS)}, got {str(out)!r}")
    if not out.parent.is_dir():
        raise CompareError(f"--out {out}: the folder {out.parent} does not exist")
    written = []
    for suffix, fig in compare_figures(runs, curves=curves, pairs=pairs):
        path = out.with_name(out.stem + suffix + out.suffix) if suffix else out
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=120)
        atomic_write_bytes(path, buf.getvalue())
        written.append(path)
    return written


def compare_figures(runs: list[Run], *, curves=None, pairs=None):
    """Yield ``(file-name suffix, matplotlib Figure)`` per panel: ``""`` without panels, else
    ``"_AXIS=VALUE..."`` (see :func:`plot_compare`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .plotting import MARK_COLOR, _LABELS, _LINES, _MARKERS, _draw_curve, _in_db, _is_number, _sort_key, run_marks

    if not runs:
        raise CompareError("compare needs run folders")
    _check_metrics(runs)
    curves, pairs = _check_names(runs, curves, pairs)
    x = _x_axis(runs)
    ref = runs[0]
    y = ref.y
    kept = [_keep(run, curves) for run in runs]
    axes = list(dict.fromkeys(a for run in runs for a in run.grid if a != x))
    panel_axes = [a for a in axes if len({r.get(a, "") for rows in kept for r in rows} - {""}) > 1]
    panel_values = [sorted({r.get(a, "") for rows in kept for r in rows} - {""},
                           key=lambda v: (not _is_number(v), _sort_key(v))) for a in panel_axes]
    names = list(dict.fromkeys(r["curve"] for rows in kept for r in rows))
    logy = _logy(ref)
    levels = sorted({run.confidence for run in runs})
    plot_cfg = ref.config.get("plot") or {}
    if plot_cfg.get("db", False):  # the reference run draws in dB (``[plot] db``): so does the overlay
        kept, logy = [[_in_db(r, y) for r in rows] for rows in kept], False
    marks = [f"{run.label}: {mark}" for run in runs for mark in run_marks(run.config)]
    changed = []  # what differs between the reference's system and another run's, for curves they share
    for run in runs[1:]:
        for curve in names:
            a = next((r for r in ref.rows if r["curve"] == curve), None)
            b = next((r for r in run.rows if r["curve"] == curve), None)
            if a is not None and b is not None:
                changed += [c for c in system_changes(ref, run, a, b) if c not in changed]
    for combo in itertools.product(*panel_values) if panel_axes else [()]:
        fig = Figure(figsize=(9.6, 5.0))
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        notes = {"bars: " + " / ".join(f"{c:.0%}" for c in levels) + " confidence intervals",
                 "line style: run (" + ", ".join(f"{_LINES[k % len(_LINES)]} {run.label}"
                                                 for k, run in enumerate(runs)) + ")"}
        handles = []
        for k, (run, rows) in enumerate(zip(runs, kept)):
            sel = [r for r in rows if all(r.get(a, "") in ("", v) for a, v in zip(panel_axes, combo))]
            for curve in dict.fromkeys(r["curve"] for r in sel):
                pts = sorted((r for r in sel if r["curve"] == curve and _is_number(r.get(x, ""))),
                             key=lambda r: float(r[x]))
                if not pts:
                    continue
                i = names.index(curve)
                style = {"color": f"C{i % 10}", "marker": _MARKERS[i % len(_MARKERS)], "ls": _LINES[k % len(_LINES)]}
                if k:
                    style["mfc"] = "none"
                handle, curve_notes = _draw_curve(ax, curve, pts, x, y, logy, i, label=f"{run.label}: {curve}",
                                                  style=style)
                handles.append(handle)
                notes |= curve_notes
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel(plot_cfg.get("xlabel", _LABELS.get(x, x)))
        ax.set_ylabel(plot_cfg.get("ylabel", _LABELS.get(y, y)))
        ax.grid(True, which="both", alpha=0.3)
        if handles:
            ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        suffix = ", ".join(f"{a} = {v}" for a, v in zip(panel_axes, combo))
        title = " | ".join(t for t in ("compare: " + ", ".join(run.label for run in runs), suffix) if t)
        if changed:
            title += "\ndifferent systems: " + "; ".join(changed)
        ax.set_title(title, fontsize=9)
        fig.text(0.01, 0.01, "; ".join(sorted(notes)), fontsize=7, color="0.35")
        top = 1.0
        if marks:  # each run's quick-run and overrides marks, in red in the top right corner, as plot.png has
            fig.text(0.99, 0.995, "\n".join(marks), fontsize=7, color=MARK_COLOR, ha="right", va="top",
                     gid="hwsim-run-marks", fontweight="bold")
            top = 1.0 - 0.04 * len(marks)
        fig.tight_layout(rect=(0, 0.03, 1, top))
        yield "".join(f"_{a}={v}" for a, v in zip(panel_axes, combo)), fig


def compare(dirs, *, out=None, curves=None, pairs=None, confidence: float | None = None):
    """Load the run folders ``dirs`` (the first is the reference), draw them into ``out`` (None: no
    figure) and return ``(runs, differences, written figure files)``."""
    dirs = [str(d) for d in dirs]
    if len(dirs) < 2:
        raise CompareError("compare needs at least two run folders (the first is the reference)")
    labels, seen = [], {}
    for d in dirs:
        seen[d] = seen.get(d, 0) + 1
        labels.append(d if seen[d] == 1 else f"{d} ({seen[d]})")
    runs = [load_run(d, label) for d, label in zip(dirs, labels)]
    diffs = match_points(runs, curves=curves, pairs=pairs, confidence=confidence)
    written = plot_compare(runs, out, curves=curves, pairs=pairs) if out is not None else []
    return runs, diffs, written
