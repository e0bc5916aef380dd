"""The quantized MU-MIMO-OFDM uplink of Studer and Durisi (hwsim issue 27, items 1 and 6): the OFDM source's tone
map and Hadamard training, the channel estimators on that training, the two SNR definitions, bad input, and
the shipped study ofdm_uplink.toml."""

import csv
import math
import warnings

import numpy as np
import pytest
import torch

from hwsim.pipeline import Pipeline

# the study's source, cut to 4 users, 4 training and 2 data symbols (fast)
SOURCE = {"type": "ofdm", "users": 4, "constellation": "qam16", "fft_size": 128, "tone_map": "80211n_40mhz",
          "subcarrier_spacing": 312.5e3, "cp_length": 16, "ofdm_symbols": 6, "training": "hadamard",
          "pilot_symbols": [0, 1, 2, 3], "code_rate": 0.5, "block_len": 864}


def link(source=None, channel=None, adc=None, receiver=None, metric="ber"):
    tables = {"source": {**SOURCE, **(source or {})},
              "channel": {"type": "rayleigh_taps", "taps": 4, "antennas": 8, **(channel or {})},
              "adc": adc or {"type": "none"}, "receiver": {"type": "ofdm_lmmse", **(receiver or {})},
              "metric": {"type": metric}}
    p = Pipeline.from_tables(tables)
    p.check()
    return p


def test_the_80211n_40mhz_tone_map_has_108_data_6_pilot_and_14_null_tones():
    p = link()
    src = p.source
    tone = np.arange(128) - 64
    assert src.data_tones == 108 and int(src.pilot_tones.sum()) == 6 and int(src.null_tones.sum()) == 14
    assert src.used_tones == 114
    assert tone[src.pilot_tones].tolist() == [-53, -25, -11, 11, 25, 53]
    assert tone[src.null_tones].tolist() == [-64, -63, -62, -61, -60, -59, -1, 0, 1, 59, 60, 61, 62, 63]
    # Sionna's grid carries 108 data tones in each of the 2 data symbols, per user
    assert p.source.chain.rg.num_data_symbols == 2 * 108
    assert src.data_bits == 2 * 108 * 4 and src.blocks == 1
    # what the source sends: nothing on the null tones, known +-1 on the pilot tones of a data symbol
    _, x = src.draw(1, 1, np.random.default_rng(0))
    cp, N = 16, 128
    sym = x[0, :, 0].reshape(6, cp + N)[:, cp:]                          # user 0, each OFDM symbol without its CP
    X = np.fft.fftshift(np.fft.fft(sym, axis=-1) / math.sqrt(N), axes=-1)  # subcarriers from -64
    assert np.max(np.abs(X[:, src.null_tones])) < 1e-12
    np.testing.assert_allclose(np.abs(X[4:, src.pilot_tones]), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.abs(X[:4][:, ~src.null_tones]), 1.0, atol=1e-12)   # training: +-1 everywhere


def test_explicit_null_and_pilot_tones_give_the_same_grid_as_the_named_map():
    from hwsim.channels.ofdm import tone_map_tones

    nulls, pilots, _ = tone_map_tones("80211n_40mhz")
    a = link()
    b = link(source={"tone_map": "none", "null_tones": nulls, "pilot_tones": pilots})
    np.testing.assert_array_equal(np.asarray(a.source.chain.rg.pilot_pattern.mask),
                                  np.asarray(b.source.chain.rg.pilot_pattern.mask))
    assert b.source.data_tones == 108


def test_hadamard_training_is_orthogonal_over_the_training_symbols():
    from hwsim.channels.ofdm import hadamard, training_grid

    for order in (1, 2, 4, 8, 16):
        h = hadamard(order)
        np.testing.assert_allclose(h @ h.T, order * np.eye(order), atol=0)
    src = link(source={"users": 3}).source
    mask, values = training_grid(src)
    assert mask[:, src.pilot_symbols].all()                            # every subcarrier of a training symbol
    train = values[:, src.pilot_symbols][:, :, ~src.null_tones]          # [K, T, used]
    gram = np.einsum("ktm,jtm->kjm", train, train.conj())               # per tone: the users' codes' products
    np.testing.assert_allclose(gram, 4 * np.eye(3)[:, :, None] * np.ones(114), atol=1e-12)


@pytest.mark.parametrize("csi", ["ls", "blmmse"])
def test_the_estimates_from_the_training_recover_the_channel_without_noise(csi):
    p = link(receiver={"csi": csi}, channel={"antennas": 4})
    rng = np.random.default_rng(3)
    idx, obs = p.observe(2, 200.0, rng)                                  # N0 = 1e-20
    chain = p.source.chain
    r = np.ascontiguousarray(np.swapaxes(obs.r, 1, 2))
    y_rg = chain.demodulator(torch.from_numpy(r)[:, None])
    nu = torch.full((2, 1, 4), obs.noise_var, dtype=torch.float64)
    h, err = p.receiver.estimator(y_rg, nu)
    used = ~p.source.null_tones
    true = obs.H[..., used]                                              # [S, N_r, K, used]
    got = h[:, 0, :, 0, :, 0, :].numpy()[..., used]
    tol = 1e-9 if csi == "ls" else 1e-6                                  # LS is exact; LMMSE shrinks by ~N0
    np.testing.assert_allclose(got, true, atol=tol)
    assert float(err[..., used].max()) < 1e-6
    decision = p.receiver.detect(obs)
    assert np.array_equal(decision.indices, idx)                         # no bit error


def test_estimated_csi_degrades_gracefully_with_noise_and_quantization():
    """At a moderate SNR the Bussgang LMMSE estimate from the training costs little against perfect CSI, unquantized
    and 4-bit; the raw LS estimate over the code (no smoothing across tones) costs more."""
    from hwsim.engine.montecarlo import Tally

    bers = {}
    for adc in ({"type": "none"}, {"type": "uniform", "bits": 4}):
        for csi in ("perfect", "ls", "blmmse"):
            p = link(source={"users": 2, "pilot_symbols": [0, 1], "ofdm_symbols": 4},
                     channel={"antennas": 8}, adc=adc, receiver={"csi": csi})
            idx, obs = p.observe(3, 4.0, np.random.default_rng(7))
            t = Tally.of(*p.metric.count(p.source, idx, p.receiver.detect(obs).indices))
            bers[adc.get("bits"), csi] = t.total / t.trials
    for bits in (None, 4):
        assert bers[bits, "perfect"] <= bers[bits, "blmmse"] <= bers[bits, "ls"] * 1.05, bers
        assert bers[bits, "blmmse"] < 1.3 * bers[bits, "perfect"] + 1e-3, bers   # the PDP's filtering: close
        assert bers[bits, "ls"] > 1.5 * bers[bits, "blmmse"], bers      # 2 training symbols: LS is noisy
        assert 1e-4 < bers[bits, "perfect"] < 0.1, bers


def test_the_two_snr_definitions_differ_by_10_log10_users():
    from hwsim.channels.ofdm import RayleighTaps, per_user_snr_db, total_snr_db

    assert float(per_user_snr_db(20.0, 8)) == pytest.approx(20.0 - 10 * math.log10(8), abs=1e-12)
    assert float(per_user_snr_db(20.0, 8, "per_user")) == 20.0
    np.testing.assert_allclose(per_user_snr_db(total_snr_db([0.0, 7.5], 6), 6), [0.0, 7.5], atol=1e-12)
    with pytest.raises(ValueError, match="snr_mode must be one of per_user, total"):
        per_user_snr_db(1.0, 2, "sum")
    # the channel: each antenna receives K (per user) or 1 (total) unit of signal power from all users
    power = {}
    for mode in ("per_user", "total"):
        p = link(source={"users": 4}, channel={"antennas": 16, "snr_mode": mode})
        H = p.channel.draw(200, 4, np.random.default_rng(5))             # [S, N_r, K, L]
        power[mode] = float(np.mean(np.sum(np.abs(H) ** 2, axis=(2, 3))))
        _, x = p.source.draw(4, 1, np.random.default_rng(1))
        y = p.channel.receive(x, H[:4], 300.0, np.random.default_rng(2))
        assert np.mean(np.abs(y) ** 2) == pytest.approx(power[mode], rel=0.15)
    assert power["per_user"] == pytest.approx(4.0, rel=0.05) and power["total"] == pytest.approx(1.0, rel=0.05)
    # the figure's axis states the definition; an Eb/N0 axis needs the per-user one
    total = RayleighTaps.snr_definition({"snr_mode": "total"})
    assert total == "SNR = all users' received power / N0 per receive antenna"
    assert "1/N0 per resource element" in RayleighTaps.snr_definition({"snr_mode": "per_user"})
    assert RayleighTaps.esn0_db(3.0, {"snr_mode": "per_user"}) == 3.0
    with pytest.raises(ValueError, match=r"channel.snr_mode = \"total\""):
        RayleighTaps.esn0_db(3.0, {"snr_mode": "total"})


def test_total_snr_is_per_user_snr_plus_10_log10_users_on_the_link():
    """The same noise and channel draws: a total SNR of s + 10 log10 K gives the per-user link at s bit for bit
    up to the taps' scale (the receivers see the same SINR)."""
    from hwsim.engine.montecarlo import Tally

    counts = {}
    for mode, snr in (("per_user", 2.0), ("total", 2.0 + 10 * math.log10(4))):
        p = link(source={"users": 4}, channel={"antennas": 8, "snr_mode": mode}, receiver={"csi": "blmmse"})
        idx, obs = p.observe(2, snr, np.random.default_rng(11))
        counts[mode] = Tally.of(*p.metric.count(p.source, idx, p.receiver.detect(obs).indices)).total
    assert counts["per_user"] > 0
    assert abs(counts["per_user"] - counts["total"]) <= 0.02 * counts["per_user"] + 2, counts


def test_bad_input_gets_clear_messages():
    with pytest.raises(ValueError, match=r"source.tone_map = '80211n_40mhz' is the map of a 128-point FFT \(114 used "
                                         r"tones\); source.fft_size = 64 cannot hold it"):
        link(source={"fft_size": 64})
    with pytest.raises(ValueError, match=r"source.null_tones\[\] must be <= 63"):
        link(source={"tone_map": "none", "null_tones": [64]})
    with pytest.raises(ValueError, match=r"leave no data tone of the 8 subcarriers"):
        link(source={"tone_map": "none", "fft_size": 8, "null_tones": [-4, -3, -2, -1], "pilot_tones": [0, 1, 2, 3],
                     "cp_length": 4})
    with pytest.raises(ValueError, match=r"subcarriers \[3\] are in both source.null_tones and source.pilot_tones"):
        link(source={"tone_map": "none", "null_tones": [3], "pilot_tones": [3]})
    with pytest.raises(ValueError, match=r"source.null_tones = \[3, 3\] lists a subcarrier twice"):
        link(source={"tone_map": "none", "null_tones": [3, 3]})
    with pytest.raises(ValueError, match=r"gives the null and pilot tones itself"):
        link(source={"null_tones": [0]})
    with pytest.raises(ValueError, match=r"needs source.training = \"hadamard\""):
        link(source={"training": "kronecker", "pilot_symbols": [1]})
    with pytest.raises(ValueError, match=r"source.pilot_symbols holds 4 training symbols, too few for 8 users"):
        link(source={"users": 8})
    with pytest.raises(ValueError, match=r"holds 3 training symbols; the Sylvester Hadamard code needs a power of 2"):
        link(source={"users": 2, "pilot_symbols": [0, 1, 2]})
    with pytest.raises(ValueError, match=r"source.training must be one of kronecker, hadamard"):
        link(source={"training": "zadoff_chu"})
    with pytest.raises(ValueError, match=r"source.tone_map must be one of none, 80211n_40mhz"):
        link(source={"tone_map": "80211ac"})
    with pytest.raises(ValueError, match=r"channel.snr_mode must be one of per_user, total"):
        link(channel={"snr_mode": "sum"})
    # a cyclic prefix shorter than the channel: a warning that names the inter-symbol interference
    with pytest.warns(UserWarning, match=r"longer than the cyclic prefix \(2 samples.*inter-symbol"):
        link(source={"cp_length": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        link(source={"cp_length": 3})                                    # 4 taps: lags 0-3, held by 3 samples


def test_the_shipped_study_validates_and_its_quick_sweep_runs(tmp_path):
    from hwsim.engine.sweep import load_config, run_sweep

    full = load_config("ofdm_uplink")                                    # validates every point
    names = ["unquantized", "bussgang", "qml", "qwls"]
    assert [c["name"] for c in full.curves] == names + [f"{n} est." for n in names]
    assert full.grid["channel.antennas"] == [16, 32, 64] and full.grid["adc.bits"] == [1, 2, 3, 4, 5, 6]
    # the unquantized curves have no converter: one point per SNR and array, drawn in every resolution's figure
    unq = [p for p in full.points() if p.curve == "unquantized"]
    assert len(unq) == len(full.grid["snr_db"]) * 3 and all("adc.bits" not in p.params for p in unq)
    assert len([p for p in full.points() if p.curve == "qml"]) == len(full.grid["snr_db"]) * 3 * 6
    quick = load_config("ofdm_uplink", quick=True)
    assert quick.stopping.max_samples <= 16 and quick.grid["channel.antennas"] == [16]
    run_sweep(quick, tmp_path, workers=1, quiet=True, plot=True)
    rows = {r["curve"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    assert list(rows) == names + [f"{n} est." for n in names]
    assert all(int(r["bits"]) == 8 * 3456 for r in rows.values())       # a packet: 8 users' data bits
    ber = {c: float(r["ber"]) for c, r in rows.items()}
    assert all(0 < b < 0.2 for b in ber.values()), ber                   # 3 bits at 10 dB: about 0.08
    assert rows["unquantized"]["adc.bits"] == "" and rows["qml"]["adc.bits"] == "3"
    assert rows["qml est."]["solves"] != "" and rows["bussgang"]["solves"] == ""
    assert (tmp_path / "plot.png").is_file()


def test_the_coded_study_validates_and_its_quick_sweep_decodes(tmp_path):
    from hwsim.engine.sweep import load_config, run_sweep

    full = load_config("ofdm_uplink_per")
    assert full.system["source"]["code"] == "conv" and full.system["adc"]["agc"] == "shared"
    quick = load_config("ofdm_uplink_per", quick=True)
    from hwsim import study

    words = study.describe(quick.system, [p.params for p in quick.points()])["system"]
    assert "conv K=7 r=5/6 BCJR" in words and "uncoded" not in words          # a decoded metric names its code
    plain = load_config("ofdm_uplink", quick=True)
    words = study.describe(plain.system, [p.params for p in plain.points()])["system"]
    assert "uncoded" in words and "LDPC" not in words                       # the bits as sent: nothing decoded
    run_sweep(quick, tmp_path, workers=1, quiet=True, plot=False)
    rows = {r["curve"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    assert list(rows) == ["unquantized", "bussgang", "qml", "qwls"]
    assert all(int(r["packets"]) == 8 for r in rows.values())            # one slot: 8 users
    assert all(0 <= float(r["per"]) <= 1 for r in rows.values())
