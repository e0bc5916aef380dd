"""Fixed-point linear detectors (receivers/fixed_point.py): convergence to the float filter as the words grow,
the rounding and overflow rules of the integer datapath, bit-exactness against the exported C99 reference,
refusals that name the argument, and a smoke run of the shipped study's [quick] section.

Every random draw is seeded; tolerances are stated where floats are compared.
"""

from __future__ import annotations

import subprocess
import typing

import numpy as np
import pytest

from _hdl import need_tool
from hwsim.components import lookup
from hwsim.pipeline import Pipeline
from hwsim.qformat import ROUNDINGS
from hwsim.receivers import BLMMSE, LMMSE, ZF, FixedPoint
from hwsim.receivers.fixed_point import DATAPATH_OVERFLOWS, DETECTORS, Datapath, export_c, input_unit, write_c

SYSTEM = {"source": {"type": "users", "users": 4, "constellation": "qam16"},
          "channel": {"type": "rayleigh", "antennas": 32, "frame_len": 100},
          "adc": {"type": "uniform", "bits": 3, "agc": "ideal"}, "receiver": {"type": "fixed_point"}}


def _observation(seed=5, frames=10, snr_db=6.0, adc=None):
    tables = {**SYSTEM, "adc": adc or SYSTEM["adc"]}
    link = Pipeline.from_tables(tables)
    link.check()
    return link.observe(frames, snr_db, np.random.default_rng(seed))


# ------------------------------------------------------------------ registration
def test_registered_with_the_modules_tables():
    assert lookup("receiver", "fixed_point") is FixedPoint
    hints = FixedPoint.TYPES
    assert typing.get_args(hints["rounding"]) == ROUNDINGS
    assert typing.get_args(hints["overflow"]) == DATAPATH_OVERFLOWS
    assert set(typing.get_args(hints["detector"])) == set(DETECTORS)
    assert FixedPoint().get_params()["coef_bits"] == 16


# ------------------------------------------------------------------ convergence to floating point
@pytest.mark.parametrize("detector,float_cls", [("blmmse", BLMMSE), ("lmmse", LMMSE), ("zf", ZF)])
def test_the_fixed_point_filter_converges_to_the_float_one(detector, float_cls):
    idx, obs = _observation()
    ref = float_cls(llr=False)
    z_float, _ = ref.equalize(obs)
    d_float = ref.detect(obs).indices
    errors = []
    for bits in (8, 12, 16, 20, 24):
        fp = FixedPoint(detector=detector, coef_bits=bits, llr=False)
        f = fp.fixed_filter(obs)
        z = f.output()
        W_r = np.matmul(obs.r, np.swapaxes(f.W, 1, 2))            # the float filter on the same samples
        err = np.abs(z - W_r)
        # exact products and a wide accumulator: only the coefficients are rounded (half an LSB each part),
        # so |dz| <= N * max|x| * 2^-frac per frame (both parts of each of N products)
        n = obs.r.shape[2]
        xmax = max(np.abs(f.x_re).max(), np.abs(f.x_im).max())
        bound = n * xmax * np.ldexp(1.0, -f.coef_frac.astype(int))
        assert np.all(err.max(axis=(1, 2)) <= bound), bits
        errors.append(err.max())
        if bits >= 16:
            same = np.mean(fp.detect(obs).indices == d_float)
            assert same > 0.999, (bits, same)
            z_unbiased, _ = fp.equalize(obs)
            assert np.max(np.abs(z_unbiased - z_float)) < 1e-2 * 2.0 ** (16 - bits)
    # each 4 more bits shrink the worst error by well over 4x (2^4 = 16 in expectation)
    assert all(b < a / 4 for a, b in zip(errors, errors[1:])), errors


def test_a_coarse_word_costs_decisions_that_a_fine_one_does_not():
    idx, obs = _observation(snr_db=4.0)
    d_float = BLMMSE(llr=False).detect(obs).indices
    coarse = np.mean(FixedPoint(coef_bits=3, llr=False).detect(obs).indices != d_float)
    fine = np.mean(FixedPoint(coef_bits=16, llr=False).detect(obs).indices != d_float)
    assert coarse > 0.01 and fine < 1e-3, (coarse, fine)


def test_llrs_are_the_float_designs_on_the_fixed_output():
    idx, obs = _observation(frames=2)
    a = FixedPoint(coef_bits=24).detect(obs)
    b = BLMMSE().detect(obs)
    assert a.llr.shape == b.llr.shape and np.allclose(a.llr, b.llr, rtol=1e-4, atol=1e-4)


def test_inputs_are_the_converters_codes_exactly():
    _, obs = _observation(frames=2)
    unit, word, codes = input_unit(obs.adc)
    assert word == 4 and sorted(codes.tolist()) == [-7, -5, -3, -1, 1, 3, 5, 7]   # 2c - (M - 1) for M = 8
    f = FixedPoint().fixed_filter(obs)
    back = (f.x_re + 1j * f.x_im) * unit * obs.scale[:, None, :]
    assert np.max(np.abs(back - obs.r)) < 1e-12 * np.max(np.abs(obs.r))
    assert set(np.unique(f.x_re).tolist()) <= set(codes.tolist())


def test_a_nonuniform_table_enters_through_input_bits():
    adc = {"type": "lloyd_max", "bits": 3, "agc": "ideal"}
    _, obs = _observation(frames=2, adc=adc)
    with pytest.raises(ValueError, match=r"receiver.input_bits = 0 .*equally spaced.*input_bits > 0"):
        FixedPoint().fixed_filter(obs)
    z_float = BLMMSE(llr=False).equalize(obs)[0]
    err = [np.max(np.abs(FixedPoint(input_bits=b, llr=False).equalize(obs)[0] - z_float)) for b in (6, 10, 14)]
    assert err[0] > err[1] > err[2] and err[2] < 5e-3, err


# ------------------------------------------------------------------ the integer rules
def _one(path, a, x):
    """Datapath output of one real coefficient row ``a`` [N] on one real input ``x`` [N] (imaginary parts 0)."""
    a = np.asarray([a], dtype=np.int64)
    x = np.asarray([x], dtype=np.int64)
    z_re, z_im = path.apply(a, np.zeros_like(a), x, np.zeros_like(x))
    assert z_im.item() == 0
    return z_re.item()


@pytest.mark.parametrize("a,x,want", [
    # product / 16 (4 low bits dropped): floor, nearest (ties up), convergent (ties to even)
    (5, 3, {"floor": 0, "nearest": 1, "convergent": 1}),      # 15/16
    (2, 4, {"floor": 0, "nearest": 1, "convergent": 0}),      # 8/16 = 0.5
    (6, 4, {"floor": 1, "nearest": 2, "convergent": 2}),      # 24/16 = 1.5
    (-2, 4, {"floor": -1, "nearest": 0, "convergent": 0}),    # -0.5
    (-6, 4, {"floor": -2, "nearest": -1, "convergent": -2}),  # -1.5
    (-5, 3, {"floor": -1, "nearest": -1, "convergent": -1}),  # -15/16
])
def test_product_rounding_rules(a, x, want):
    for rounding in ROUNDINGS:
        path = Datapath(coef_bits=4, input_bits=4, prod_bits=5, acc_bits=8, rounding=rounding)
        assert path.product_shift == 4
        assert _one(path, [a], [x]) == want[rounding], rounding


def test_saturating_and_wrapping_accumulators():
    # full 9-bit products (coefficients and inputs of 4 bits) into a 9-bit accumulator: [-256, 255]
    a, x = [-8, -8, -8, -8, 7], [-8] * 5        # products 64, 64, 64, 64, -56: partial sums reach 256
    sat = Datapath(coef_bits=4, input_bits=4, acc_bits=9, overflow="saturate")
    wrap = Datapath(coef_bits=4, input_bits=4, acc_bits=9, overflow="wrap")
    assert _one(sat, a, x) == 255 - 56               # clamped at 255 after the fourth product
    assert _one(wrap, a, x) == 200                    # modular: the exact sum when it fits at the end
    assert _one(sat, a[::-1], x[::-1]) == 200         # another order never overflows: saturation is sequential


def test_the_output_keeps_the_accumulators_top_bits():
    path = Datapath(coef_bits=4, input_bits=4, acc_bits=12, out_bits=8, rounding="nearest")
    assert path.output_shift == 4 and path.output_bits == 8
    assert _one(path, [7, 7, 7], [7, 7, 1]) == round((49 + 49 + 7) / 16)       # 105 / 16 = 6.56 -> 7
    assert _one(path, [-8] * 5, [7] * 5) == -17                                   # -280 / 16 = -17.5, ties up


def test_the_words_as_qformats():
    path = Datapath(coef_bits=10, input_bits=4, prod_bits=9, acc_bits=10, out_bits=8)
    words = path.formats(coef_frac=14)
    assert path.full_product_bits == 15 and path.product_shift == 6 and path.output_shift == 2
    assert (words["product"].word, words["product"].frac) == (9, 8)
    assert (words["accumulator"].word, words["accumulator"].frac) == (10, 8)
    assert (words["output"].word, words["output"].frac) == (8, 6) and path.dropped == 8


def test_complex_products():
    path = Datapath(coef_bits=6, input_bits=5)
    a_re, a_im = np.array([[3, -2]]), np.array([[1, 4]])
    x_re, x_im = np.array([[5, -7]]), np.array([[-2, 3]])
    z_re, z_im = path.apply(a_re, a_im, x_re, x_im)
    want = np.sum((a_re + 1j * a_im) * (x_re + 1j * x_im), axis=1)
    assert z_re.item() == want.real[0] and z_im.item() == want.imag[0]


# ------------------------------------------------------------------ the C reference
def _compile(tmp_path, source, name="ref"):
    need_tool("gcc")
    c = tmp_path / f"{name}.c"
    c.write_text(source)
    exe = tmp_path / name
    r = subprocess.run(["gcc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O1", "-DHWSIM_FIXED_MAIN",
                        str(c), "-o", str(exe)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return exe


def _run_c(exe, x_re, x_im, k):
    lines = [" ".join(map(str, np.concatenate([xr, xi]).tolist())) for xr, xi in zip(x_re, x_im)]
    r = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = np.array([list(map(int, line.split())) for line in r.stdout.splitlines()], dtype=np.int64)
    return out[:, :k], out[:, k:]


@pytest.mark.parametrize("overflow", DATAPATH_OVERFLOWS)
def test_the_c_reference_is_bit_exact_on_random_vectors(tmp_path, overflow):
    rng = np.random.default_rng(11)
    k, n, vectors = 3, 32, 300
    for rounding in ROUNDINGS:
        path = Datapath(coef_bits=7, input_bits=5, prod_bits=8, acc_bits=8, out_bits=6, rounding=rounding,
                        overflow=overflow)
        a_re, a_im = rng.integers(-64, 64, (k, n)), rng.integers(-64, 64, (k, n))
        x_re, x_im = rng.integers(-16, 16, (vectors, n)), rng.integers(-16, 16, (vectors, n))
        exe = _compile(tmp_path, export_c(path, a_re, a_im, provenance={"test": rounding}), f"ref_{rounding}")
        c_re, c_im = _run_c(exe, x_re, x_im, k)
        py_re, py_im = path.apply(a_re, a_im, x_re, x_im)
        assert np.array_equal(c_re, py_re) and np.array_equal(c_im, py_im), rounding
        # the words are narrow enough that overflow happens: the comparison covers the rule
        wide = Datapath(coef_bits=7, input_bits=5, prod_bits=8, acc_bits=40, out_bits=0, rounding=rounding)
        w_re, _ = wide.apply(a_re, a_im, x_re, x_im)
        assert np.mean(np.abs(w_re) > 2 ** 7 - 1) > 0.05, rounding


def test_the_c_reference_of_a_designed_filter_matches_the_receiver(tmp_path):
    _, obs = _observation(frames=2)
    fp = FixedPoint(coef_bits=10, prod_bits=9, acc_bits=10)   # the study's "datapath 10-bit"
    f = fp.fixed_filter(obs)
    hostile = "*/ #include <stdlib.h>\n/* ??= \\ evil"
    path = write_c(tmp_path / "frame0.c", f.datapath, f.coef_re[0], f.coef_im[0],
                   provenance={"config": hostile, "frame": 0, "coef_frac": int(f.coef_frac[0])})
    text = path.read_text()
    comment = text[: text.index("*/") + 2]                  # the first comment closes where the file closes it
    assert "config: %2A%2F #include <stdlib.h>%0A%2F%2A %3F%3F= %5C evil" in comment
    assert "??" not in text and "\\" not in comment
    assert not any(line.startswith("#include <stdlib.h>") for line in text.splitlines())
    exe = _compile(tmp_path, text, "frame0")
    c_re, c_im = _run_c(exe, f.x_re[0], f.x_im[0], f.coef_re.shape[1])
    py_re, py_im = f.run()
    assert np.array_equal(c_re, py_re[0]) and np.array_equal(c_im, py_im[0])


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize("params,message", [
    ({"coef_bits": 1}, r"receiver.coef_bits must be an integer in \[2, 32\], got 1"),
    ({"input_bits": 40}, r"receiver.input_bits must be 0 .*or an integer in \[2, 24\], got 40"),
    ({"prod_bits": 20, "acc_bits": 16}, r"receiver.acc_bits = 16 is narrower than receiver.prod_bits = 20"),
    ({"acc_bits": 16, "out_bits": 20}, r"receiver.out_bits = 20 exceeds receiver.acc_bits = 16"),
    ({"rounding": "up"}, r"receiver.rounding must be one of floor, nearest, convergent, got 'up'"),
    ({"overflow": "error"}, r"receiver.overflow must be one of saturate, wrap, got 'error'"),
    ({"detector": "kbest"}, r"receiver.detector must be one of blmmse, lmmse, zf, mrc, got 'kbest'"),
])
def test_bad_parameters_are_refused_naming_the_key(params, message):
    from hwsim.components import check_params

    with pytest.raises(ValueError, match=message):
        FixedPoint(**check_params(FixedPoint, params))


def test_an_accumulator_narrower_than_the_full_products_is_refused_when_it_meets_the_link():
    _, obs = _observation(frames=1)
    with pytest.raises(ValueError, match=r"acc_bits = 12 is narrower than the products .*16 \+ 4 \+ 1 = 21 bits"):
        FixedPoint(coef_bits=16, acc_bits=12).detect(obs)


def test_links_without_codes_are_refused():
    link = Pipeline.from_tables({**SYSTEM, "adc": {"type": "none"}})
    with pytest.raises(ValueError, match=r"fixed_point.*adc.type = 'none' gives none"):
        link.check()
    zf = Pipeline.from_tables({**SYSTEM, "channel": {**SYSTEM["channel"], "antennas": 2},
                               "receiver": {"type": "fixed_point", "detector": "zf"}})
    with pytest.raises(ValueError, match="ZF needs at least as many receive antennas"):
        zf.receiver.check_dimensions(users=4, inputs=2, constellation=None)


def test_export_refuses_bad_arguments():
    path = Datapath(coef_bits=4, input_bits=4)
    with pytest.raises(ValueError, match=r"name must be a C identifier.*'1bad'"):
        export_c(path, [[1]], [[0]], name="1bad")
    with pytest.raises(ValueError, match=r"coef_re and coef_im must be integer arrays \[K, N\]"):
        export_c(path, [[0.5]], [[0]])
    with pytest.raises(ValueError, match=r"coef_re: the integer 9 does not fit"):
        export_c(path, np.array([[9]]), np.array([[0]]))
    with pytest.raises(ValueError, match=r"x_re: the integer 8 does not fit"):
        path.apply(np.array([[1]]), np.array([[0]]), np.array([[8]]), np.array([[0]]))


# ------------------------------------------------------------------ the shipped study
def test_fixed_point_quick_runs_and_a_short_word_costs_ber(tmp_path):
    from hwsim.engine.results import read_results
    from hwsim.engine.sweep import load_config, run_sweep

    cfg = load_config("fixed_point", quick=True, overrides=["grid.snr_db=[3.0]"])
    assert cfg.curves[0]["name"] == "BLMMSE, float"
    out = run_sweep(cfg, tmp_path / "fp", workers=1, quiet=True, plot=False)
    rows = {r["curve"]: r for r in read_results(out / "results.csv")}
    assert len(rows) == len(cfg.curves)
    # 4-bit coefficients cost BER that the float filter does not have (intervals, not point values)
    assert float(rows["coef 4-bit"]["ci_low"]) > float(rows["BLMMSE, float"]["ci_high"])
