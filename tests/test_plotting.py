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
