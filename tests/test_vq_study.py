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
