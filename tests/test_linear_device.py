"""The linear detectors' ``device`` (issue 30 item 5): ``"cpu"`` is the NumPy path, ``"torch:cpu"`` (and
``"cuda"``, ``"cuda:N"`` on a GPU) the torch path, which must decide as NumPy does on the same observations
(checked on the CPU everywhere, and on ``"cuda"`` too where there is a GPU).

Tolerances: LLRs agree to ``LLR_RTOL`` times the largest LLR magnitude of the batch (measured: about 1e-15 of
it; both paths are float64 arithmetic in a different order); a hard decision may differ only where one of its
bits' LLRs is within that tolerance of 0 (an output on a decision boundary to rounding). torch is needed for
the torch path (skipped without it); the NumPy path must not import it.
"""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwsim.channels.constellations import get_qam
from hwsim.converters.adc import ThresholdADC, UniformADC
from hwsim.receivers.base import Observation
from hwsim.receivers.linear import BLMMSE, LMMSE, MRC, ZF

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
LINEAR = (MRC, ZF, LMMSE, BLMMSE)
LLR_RTOL = 1e-9
ONE_BIT = ThresholdADC([0.0], [-np.sqrt(2 / np.pi), np.sqrt(2 / np.pi)])
#: An asymmetric 2-bit table (Bussgang's general N x N model, with a nonzero output mean).
SKEWED = ThresholdADC([-0.9, 0.1, 0.7], [-1.3, -0.4, 0.4, 1.1])


def observe(seed, F=4, L=30, N=12, K=3, const="qam16", snr_db=8.0, adc=None, noise_cov=False):
    """Symbols through i.i.d. Rayleigh frames, white (or coloured, ``noise_cov``) noise, ideal-AGC I/Q
    converters (``adc``), as the link's observation."""
    rng = np.random.default_rng(seed)
    c = get_qam(const)
    H = (rng.standard_normal((F, N, K)) + 1j * rng.standard_normal((F, N, K))) / np.sqrt(2)
    n0 = 10 ** (-snr_db / 10)
    C = n0 * np.eye(N, dtype=complex)
    if noise_cov:
        A = (rng.standard_normal((N, N)) + 1j * rng.standard_normal((N, N))) / np.sqrt(2 * N)
        C = n0 * (0.5 * np.eye(N) + A @ A.conj().T)
    idx = c.draw((F, L, K), rng)
    w = (rng.standard_normal((F, L, N)) + 1j * rng.standard_normal((F, L, N))) / np.sqrt(2)
    y = np.einsum("fnk,flk->fln", H, c.symbols(idx)) + w @ np.linalg.cholesky(C).T
    cov = C if noise_cov else None
    if adc is None:
        return Observation(r=y, H=H, noise_var=n0, constellation=c, noise_cov=cov)
    power = np.sum(np.abs(H) ** 2, axis=2) + np.real(np.diagonal(C))
    alpha = np.sqrt(power / 2)[:, None, :]
    parts = [adc.levels[np.asarray(adc.encode(np.ascontiguousarray(p / alpha)))] * alpha for p in (y.real, y.imag)]
    return Observation(r=parts[0] + 1j * parts[1], H=H, noise_var=n0, constellation=c, adc=adc,
                       scale=alpha[:, 0, :], noise_cov=cov)


def assert_same_decisions(a, b):
    """``b`` (torch) decides as ``a`` (NumPy): LLRs to LLR_RTOL, indices equal except on a boundary."""
    assert b.indices.dtype == np.int64 and b.indices.shape == a.indices.shape
    assert b.llr.dtype == np.float64 and b.llr.shape == a.llr.shape
    tol = LLR_RTOL * max(1.0, float(np.max(np.abs(a.llr))))
    np.testing.assert_allclose(b.llr, a.llr, rtol=0, atol=tol)
    boundary = np.any(np.abs(a.llr) <= tol, axis=-1)
    differ = a.indices != b.indices
    assert not np.any(differ & ~boundary), f"{int(np.sum(differ & ~boundary))} decisions differ off a boundary"
    assert np.mean(boundary) < 0.01  # the exception is rare: most decisions are compared


CASES = {
    "unquantized": dict(adc=None),
    "unquantized, coloured noise": dict(adc=None, noise_cov=True),
    "1-bit (arcsine law)": dict(adc=ONE_BIT, const="qpsk", N=16),
    "3-bit symmetric (diagonal model)": dict(adc=UniformADC(8, 2.0)),
    "2-bit asymmetric (general model)": dict(adc=SKEWED),
    "3-bit, coloured noise": dict(adc=UniformADC(8, 2.0), noise_cov=True),
}


#: The torch devices compared with NumPy: the CPU always, a GPU where there is one.
DEVICES = ["torch:cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                      reason="no CUDA GPU here"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("cls", LINEAR, ids=lambda c: c.__name__)
def test_the_torch_path_decides_as_numpy(cls, case, device):
    obs = observe(3, **CASES[case])
    a = cls().detect(obs)
    b = cls(device=device).detect(obs)
    assert_same_decisions(a, b)
    # hard decisions alone (no LLRs) are the same slicing
    ha, hb = cls(llr=False).detect(obs), cls(llr=False, device=device).detect(obs)
    assert ha.llr is None and hb.llr is None
    boundary = np.any(np.abs(a.llr) <= LLR_RTOL * max(1.0, float(np.max(np.abs(a.llr)))), axis=-1)
    assert np.array_equal(ha.indices[~boundary], hb.indices[~boundary])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls", LINEAR, ids=lambda c: c.__name__)
def test_equalize_gives_numpy_arrays_close_to_numpys(cls, device):
    obs = observe(5, adc=UniformADC(4, 1.5))
    z, var = cls().equalize(obs)
    zt, vt = cls(device=device).equalize(obs)
    assert isinstance(zt, np.ndarray) and zt.dtype == np.complex128 and vt.dtype == np.float64
    np.testing.assert_allclose(zt, z, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(vt, var, rtol=1e-10)


def test_bpsk_and_qam64_and_a_single_frame():
    for const, N, K in (("bpsk", 6, 2), ("qam64", 20, 4)):
        obs = observe(8, F=1, L=200, N=N, K=K, const=const, snr_db=20.0, adc=UniformADC(16, 2.5))
        assert_same_decisions(BLMMSE().detect(obs), BLMMSE(device="torch:cpu").detect(obs))


def test_float32_on_the_torch_path_is_single_precision_and_close():
    obs = observe(2, adc=UniformADC(8, 2.0))
    z64, v64 = BLMMSE().equalize(obs)
    z32, v32 = BLMMSE(precision="float32", device="torch:cpu").equalize(obs)
    assert z32.dtype == np.complex64 and v32.dtype == np.float32
    assert np.max(np.abs(z32 - z64)) < 1e-4 * np.max(np.abs(z64))
    np.testing.assert_allclose(v32, v64, rtol=1e-3)
    d = BLMMSE(precision="float32", device="torch:cpu").detect(obs)
    assert d.indices.dtype == np.int64 and d.llr.dtype == np.float64
    assert np.mean(d.indices != BLMMSE().detect(obs).indices) < 0.01


def test_the_torch_path_refuses_what_numpy_refuses():
    obs = observe(1, N=4, K=3, adc=None)
    rank1 = np.repeat(obs.H[:, :, :1], 3, axis=2)
    for device in ("cpu", "torch:cpu"):
        with pytest.raises(ValueError, match=r"rank deficient .* frame\(s\) \[0, 1, 2, 3\]"):
            ZF(device=device).detect(dataclasses.replace(obs, H=rank1))
        H0 = obs.H.copy()
        H0[1, :, 2] = 0
        with pytest.raises(ValueError, match="all-zero column"):
            MRC(device=device).detect(dataclasses.replace(obs, H=H0))
        with pytest.raises(ValueError, match="obs.H must be"):
            LMMSE(device=device).detect(dataclasses.replace(obs, H=obs.H[:, :3]))


@pytest.mark.parametrize("device", ["torch:cpu", "cuda", "cuda:3", "torch:cuda:0"])
def test_the_device_spellings(device):
    from hwsim.receivers.linear import _torch_device_name

    assert _torch_device_name("receiver.device", device) == device.removeprefix("torch:")


@pytest.mark.parametrize("device", ["gpu", "torch", "torch:", "CUDA", "cuda:", "cuda:x", "torch:mps", " cpu", ""])
def test_a_misspelt_device_is_refused_naming_the_key(device):
    from hwsim.pipeline import Pipeline

    with pytest.raises(ValueError, match=r'receiver.device must be "cpu" \(NumPy\), "torch:cpu" .*"cuda:N"'):
        LMMSE(device=device)
    with pytest.raises(ValueError, match=r"receiver.device must be"):
        Pipeline.from_tables({"source": {"type": "users", "users": 2}, "channel": {"type": "rayleigh", "antennas": 4},
                              "receiver": {"type": "blmmse", "device": device}})
    with pytest.raises(ValueError, match=r"receiver.device must be a str"):
        LMMSE(device=0)


def test_an_unavailable_gpu_is_refused_when_the_detector_is_built():
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    beyond = f"cuda:{count + 2}"
    with pytest.raises(ValueError, match=rf"receiver.device = '{beyond}': torch sees .* here; available: "
                                         r'"cpu" \(NumPy\), "torch:cpu"'):
        ZF(device=beyond)
    if count == 0:  # this machine: plain "cuda" is refused too, saying there is no CUDA GPU
        with pytest.raises(ValueError, match=r"receiver.device = 'cuda': torch sees no CUDA GPU \(torch .*"
                                             r"is_available\(\) is False\) here; available: \"cpu\" \(NumPy\), "
                                             r"\"torch:cpu\"$"):
            BLMMSE(device="cuda")


def test_a_sweep_naming_an_unavailable_device_fails_when_its_points_are_checked():
    from hwsim.engine.config import parse_config

    with pytest.raises(ValueError, match=r"receiver.device = 'cuda:\d+': torch sees"):
        parse_config(sweep_table([{"name": "gpu", "receiver.device": f"cuda:{torch.cuda.device_count() + 2}"}]))


def sweep_table(curves):
    return {"study": "link", "seed": 11, "common_random_numbers": True,
            "source": {"type": "users", "users": 3, "constellation": "qam16"},
            "channel": {"type": "rayleigh", "antennas": 12, "frame_len": 40},
            "adc": {"type": "uniform", "bits": 3}, "receiver": {"type": "blmmse"}, "metric": {"type": "ber"},
            "grid": {"snr_db": [4.0, 10.0]}, "curves": curves,
            "stopping": {"target_errors": None, "min_samples": 4000, "max_samples": 4000, "batch": 400}}


def test_a_sweep_through_the_pipeline_on_the_torch_path_counts_as_numpy():
    import hwsim

    rows = hwsim.sweep(sweep_table([{"name": "numpy"}, {"name": "torch", "receiver.device": "torch:cpu"},
                                    {"name": "zf numpy", "receiver": "zf", "adc": "none"},
                                    {"name": "zf torch", "receiver": "zf", "adc": "none",
                                     "receiver.device": "torch:cpu"}]))
    rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    by = {(r["curve"], r["snr_db"]): r for r in rows}
    for a, b in (("numpy", "torch"), ("zf numpy", "zf torch")):
        for snr in (4.0, 10.0):
            x, y = by[(a, snr)], by[(b, snr)]
            assert x["errors"] > 0 and x["bits"] == y["bits"] and y["receiver.device"] == "torch:cpu"
            # the same draws (common random numbers): at most a boundary decision (2 bits) apart
            assert abs(x["errors"] - y["errors"]) <= 2, (a, snr, x["errors"], y["errors"])


def test_the_numpy_path_does_not_import_torch():
    code = ("import json, sys\n"
            "import numpy as np\n"
            "from hwsim.pipeline import Pipeline\n"
            "for receiver, adc in (('blmmse', {'type': 'uniform', 'bits': 3}), ('zf', {'type': 'none'})):\n"
            "    p = Pipeline.from_tables({'source': {'type': 'users', 'users': 2}, 'adc': adc,\n"
            "                              'channel': {'type': 'rayleigh', 'antennas': 8, 'frame_len': 10},\n"
            "                              'receiver': {'type': receiver, 'device': 'cpu'}})\n"
            "    p.check()\n"
            "    p.receiver.detect(p.observe(3, 5.0, np.random.default_rng(0))[1])\n"
            "print(json.dumps('torch' in sys.modules))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) is False


def test_device_at_its_default_stays_out_of_the_config_hash():
    """Sweeps recorded before the device parameter existed keep their hash (their folders resume)."""
    from hwsim.study import resolved

    system = {"receiver": {"type": "blmmse"}, "adc": {"type": "uniform", "bits": 3}}
    assert "device" not in resolved(system)["receiver"]
    assert resolved({**system, "receiver": {"type": "blmmse", "device": "cpu"}}) == resolved(system)
    assert resolved({**system, "receiver": {"type": "blmmse", "device": "torch:cpu"}})["receiver"]["device"] == "torch:cpu"
