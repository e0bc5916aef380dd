"""The quantization study's components: the gaussian source and the rate-distortion bound."""

import math

import numpy as np
import pytest

from hwsim.pipeline import Pipeline


def study_link(receiver, **source):
    return Pipeline.from_tables({"source": {"type": "gaussian", **source}, "receiver": receiver,
                                 "metric": {"type": "mse"}})


def test_the_gauss_markov_source_has_its_covariance():
    link = study_link({"type": "rd_bound"}, dim=4, rho=0.9)
    s, x = link.source.sample(200_000, np.random.default_rng(0))
    assert s is x and s.shape == (200_000, 4)
    assert np.allclose(np.cov(s.T), link.source.covariance(), atol=0.02)
    for bad, message in (({"dim": 0}, "source.dim"), ({"rho": 1.0}, r"source.rho must lie in \(-1, 1\)")):
        with pytest.raises(ValueError, match=message):
            study_link({"type": "rd_bound"}, **bad)


def test_the_bound_is_reverse_water_filling():
    iid = study_link({"type": "rd_bound", "rate": 1.5}, dim=8)
    assert iid.receiver.exact_value(iid) == pytest.approx(2 ** -3, rel=1e-12)
    # Gauss-Markov, 2 dimensions at 1 bit each: eigenvalues 1.9 and 0.1; the water level 1.9 / 2^4 lies above
    # 0.1, so that component gets no bits and all 2 bits go to the other
    gm = study_link({"type": "rd_bound", "rate": 1.0}, dim=2, rho=0.9)
    assert gm.receiver.exact_value(gm) == pytest.approx((0.1 + 1.9 / 16) / 2, rel=1e-9)
    # at 2 bits each both components get bits: D = 2 theta, theta = sqrt(1.9 * 0.1) / 2^4
    gm = study_link({"type": "rd_bound", "rate": 2.0}, dim=2, rho=0.9)
    assert gm.receiver.exact_value(gm) == pytest.approx(math.sqrt(0.19) / 16, rel=1e-9)
    with pytest.raises(ValueError, match="quantizes a gaussian source"):
        Pipeline.from_tables({"source": {"type": "pilots"}, "receiver": {"type": "rd_bound"},
                              "metric": {"type": "mse"}}).check()


def test_the_shipped_study_runs_shrunk_and_orders_as_the_seeds_say(tmp_path):
    """vq_gaussian in quick mode at n = 4, R = 2 (and its 8-D curves at R = 1): every quantizer lies above
    the bound; LBG beats the scalar Lloyd-Max; on the Gauss-Markov source RVQ and AVQ beat PVQ (seed 004);
    E8 beats the scalar quantizer on the i.i.d. source."""
    from hwsim.engine.results import read_results
    from hwsim.engine.sweep import load_config, run_sweep

    cfg = load_config("vq_gaussian", quick=True, overrides=['grid."source.dim"=[4]', "grid.rate=[2.0]"])
    cfg.curves = [c for c in cfg.curves if "(n = 8)" not in c["name"]] + [
        {**c, "rate": 1.0} for c in cfg.curves if c["name"] in ("E8 (n = 8)", "rate-distortion bound (n = 8)")]
    run_sweep(cfg, tmp_path / "run", workers=1, quiet=True, plot=False)
    mse = {(r["curve"], float(r["source.rho"])): float(r["mse"]) for r in read_results(tmp_path / "run" / "results.csv")}
    for rho in (0.0, 0.9):
        bound = mse["rate-distortion bound", rho]
        assert all(v > bound for (c, r), v in mse.items() if r == rho and "(n = 8)" not in c and c != "rate-distortion bound")
        assert mse["LBG", rho] < mse["Lloyd-Max scalar", rho]
    assert max(mse["RVQ", 0.9], mse["AVQ", 0.9]) < mse["PVQ", 0.9]
    assert mse["rate-distortion bound (n = 8)", 0.0] < mse["E8 (n = 8)", 0.0] < 0.3634  # Lloyd-Max at 1 bit


def test_the_quantizer_receiver_refuses_what_it_cannot_build():
    for receiver, message in (({"method": "magic"}, "receiver.method must be one of"),
                              ({"method": "lbg", "rate": 2.0}, "more than the 4096 a trained codebook"),
                              ({"method": "lloyd_max", "rate": 1.5}, "whole number"),
                              ({"method": "lattice", "lattice": "auto"}, "'auto' knows dimensions")):
        with pytest.raises(ValueError, match=message):
            study_link({"type": "vq", **receiver}, dim=8 if "auto" not in str(receiver) else 5).check()


def test_a_two_point_lattice_codebook_is_the_coset_through_the_deep_hole():
    """Two points of Z about the origin are {0, 1}; the coset through 1/2 gives the symmetric pair, which,
    scaled for N(0, 1), is the 1-bit Lloyd-Max quantizer (+-0.7979, MSE 0.3634)."""
    from hwsim.quantizers.lattices import gaussian_codebook

    x = np.random.default_rng(0).standard_normal((20_000, 1))
    q = gaussian_codebook("Z1", 2, x)
    assert np.allclose(np.sort(q.codewords.ravel()), [-0.7979, 0.7979], atol=0.02)
    assert q.mse(np.random.default_rng(1).standard_normal((200_000, 1))) == pytest.approx(0.3634, abs=0.005)
