"""Figures a paper would accept, checked on the figure objects: zero-error points as upper bounds,
curves that stay distinct in grayscale, the interval's level in the caption."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hwsim.engine.plotting import STYLES, _draw_curve  # noqa: E402


def _row(x, ber, low, high, stop="target_errors"):
    return {"snr_db": str(x), "ber": str(ber), "ci_low": str(low), "ci_high": str(high), "stop": stop}


def test_a_point_with_no_error_is_an_upper_bound_at_the_interval_upper_end():
    ax = Figure().subplots()
    pts = [_row(0, 1e-2, 9e-3, 1.1e-2), _row(5, 1e-4, 8e-5, 1.2e-4), _row(10, 0.0, 0.0, 3.7e-7)]
    handle, notes = _draw_curve(ax, "MAP", pts, "snr_db", "ber", True, 0)
    bounds = [line for line in ax.lines if line.get_marker() == "v"]
    assert len(bounds) == 1
    assert np.allclose(bounds[0].get_xdata(), [10.0]) and np.allclose(bounds[0].get_ydata(), [3.7e-7])
    assert "v: no error seen, upper end of the interval" in notes
    # the estimate line holds only the points with errors (a log axis cannot show 0)
    assert np.allclose(handle[0].get_xdata(), [0.0, 5.0])


def test_curves_differ_in_marker_and_line_style_not_only_colour():
    ax = Figure().subplots()
    paper = STYLES["paper"]["colors"]
    lines = []
    for i in range(12):
        pts = [_row(0, 1e-2 * (i + 1), 5e-3, 2e-2 * (i + 1)), _row(5, 1e-3, 5e-4, 2e-3)]
        handle, _ = _draw_curve(ax, f"c{i}", pts, "snr_db", "ber", True, i, style={"color": paper[i % len(paper)]})
        lines.append(handle[0])
    looks = [(line.get_marker(), line.get_linestyle()) for line in lines]
    assert len(set(looks)) == len(looks)  # distinguishable with colour removed
    grays = [to_rgb(line.get_color()) for line in lines]
    assert all(r == g == b for r, g, b in grays)  # the paper style prints in gray levels


def test_the_caption_states_the_interval_level(tmp_path):
    from hwsim.engine.plotting import plot_sweep
    from hwsim.engine.sweep import parse_config, run_sweep

    data = {"study": "link", "seed": 3, "source": {"type": "users", "users": 1, "constellation": "bpsk"},
            "channel": {"type": "awgn", "antennas": 1, "frame_len": 100}, "receiver": {"type": "zf"},
            "grid": {"snr_db": [0.0, 30.0]}, "curves": [{"name": "BPSK"}],
            "stopping": {"max_samples": 20_000, "batch": 10_000, "target_errors": 50, "confidence": 0.9}}
    run_sweep(parse_config(data), tmp_path, workers=1, quiet=True, plot=False)
    written = plot_sweep(tmp_path, formats=("svg",))
    text = written[0].read_text()
    assert "90% confidence intervals" in text and "no error seen" in text


# --- figures that state what they show (issue 30 item 2) ---------------------------------------------------------

def _flat_link(**extra) -> dict:
    """A complex flat link small enough to run in a second: LMMSE, unquantized, two curves."""
    return {"study": "link", "seed": 5, "title": "{system}: a test",
            "source": {"type": "users", "users": 2, "constellation": "qpsk"},
            "channel": {"type": "rayleigh", "antennas": 16, "frame_len": 50}, "receiver": {"type": "lmmse"},
            "grid": {"snr_db": [0.0, 40.0]},
            "curves": [{"name": "LMMSE"}, {"name": "ZF", "receiver": "zf"}],
            "stopping": {"max_samples": 4_000, "min_samples": 0, "batch": 2_000, "target_errors": 50},
            "quick": {"stopping": {"max_samples": 2_000}}, **extra}


def _figures(tmp_path, data, *, quick=False, overrides=()):
    from hwsim.engine.config import parse_config, parse_override
    from hwsim.engine.plotting import sweep_figures
    from hwsim.engine.sweep import run_sweep

    cfg = parse_config(data, quick=quick, overrides=[parse_override(o) for o in overrides])
    run_sweep(cfg, tmp_path, workers=1, quiet=True, plot=False)
    return list(sweep_figures(tmp_path))


def test_the_title_states_the_system_actually_run_and_marks_quick_runs_and_overrides(tmp_path):
    from PIL import Image

    from hwsim.engine.plotting import MARK_COLOR, plot_sweep

    ((stem, fig, title, described),) = _figures(tmp_path, _flat_link(), quick=True,
                                                overrides=["channel.antennas=8"])
    ax = fig.axes[0]
    assert ax.get_title() == title == "N_r=8, i.i.d. Rayleigh, K=2, QPSK: a test"  # not the file's 16
    marks = [t for t in fig.texts if t.get_gid() == "hwsim-run-marks"]
    assert len(marks) == 1 and marks[0].get_color() == MARK_COLOR
    assert marks[0].get_text() == "quick run (the config's [quick] settings)\noverrides: channel.antennas=8"
    assert ax.get_xlabel() == "SNR (dB), SNR = 1/N0 per receive antenna"
    (png,) = plot_sweep(tmp_path, formats=("png",))
    meta = Image.open(png).text
    assert meta["Title"] == title
    assert "quick run" in meta["Description"] and "overrides: channel.antennas=8" in meta["Description"]
    assert "x: SNR (dB), SNR = 1/N0 per receive antenna" in meta["Description"]


def test_a_plain_run_has_no_mark_and_a_title_without_placeholder_gets_the_system_below(tmp_path):
    data = _flat_link(title="Massive MIMO, antennas = {channel.antennas}")
    ((_, fig, title, described),) = _figures(tmp_path, data)
    assert title == "Massive MIMO, antennas = 16\nN_r=16, i.i.d. Rayleigh, K=2, QPSK"
    assert not [t for t in fig.texts if t.get_gid() == "hwsim-run-marks"]
    assert "quick" not in described and "overrides" not in described


def test_a_title_placeholder_that_names_no_key_is_refused():
    import pytest

    from hwsim.engine.config import parse_config

    with pytest.raises(ValueError, match=r"placeholder \{antennas\}"):
        parse_config(_flat_link(title="{antennas} antennas"))


def test_the_real_link_states_its_snr_per_real_dimension(tmp_path):
    data = {"study": "link", "seed": 2, "source": {"type": "users", "users": 2, "constellation": "bpsk"},
            "channel": {"type": "exponential", "antennas": 4, "frame_len": 50}, "receiver": {"type": "map"},
            "grid": {"snr_db": [0.0, 4.0]}, "curves": [{"name": "MAP"}],
            "stopping": {"max_samples": 2_000, "min_samples": 0, "batch": 1_000}}
    ((_, fig, title, _),) = _figures(tmp_path, data)
    assert fig.axes[0].get_xlabel() == "SNR (dB), SNR = 1/sigma^2 per real dimension"
    assert title == "n_t=4, H_ij=exp(-|i-j|), K=2, BPSK"  # no title in the file: the system alone


def test_ebno_axis_moves_each_curve_by_its_own_bits_and_states_the_conversion(tmp_path):
    import math

    data = _flat_link(plot={"x_axis": "ebno_db"}, grid={"snr_db": [-16.0, -10.0]},
                      curves=[{"name": "QPSK"}, {"name": "16-QAM", "source.constellation": "qam16"}])
    ((_, fig, _, _),) = _figures(tmp_path, data)
    ax = fig.axes[0]
    assert ax.get_xlabel() == ("Eb/N0 (dB) = SNR - 10 log10(b), b = each curve's information bits per symbol per "
                               "user (x code rate); SNR = 1/N0 per receive antenna")
    lines = {bars.get_label(): bars[0] for bars in ax.containers}  # each curve's error-bar line
    assert np.allclose(lines["QPSK"].get_xdata(), [-16.0 - 10 * math.log10(2), -10.0 - 10 * math.log10(2)])
    assert np.allclose(lines["16-QAM"].get_xdata(), [-16.0 - 10 * math.log10(4), -10.0 - 10 * math.log10(4)])


def test_ebno_axis_needs_an_snr_x_axis():
    import pytest

    from hwsim.engine.config import parse_config

    with pytest.raises(ValueError, match="ebno_db"):
        parse_config(_flat_link(plot={"x_axis": "ebno_db", "x": "channel.antennas"},
                                grid={"snr_db": [0.0], "channel.antennas": [8, 16]}))


def test_zero_error_markers_of_two_curves_never_sit_on_each_other(tmp_path):
    """At 40 dB neither receiver makes an error in 4000 bits: both curves' upper bounds lie at the same height;
    drawn apart on x, each stays visible (read back from the rendered figure's lines)."""
    ((_, fig, _, _),) = _figures(tmp_path, _flat_link())
    fig.canvas.draw()
    bounds = {line.get_gid(): line for line in fig.axes[0].lines if (line.get_gid() or "").startswith("bound:")}
    assert set(bounds) == {"bound:LMMSE", "bound:ZF"}
    (x1,), (x2,) = bounds["bound:LMMSE"].get_xdata(), bounds["bound:ZF"].get_xdata()
    (y1,), (y2,) = bounds["bound:LMMSE"].get_ydata(), bounds["bound:ZF"].get_ydata()
    assert y1 == y2  # same bound: the markers would coincide
    ax = fig.axes[0]
    pixels = ax.transData.transform([(x1, y1), (x2, y2)])
    assert abs(pixels[0, 0] - pixels[1, 0]) >= 6  # at least a marker's width apart (6 points at 120 dpi: 10 px)
    assert abs(x1 - 40.0) < 1.0 and abs(x2 - 40.0) < 1.0  # still at their SNR


def test_paper_style_curves_stay_distinct_in_the_rendered_grayscale_image():
    """Each of the first ten curves of ``--style paper``, drawn alone on the same points, rendered to pixels and
    reduced to gray: every pair differs in a visible share of the pixels the curves cover (marker, line style
    or gray level), so a reader of a grayscale print tells them apart."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    look = STYLES["paper"]
    pts = [_row(0, 1e-1, 8e-2, 1.2e-1), _row(4, 1e-2, 8e-3, 1.2e-2), _row(8, 1e-3, 8e-4, 1.2e-3),
           _row(12, 1e-4, 8e-5, 1.2e-4)]
    images = []
    for i in range(10):
        fig = Figure(figsize=(2.4, 1.6), dpi=100)
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        _draw_curve(ax, "c", pts, "snr_db", "ber", True, i, style={"color": look["colors"][i % len(look["colors"])]})
        ax.set_yscale("log")
        ax.set_xlim(-1, 13)
        ax.set_ylim(5e-5, 0.2)
        canvas.draw()
        rgb = np.asarray(canvas.buffer_rgba())[..., :3].astype(float) / 255.0
        images.append(rgb.mean(axis=-1))   # what a grayscale print keeps
    ink = [img < 0.95 for img in images]
    for i in range(10):
        for j in range(i):
            differ = np.abs(images[i] - images[j]) > 0.15
            covered = (ink[i] | ink[j]).sum()
            share = differ.sum() / covered
            # 0.12: the earlier paper style, whose curves 1, 5 and 9 shared a dash and nearly a gray level, had
            # pairs at 4-7 %; every pair of today's differs in at least 15 %
            assert share > 0.12, (f"curves {j} and {i} of the paper style look alike in gray: {share:.1%} of their "
                                  "pixels differ")


def test_many_curves_keep_distinct_colour_and_marker_and_a_long_title_fits_the_figure(tmp_path):
    """Beyond ten curves the screen style's colours do not repeat (curve i + 10: a lighter shade of curve i's hue,
    and another marker), and a long title is broken into lines inside the figure, not cut at its edge."""
    data = _flat_link(title="{system}: " + "a rather long description of what the figure compares " * 3,
                      curves=[{"name": f"curve {i}"} for i in range(14)])
    data["grid"] = {"snr_db": [0.0]}
    ((stem, fig, title, described),) = _figures(tmp_path, data, quick=True)
    ax = fig.axes[0]
    lines = [c[0] for c in ax.containers if c.get_label().startswith("curve ")]  # each curve's data line
    assert len(lines) == 14
    looks = [(to_rgb(line.get_color()), line.get_marker()) for line in lines]
    assert len({c for c, _ in looks}) == 14 and len(set(looks)) == 14
    assert lines[0].get_marker() != lines[10].get_marker()
    fig.canvas.draw()
    box = ax.title.get_window_extent()
    assert "\n" in ax.get_title() and box.x0 >= 0 and box.x1 <= fig.bbox.width + 1


def test_long_overrides_are_marked_in_lines_that_fit_the_figure(tmp_path):
    """A run with many --set values: its red mark is broken into lines inside the figure, none cut at an edge."""
    sets = ["channel.antennas=8", "stopping.min_samples=200", "stopping.max_samples=400", "stopping.batch=200",
            "stopping.target_errors=400", "channel.frame_len=50", 'grid.snr_db=[0.0,2.0,4.0,6.0,8.0,10.0,12.0]']
    ((_, fig, _, described),) = _figures(tmp_path, _flat_link(), overrides=sets)
    (mark,) = [t for t in fig.texts if t.get_gid() == "hwsim-run-marks"]
    assert mark.get_text().count("\n") >= 1 and all(s in described for s in sets)
    fig.canvas.draw()
    box = mark.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width + 1 and box.y1 <= fig.bbox.height + 1
    assert box.y0 > fig.axes[0].title.get_window_extent().y1 - 1           # above the title, not over it
