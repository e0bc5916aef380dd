"""Seed 001's studies as pipeline configurations: the components draw and count exactly as the
detection study did on the same streams, and refuse the links they cannot serve."""

import numpy as np
import pytest

from hwsim.pipeline import Pipeline
from hwsim.studies import detection, link

BASE = {"source": {"type": "users", "users": 4, "constellation": "bpsk"},
        "channel": {"type": "exponential", "antennas": 12, "frame_len": 100},
        "adc": {"type": "none"}, "receiver": {"type": "map"}, "metric": {"type": "ber"}}
QUICK_TRAINING = {"train_samples": 400, "epochs": 2}

CASES = {
    "map": ({"receiver": "map"}, {}),
    "map, CSI uncertainty": ({"receiver": "map", "csi": "uncertain"}, {"channel.csi_error": 0.2}),
    "qmap R=1 (fused kernel)": ({"receiver": "qmap", "rate": 1.0},
                                {"receiver": "qmap", "adc": "uniform_range", "adc.rate": 1.0}),
    "qmap R=2, CSI uncertainty": ({"receiver": "qmap", "rate": 2.0, "csi": "uncertain"},
                                  {"receiver": "qmap", "adc": "uniform_range", "adc.rate": 2.0,
                                   "channel.csi_error": 0.2}),
    "hybrid, passing gradient on CSI copies": (
        {"receiver": "hybrid", "training": "passing_gradient", "trainset": "csi", "rate": 1.0},
        {"receiver": "hybrid", "receiver.training": "passing_gradient", "receiver.trainset": "csi",
         "receiver.rate": 1.0, **{f"receiver.{k}": v for k, v in QUICK_TRAINING.items()}}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_pipeline_link_equals_the_detection_study_on_the_same_streams(case):
    old_point, new_point = CASES[case]
    system = dict(detection.SYSTEM, **QUICK_TRAINING)
    old_point = {**old_point, "snr_db": 9.0}
    new_point = {**new_point, "snr_db": 9.0}
    detection.validate(system, old_point)
    link.validate(BASE, new_point)
    old = detection.make_link(system, old_point, np.random.default_rng(3))(np.random.default_rng(4), 3000)
    new = link.make_link(BASE, new_point, np.random.default_rng(3))(np.random.default_rng(4), 3000)
    assert old.total > 0
    assert tuple(new) == tuple(old)


def test_qmap_generic_path_equals_the_fused_kernel():
    """With a fixed channel the QMAP link takes the fused kernel; the component's own detect gives the same."""
    tables = {**BASE, "receiver": {"type": "qmap"}, "adc": {"type": "uniform_range", "levels": 4}}
    p = Pipeline.from_tables(tables)
    fused = p.link(8.0)(np.random.default_rng(1), 5000)
    idx, obs = p.observe(50, 8.0, np.random.default_rng(1))
    errors, trials = p.metric.count(p.source, idx, p.receiver.detect(obs).indices, per_sample=True)
    assert fused.total == errors.sum() and fused.clusters == errors.size and fused.cluster_sq == np.dot(errors, errors)


def test_hybrid_trainings_are_replicas():
    assert link.replicas(BASE, {"snr_db": 5.0, "receiver": "hybrid", "receiver.trainings": 2}) == 2
    assert link.replicas(BASE, {"snr_db": 5.0}) == 1


@pytest.mark.parametrize("point, message", [
    ({"receiver": "lmmse"}, "works on complex links"),
    ({"adc": "uniform", "adc.bits": 2, "receiver": "qmap"}, "fixed full scale"),
    ({"adc": "uniform_range", "adc.levels": 4}, "unquantized samples"),
    ({"receiver": "hybrid", "adc": "uniform_range", "adc.levels": 4}, "own learned combiner and converters"),
    ({"receiver": "hybrid", "receiver.rate": 0.1}, "0 ADCs"),
    ({"receiver": "hybrid", "receiver.training": "magic"}, "receiver.training must be one of"),
    ({"adc": "uniform_range", "adc.levels": 4, "adc.rate": 1.0, "receiver": "qmap"}, "exactly one of"),
    ({"source.constellation": "qam16"}, "carries BPSK only"),
    ({"source.users": 13}, "exceeds the limit"),
])
def test_bad_seed001_links_are_refused_before_running(point, message):
    with pytest.raises(ValueError, match=message):
        link.validate(BASE, {"snr_db": 5.0, **point})


def test_exhaustive_receivers_refuse_complex_links():
    tables = {"source": {"type": "users", "users": 2}, "channel": {"type": "rayleigh", "antennas": 4},
              "receiver": {"type": "map"}}
    with pytest.raises(ValueError, match="real-valued link"):
        link.validate(tables, {"snr_db": 5.0})


def test_real_link_noise_and_converters():
    """A real link draws real noise of variance N0 per sample; its converters act on each real input."""
    p = Pipeline.from_tables({**BASE, "adc": {"type": "uniform_range", "levels": 8, "gamma": 2.0},
                              "receiver": {"type": "qmap"}})
    idx, y, H = p.transmit(400, 3.0, np.random.default_rng(0))
    assert not np.iscomplexobj(y)
    s = 2.0 * idx - 1.0
    residual = y - np.matmul(s, np.swapaxes(H, 1, 2))
    n0 = 10 ** -0.3
    assert abs(residual.var() / n0 - 1) < 0.02  # 480,000 samples: the ratio's sd is 0.002
    _, obs = p.observe(2, 3.0, np.random.default_rng(0))
    assert not np.iscomplexobj(obs.r) and obs.lower_im is None
    assert set(np.unique(obs.r)) <= set(np.linspace(-1.75, 1.75, 8))


# ---- channel estimation (Fig. 5) -----------------------------------------------------------------------
from hwsim.studies import estimation  # noqa: E402

PILOTS = {"source": {"type": "pilots", "antennas": 10, "users": 4, "tau_p": 12, "P": 4.0},
          "receiver": {"type": "thm3"}, "metric": {"type": "mse"}}
EST_CASES = {
    "thm3 dithered": ({"receiver": "thm3", "adc": "dithered"}, {"receiver": "thm3"}),
    "thm3 plain, noisy SNR": ({"receiver": "thm3", "adc": "plain", "snr": "noisy"},
                              {"receiver": "thm3", "receiver.dither": False, "receiver.snr": "noisy"}),
    "blmmse": ({"receiver": "blmmse"}, {"receiver": "blmmse_estimator"}),
    "learned, SNR uncertainty": ({"receiver": "learned", "trainset": "snr"},
                                 {"receiver": "learned_estimator", "receiver.trainset": "snr",
                                  "receiver.train_samples": 512, "receiver.epochs": 2}),
}


@pytest.mark.parametrize("case", list(EST_CASES))
def test_estimation_link_equals_the_estimation_study_on_the_same_streams(case):
    old_point, new_point = EST_CASES[case]
    system = dict(estimation.SYSTEM, train_samples=512, epochs=2)
    rate = 1.0 if case == "blmmse" else 0.6667  # the study wanted rate >= 1 for BLMMSE's one bit per measurement
    old_point, new_point = {**old_point, "rate": rate}, {**new_point, "rate": rate}
    estimation.validate(system, old_point)
    link.validate(PILOTS, new_point)
    old = estimation.make_link(system, old_point, np.random.default_rng(3))(np.random.default_rng(4), 300)
    new = link.make_link(PILOTS, new_point, np.random.default_rng(3))(np.random.default_rng(4), 300)
    assert tuple(new) == tuple(old)


@pytest.mark.parametrize("old_receiver, new_receiver", [("mmse", "mmse"), ("eta_opt", "eta_opt"),
                                                        ("thm3_theory", "thm3_theory"),
                                                        ("blmmse_theory", "blmmse_theory")])
def test_closed_form_estimators_equal_the_estimation_study(old_receiver, new_receiver):
    old = estimation.exact_value(dict(estimation.SYSTEM), {"receiver": old_receiver, "rate": 1.0})
    assert link.exact_value(PILOTS, {"receiver": new_receiver, "rate": 1.0}) == old
    assert link.exact_value(PILOTS, {"receiver": "thm3", "rate": 1.0}) is None


@pytest.mark.parametrize("point, message", [
    ({"receiver": "map"}, "is for detection; receiver types for estimation: "),
    ({"snr_db": 3.0}, "snr_db does not apply"),
    ({"receiver": "thm3", "receiver.eta": 20.0}, "eta must be < sqrt"),
    ({"receiver": "thm3", "receiver.snr": "guessed"}, "receiver.snr must be one of known, noisy"),
    ({"receiver": "thm3", "adc": "uniform"}, "holds its own combiner and converters"),
    ({"source.tau_p": 2}, "tau_p must be >= source.users"),
    ({"source.antennas": 1000}, "more than the limit"),
])
def test_bad_estimation_links_are_refused(point, message):
    with pytest.raises(ValueError, match=message):
        link.validate(PILOTS, {"rate": 1.0, **point})


def test_detection_metric_on_an_estimation_link_is_refused():
    with pytest.raises(ValueError, match="metric types for estimation: mse"):
        link.validate({**PILOTS, "metric": {"type": "ber"}}, {"rate": 1.0})
    with pytest.raises(ValueError, match="draws the channel itself"):
        link.validate({**PILOTS, "channel": {"type": "rayleigh"}}, {"rate": 1.0})
