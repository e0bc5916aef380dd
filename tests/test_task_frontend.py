"""Task-based acquisition: the complex Theorem 3 design, the theorem3 and combiner front ends, the sweep config."""

import math

import numpy as np
import pytest

from hwsim.designs.frontends import Combiner, Theorem3Combiner, matched_eta
from hwsim.designs.task_based import lemma2, theorem3, theorem3_complex
from hwsim.pipeline import Pipeline

SYSTEM = {"source": {"type": "users", "users": 4, "constellation": "qam16"},
          "channel": {"type": "rayleigh", "antennas": 16, "frame_len": 50},
          "receiver": {"type": "blmmse"}}


def real_rep(M):
    """[[Re, -Im], [Im, Re]]: the real matrix acting on [Re x; Im x]."""
    return np.block([[M.real, -M.imag], [M.imag, M.real]])


def rayleigh(rng, n, k):
    return (rng.standard_normal((n, k)) + 1j * rng.standard_normal((n, k))) / math.sqrt(2)


def lmmse_task(H, n0):
    S = H @ H.conj().T + n0 * np.eye(H.shape[0])
    return np.linalg.solve(S, H).conj().T, S


@pytest.mark.parametrize("rotation", ["dft", "givens"])
@pytest.mark.parametrize("p", [2, 3, 5, 12])
def test_complex_design_is_the_real_theorem3_on_the_real_decomposition(p, rotation):
    rng = np.random.default_rng(p)
    G, S = lmmse_task(rayleigh(rng, 12, 3), 0.3)
    levels, eta = 4, 2.0
    d = theorem3_complex(G, S, p, levels, eta, np.eye(3), rotation=rotation)
    real = theorem3(real_rep(G), 0.5 * real_rep(S), 2 * p, levels, eta)
    assert math.isclose(d.excess_mse, real.excess_mse, rel_tol=1e-9)        # (4c), 2p real ADCs
    assert math.isclose(d.gamma, real.gamma, rel_tol=1e-12)
    B, excess = lemma2(real_rep(d.A), real_rep(G), 0.5 * real_rep(S), d.gamma, levels)
    assert math.isclose(excess, d.excess_mse, rel_tol=1e-9)                  # (3b) at A° equals (4c)
    np.testing.assert_allclose(B, real_rep(d.B), atol=1e-10)                 # the complex B° is (3a)
    cov = d.A @ S @ d.A.conj().T
    np.testing.assert_allclose(np.diag(cov).real, 1 / p, rtol=1e-9)          # equal diagonal
    assert math.isclose(d.mmse, np.trace(np.eye(3) - G @ S @ G.conj().T).real)


def test_dft_rotation_keeps_outputs_distinct_where_givens_copies_them():
    rng = np.random.default_rng(3)
    G, S = lmmse_task(rayleigh(rng, 64, 8), 0.5)

    def largest_correlation(rotation):
        A = theorem3_complex(G, S, 32, 4, 2.5, rotation=rotation).A
        C = A @ S @ A.conj().T
        d = np.sqrt(np.diag(C).real)
        R = np.abs(C) / np.outer(d, d)
        np.fill_diagonal(R, 0)
        return R.max()

    assert largest_correlation("givens") > 1 - 1e-9      # two outputs are copies: wasted converters
    assert largest_correlation("dft") < 0.99


def test_effective_model_matches_the_combined_signal():
    """z = B y: E[z s^H] = B H, E[z z^H] = B H H^H B^H + N0 B B^H, and every I and Q has unit variance."""
    rng = np.random.default_rng(7)
    n, k, p, L, n0 = 16, 4, 8, 40_000, 0.4
    H = rayleigh(rng, n, k)[None]
    s = (rng.standard_normal((1, L, k)) + 1j * rng.standard_normal((1, L, k))) / math.sqrt(2)
    noise = (rng.standard_normal((1, L, n)) + 1j * rng.standard_normal((1, L, n))) * math.sqrt(n0 / 2)
    y = np.einsum("fnk,flk->fln", H, s) + noise
    fe = Theorem3Combiner(outputs=p, bits=2)
    z, H_eff, C_n = fe.apply(y, H, n0)
    assert z.shape == (1, L, p) and H_eff.shape == (1, p, k) and C_n.shape == (1, p, p)
    B = fe.design(H, n0)
    np.testing.assert_allclose(H_eff, B @ H, atol=1e-12)
    np.testing.assert_allclose(C_n, n0 * B @ B[0].conj().T, atol=1e-12)
    C_model = H_eff[0] @ H_eff[0].conj().T + C_n[0]
    np.testing.assert_allclose(np.diag(C_model).real, 2.0, rtol=1e-9)       # Theorem 3's equal diagonal, scaled
    C_emp = z[0].T @ z[0].conj() / L
    tol = 4 * np.sqrt(2.0 * 2.0 / L) + 1e-3                                   # a few standard errors of |C_ij|
    assert np.max(np.abs(C_emp - C_model)) < tol
    cross = z[0].T @ s[0].conj() / L
    assert np.max(np.abs(cross - H_eff[0])) < 4 * np.sqrt(2.0 / L) + 1e-3
    np.testing.assert_allclose(np.var(z[0].real, axis=0), 1.0, atol=0.05)
    np.testing.assert_allclose(np.var(z[0].imag, axis=0), 1.0, atol=0.05)


def _errors(tables, snr_db, seed=11, frames=120):
    link = Pipeline.from_tables({**SYSTEM, **tables})
    idx, obs = link.observe(frames, snr_db, np.random.default_rng(seed))
    return int(np.sum(link.metric.count(link.source, idx, link.receiver.detect(obs).indices)[0]))


def test_combiner_with_p_equal_k_and_no_converters_is_lmmse_exactly():
    """With p = K outputs the design is invertible on the span of H, which carries all LMMSE needs."""
    reference = _errors({"adc": {"type": "none"}, "receiver": {"type": "lmmse"}}, 4.0)
    combined = _errors({"frontend": {"type": "theorem3", "outputs": 4, "bits": 8}, "adc": {"type": "none"}}, 4.0)
    assert reference > 50 and combined == reference


def test_fine_converters_after_the_combiner_reach_unquantized_lmmse():
    reference = _errors({"adc": {"type": "none"}, "receiver": {"type": "lmmse"}}, 4.0)
    fine = _errors({"frontend": {"type": "theorem3", "outputs": 16, "bits": 8},
                    "adc": {"type": "uniform", "bits": 8, "agc": "fixed"}}, 4.0)
    assert reference > 50 and abs(fine - reference) <= 0.05 * reference + 5
    coarse = _errors({"frontend": {"type": "theorem3", "outputs": 16, "bits": 1},
                      "adc": {"type": "uniform", "bits": 1, "agc": "fixed"}}, 4.0)
    assert coarse > 2 * reference                        # ...and the test can tell converters apart


def test_the_equal_bit_comparison_on_a_small_array():
    """64 bits per channel use on 16 antennas, 2 users: a p = 4, 4-bit combiner against 1-bit antennas."""
    small = {"source": {"type": "users", "users": 2, "constellation": "qam16"},
             "channel": {"type": "rayleigh", "antennas": 16, "frame_len": 50}}
    per_antenna = _errors({**small, "adc": {"type": "uniform", "bits": 1}}, 8.0, frames=200)
    task = _errors({**small, "frontend": {"type": "theorem3", "outputs": 4, "bits": 4},
                    "adc": {"type": "uniform", "bits": 4, "agc": "fixed"}}, 8.0, frames=200)
    assert per_antenna > 100 and task < per_antenna / 4


def test_matched_eta_gives_theorem3_the_banks_support():
    from hwsim.designs import uniform_gaussian

    for bits in (1, 2, 4, 8):
        t, m = uniform_gaussian(bits), 2**bits
        eta = matched_eta(bits)
        kappa = eta**2 / (1 - eta**2 / (3 * m**2))
        assert math.isclose(math.sqrt(kappa), t.gamma, rel_tol=1e-12)   # gamma * sqrt(p) in input std units
    assert Theorem3Combiner(bits=2).eta == matched_eta(2)
    assert Theorem3Combiner(bits=2, eta=2.5).eta == 2.5


def _link(frontend, adc=None, users=2, antennas=16, **channel):
    return Pipeline.from_tables({"source": {"type": "users", "users": users, "constellation": "qam16"},
                                 "channel": {"type": "rayleigh", "antennas": antennas, "frame_len": 10, **channel},
                                 "frontend": frontend, "adc": adc or {"type": "uniform", "bits": 2, "agc": "fixed"}})


def test_bad_front_end_settings_are_refused_with_the_argument_named():
    t3 = {"type": "theorem3", "outputs": 8, "bits": 2}
    with pytest.raises(ValueError, match="frontend.outputs = 8 exceeds the 4 receive antennas"):
        _link(t3, antennas=4).frontend.check_link(_link(t3, antennas=4))
    link = _link(t3, users=9)
    with pytest.raises(ValueError, match="frontend.outputs = 8 is fewer than the 9 users"):
        link.frontend.check_link(link)
    y, H = np.zeros((1, 3, 16), complex), rayleigh(np.random.default_rng(0), 16, 9)[None]
    with pytest.raises(ValueError, match="fewer than the 9 users"):
        link.frontend.apply(y, H, 0.1)
    for adc, message in [({"type": "uniform", "bits": 3}, "frontend.bits = 2 but adc.bits = 3"),
                         ({"type": "lloyd_max", "bits": 1}, "but adc.bits = 1")]:
        link = _link(t3, adc)
        with pytest.raises(ValueError, match=message):
            link.frontend.check_link(link)
    link = _link(t3, {"type": "uniform", "bits": 2, "agc": "ideal"})
    link.frontend.check_link(link)
    link = _link({**t3, "outputs": 2}, {"type": "none"})
    link.frontend.check_link(link)
    link = _link(t3, {"type": "none"})
    with pytest.raises(ValueError, match="frontend.outputs = 8 > source.users = 2 with adc.type = 'none'"):
        link.frontend.check_link(link)
    with pytest.raises(ValueError, match=r"frontend.eta must be < sqrt\(3\) \* 2\*\*bits = 6.928"):
        Theorem3Combiner(bits=2, eta=7.0)
    with pytest.raises(ValueError, match="frontend.rotation must be one of dft, givens, got 'hadamard'"):
        Theorem3Combiner(rotation="hadamard")
    with pytest.raises(ValueError, match="frontend.bits must be <= 8"):
        Theorem3Combiner(bits=9)
    with pytest.raises(ValueError, match="noise_var must be > 0"):
        Theorem3Combiner(outputs=8).design(H[:, :, :2], 0.0)


def test_a_sweep_refuses_a_design_for_other_converters_before_it_runs():
    from hwsim.engine.sweep import load_config, parse_config

    config = {"study": "link", "seed": 1, **SYSTEM, "adc": {"type": "uniform", "bits": 3, "agc": "fixed"},
              "grid": {"snr_db": [0.0]},
              "curves": [{"name": "a", "frontend": "theorem3", "frontend.outputs": 8, "frontend.bits": 4}]}
    with pytest.raises(ValueError, match="frontend.bits = 4 but adc.bits = 3"):
        parse_config(config)
    with pytest.raises(ValueError, match="exceeds the 12 receive antennas"):
        load_config("massive_mimo_task", quick=True, overrides=["channel.antennas=12"])


def test_fixed_combiner_selects_or_applies_its_matrix():
    rng = np.random.default_rng(5)
    y = rng.standard_normal((2, 3, 4)) + 1j * rng.standard_normal((2, 3, 4))
    H = rayleigh(rng, 4, 2)[None].repeat(2, axis=0)
    z, He, C = Combiner(outputs=3).apply(y, H, 0.5)
    assert C is None and np.array_equal(z, y[:, :, :3]) and np.array_equal(He, H[:, :3])
    W = np.array([[1.0, 0, 1, 0], [0, 1, 0, -1]]) + 1j * np.array([[0, 1.0, 0, 0], [0, 0, 0, 0]])
    fe = Combiner(matrix=W.real.tolist(), imag=W.imag.tolist())
    z, He, C = fe.apply(y, H, 0.5)
    np.testing.assert_allclose(z, np.einsum("pn,fln->flp", W, y))
    np.testing.assert_allclose(He, W @ H)
    np.testing.assert_allclose(C, 0.5 * W @ W.conj().T)
    with pytest.raises(ValueError, match="exactly one of frontend.outputs"):
        Combiner()
    with pytest.raises(ValueError, match="exactly one of frontend.outputs"):
        Combiner(outputs=2, matrix=[[1.0, 0.0]])
    with pytest.raises(ValueError, match="frontend.matrix has 2 columns, the channel has 4 antennas"):
        Combiner(matrix=[[1.0, 0.0]]).apply(y, H, 0.5)
    with pytest.raises(ValueError, match="frontend.imag must have the shape"):
        Combiner(matrix=[[1.0, 0.0]], imag=[[1.0]])
    link = _link({"type": "combiner", "outputs": 5}, antennas=4)
    with pytest.raises(ValueError, match="frontend.outputs = 5 antennas kept, but the channel has only 4"):
        link.frontend.check_link(link)


def test_shipped_config_quick_runs_and_orders_the_curves(tmp_path):
    """The [quick] section end to end at one SNR; BER intervals, not point values, are compared."""
    from hwsim.engine.results import read_results
    from hwsim.engine.sweep import load_config, run_sweep

    cfg = load_config("massive_mimo_task", quick=True, overrides=["grid.snr_db=[6.0]"])
    out = run_sweep(cfg, tmp_path / "mt", workers=1, quiet=True, plot=False)
    rows = {r["curve"]: r for r in read_results(out / "results.csv")}
    assert len(rows) == len(cfg.curves)

    def below(a, b):
        return float(rows[a]["ci_high"]) < float(rows[b]["ci_low"])

    assert below("task-based p=16, 4-bit (128 bits)", "per-antenna 1-bit (128 bits)")
    assert below("task-based p=32, 2-bit (128 bits)", "first 32 antennas, 2-bit (128 bits)")
    assert below("task-based p=32, 4-bit (256 bits)", "per-antenna 2-bit (256 bits)")
