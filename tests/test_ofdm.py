"""Wideband OFDM links (hwsim.channels.ofdm, hwsim.receivers.ofdm): the chain, the converters on time-domain
samples, the receivers, the 5G LDPC code, the BLER metric, bad input and the shipped study."""

import math
import warnings

import numpy as np
import pytest
import torch

from hwsim.engine.montecarlo import StoppingRule, Tally, estimate
from hwsim.pipeline import Pipeline

# 8 code blocks per slot (2 users x 4 blocks of n = 128, k = 64); the cyclic prefix holds the sinc tails of
# the TDL taps (lags -6 ... 7 at 0.96 MHz), so no interference between OFDM symbols
SMALL = {"type": "ofdm", "users": 2, "constellation": "qam16", "fft_size": 32, "cp_length": 16, "ofdm_symbols": 6,
         "pilot_symbols": [1, 4], "block_len": 128, "code_rate": 0.5}


def link(source=None, channel=None, adc=None, receiver=None, metric="bler"):
    tables = {"source": {**SMALL, **(source or {})},
              "channel": channel or {"type": "tdl", "model": "C", "delay_spread": 100e-9, "antennas": 8},
              "adc": adc or {"type": "none"}, "receiver": {"type": "ofdm_lmmse", **(receiver or {})},
              "metric": {"type": metric}}
    p = Pipeline.from_tables(tables)
    p.check()
    return p


def drawn(p, slots, seed):
    """The source's draw of ``slots`` slots from ``seed`` (sent indices, time-domain signal [S, T, K]), the resource
    grid it modulated [S, K, syms, fft] (the same bits drawn again), and the generator after the source's draws."""
    src, chain = p.source, p.source.chain
    sent, x = src.draw(slots, 1, np.random.default_rng(seed))
    rng = np.random.default_rng(seed)
    info = rng.integers(0, 2, size=(slots, src.users, src.blocks, src.k)).astype(np.float64)
    pad = rng.integers(0, 2, size=(slots, src.users, src.data_bits - src.blocks * src.n)).astype(np.float64)
    coded = chain.encoder(torch.from_numpy(info)).reshape(slots, src.users, -1)
    coded = torch.cat([coded, torch.from_numpy(pad).to(coded.dtype)], dim=-1)
    grid = chain.rg_mapper(chain.mapper(coded[:, None])).numpy()[:, 0]
    return sent, x, grid, rng


def chain_pass(p, snr_db, seed, slots):
    """One pass of the pipeline's chain, stage by stage: (sent, antenna samples y, observation, decision, tally)."""
    rng = np.random.default_rng(seed)
    idx, obs = p.observe(slots, snr_db, rng)
    _, y, _ = p.transmit(slots, snr_db, np.random.default_rng(seed))      # the same draws, before the converters
    decision = p.receiver.detect(obs)
    tally = Tally.of(*p.metric.count(p.source, idx, decision.indices))
    return idx, y, obs, decision, tally


@pytest.mark.parametrize("oversampling", [1, 2])
def test_modulation_then_demodulation_over_an_identity_channel_is_lossless(oversampling):
    p = link(channel={"type": "rayleigh_taps", "taps": 1, "antennas": 2, "oversampling": oversampling})
    _, x, grid, _ = drawn(p, 3, 0)
    x_time = np.ascontiguousarray(np.swapaxes(x, 1, 2))                  # [S, K, T]
    back = p.source.chain.demodulator(torch.from_numpy(x_time)[:, None]).numpy()[:, 0]  # identity channel, l_min = 0
    assert x_time.shape[-1] == 6 * oversampling * (32 + 16)
    np.testing.assert_allclose(back, grid, atol=1e-12)
    assert np.count_nonzero(grid[..., :(oversampling - 1) * 16]) == 0      # guard carriers stay empty


def test_the_perfect_csi_frequency_response_is_what_the_time_domain_channel_does():
    for channel in ({"type": "tdl", "antennas": 3, "oversampling": 2}, {"type": "rayleigh_taps", "taps": 3, "antennas": 3}):
        # a cyclic prefix that also holds the sinc tails of the TDL taps (lags -6 ... l_max): no interference
        p = link(channel=channel)
        chain = p.source.chain
        assert chain.l_max - chain.l_min <= chain.demodulator.cyclic_prefix_length
        _, x, X, rng = drawn(p, 2, 1)
        h = p.channel.draw(2, 2, rng)                                      # [S, N_r, K, L]
        y = p.channel.receive(x, h, 400.0, rng)                            # N0 = 1e-40: noiseless
        assert y.shape == (2, x.shape[1] + h.shape[-1] - 1, 3)
        Y = chain.demodulator(torch.from_numpy(np.ascontiguousarray(np.swapaxes(y, 1, 2)))[:, None]).numpy()[:, 0]
        cols = chain.used + chain.fft_size // 2
        H = p.channel.receiver_csi(h, rng)                                 # what the receiver knows: [S, N_r, K, M]
        pred = np.einsum("snkm,sktm->sntm", H, X[..., cols])
        np.testing.assert_allclose(Y[..., cols], pred, atol=1e-12)
        assert abs(np.mean(np.sum(np.abs(h) ** 2, axis=-1)) - 1) < 0.2   # unit mean power per antenna pair


def test_a_very_fine_converter_gives_the_unquantized_link_sample_for_sample():
    fine = {"type": "uniform_range", "levels": 2**12, "gamma": 8.0, "agc": "ideal"}   # step 1/256 of the rail's std
    out = {}
    for name, adc in (("none", {"type": "none"}), ("fine", fine)):
        p = link(adc=adc, receiver={"csi": "blmmse"})
        out[name] = chain_pass(p, -2.0, 7, 6)
        assert out[name][4] == p.link(-2.0)(np.random.default_rng(7), 48)  # the pipeline's link: the same counts
    (idx, y, a, da, t0), (_, y_b, b, db, t1) = out["none"], out["fine"]
    step = 16.0 / 2**12
    assert np.array_equal(y, y_b) and np.array_equal(a.r, y)
    assert np.max(np.abs(b.r - y) / b.scale[:, None, :]) <= step / 2 * math.sqrt(2) + 1e-12
    la, lb = da.llr.numpy(), db.llr.numpy()
    assert np.max(np.abs(la - lb) / (1 + np.abs(la))) < 0.02
    flips = (la > 0) != (lb > 0)
    assert np.all(np.abs(la[flips]) < 0.05) and flips.mean() < 1e-3   # only bits the receiver cannot tell
    wrong_a, wrong_b = (da.indices != idx).any(axis=-1), (db.indices != idx).any(axis=-1)
    assert np.array_equal(wrong_a, wrong_b)                         # the same blocks fail
    assert t0 == t1 and 0 < t0.total < t0.trials    # a point with some block errors, equal counts


def test_one_tap_and_no_quantization_give_the_flat_fading_uncoded_ber():
    snr, n_r = 6.0, 4
    ofdm = link(source={"fft_size": 16, "cp_length": 0, "ofdm_symbols": 3, "pilot_symbols": [0], "block_len": 128},
                channel={"type": "rayleigh_taps", "taps": 1, "antennas": n_r}, receiver={"csi": "perfect"}, metric="ber")
    flat = Pipeline.from_tables({"source": {"type": "users", "users": 2, "constellation": "qam16"},
                                 "channel": {"type": "rayleigh", "antennas": n_r, "frame_len": 64},
                                 "receiver": {"type": "lmmse"}, "metric": {"type": "ber"}})
    rule = StoppingRule(max_samples=600_000, target_errors=None, min_samples=0, batch=400)  # blocks: 200 slots
    e_ofdm = estimate(ofdm.link(snr), np.random.default_rng(3), rule)
    rule_flat = StoppingRule(max_samples=600_000, target_errors=None, min_samples=0, batch=64 * 50)
    e_flat = estimate(flat.link(snr), np.random.default_rng(4), rule_flat)
    se = math.hypot(e_ofdm.ci_high - e_ofdm.ci_low, e_flat.ci_high - e_flat.ci_low) / (2 * 1.96)
    assert 0.01 < e_flat.estimate < 0.2
    assert abs(e_ofdm.estimate - e_flat.estimate) < 3 * se, (e_ofdm, e_flat)


def test_the_ldpc_chain_at_high_snr_has_no_block_errors():
    for adc, csi in (({"type": "none"}, "ls"), ({"type": "uniform", "bits": 4}, "blmmse"),
                     ({"type": "uniform", "bits": 3}, "perfect")):
        tally = link(adc=adc, receiver={"csi": csi}).link(25.0)(np.random.default_rng(11), 48)
        assert tally.trials == 48 and tally.clusters == 6 and tally.total == 0, (adc, csi, tally)


def test_bler_tally_counts_blocks_per_slot_and_coded_ber_counts_information_bits():
    p = link(adc={"type": "uniform", "bits": 1}, receiver={"csi": "perfect"})
    idx, _, _, decision, counts = chain_pass(p, -6.0, 2, 3)
    assert idx.shape == decision.indices.shape == (3, 8, 64)           # slots x blocks x information bits
    tally = p.link(-6.0)(np.random.default_rng(2), 17)  # rounded up to whole slots of 2 users x 4 blocks
    assert isinstance(tally, Tally) and tuple(tally) == tuple(counts)
    wrong = (decision.indices != idx).any(axis=-1).sum(axis=1)
    assert (tally.trials, tally.clusters, tally.total, tally.cluster_sq) == (24, 3, wrong.sum(), float(wrong @ wrong))
    assert tally.total > 0
    bits = link(adc={"type": "uniform", "bits": 1}, receiver={"csi": "perfect"}, metric="coded_ber").link(-6.0)
    t_bits = bits(np.random.default_rng(2), 17)
    assert t_bits.trials == 24 * 64 and t_bits.total == (decision.indices != idx).sum()
    uncoded = link(adc={"type": "uniform", "bits": 1}, receiver={"csi": "perfect"}, metric="ber")
    sent, _, _, hard, t_ber = chain_pass(uncoded, -6.0, 2, 3)
    assert sent.shape == hard.indices.shape == (3, 1, 8 * 128)          # the coded bits of every block
    assert t_ber.trials == 3 * 8 * 128 and t_ber.total == (sent != hard.indices).sum() > t_bits.total


def test_resolution_orders_the_bler_and_bussgang_lmmse_estimation_beats_ls():
    bler = {}
    for bits in (1, 4):
        t = link(adc={"type": "uniform", "bits": bits}, receiver={"csi": "blmmse"}).link(3.0)(np.random.default_rng(5), 96)
        bler[bits] = t.total / t.trials
    assert bler[1] > 0.5 and bler[4] < 0.1, bler
    mse = {}
    for csi in ("ls", "blmmse"):
        p = link(adc={"type": "uniform", "bits": 2}, receiver={"csi": csi})
        _, obs = p.observe(6, 0.0, np.random.default_rng(6))
        rx = p.receiver
        y_rg = rx.chain.demodulator(torch.from_numpy(np.ascontiguousarray(np.swapaxes(obs.r, 1, 2)))[:, None])
        gain, no = rx.bussgang(obs)
        y = y_rg / torch.from_numpy(gain)[:, None, :, None, None]
        h, _ = rx.estimator(y, torch.from_numpy(no)[:, None, :])
        h = h[:, 0, :, 0, :, 0].numpy()                                    # [S, N_r, K, M]
        mse[csi] = np.mean(np.abs(h - obs.H) ** 2)
    assert mse["blmmse"] < 0.5 * mse["ls"], mse


def test_a_large_batch_runs_in_passes_of_whole_slots_whose_tallies_add(monkeypatch):
    """stopping.batch may reach hwsim.engine.montecarlo.MAX_BATCH code blocks; the link then draws whole slots in
    passes of at most MAX_CALL_VALUES samples x antennas, and the passes' tallies add up to the batch's."""
    import hwsim.channels.ofdm as ofdm

    p = link(adc={"type": "uniform", "bits": 1}, receiver={"csi": "perfect"})
    per_slot = p.channel.slot_samples(p.source) * p.channel.antennas
    monkeypatch.setattr(ofdm, "MAX_CALL_VALUES", 2 * per_slot)  # two slots a pass
    seen = []
    observe = p.observe
    monkeypatch.setattr(p, "observe", lambda n, snr, rng: seen.append(n) or observe(n, snr, rng))
    blocks = p.channel.frame_len  # code blocks per slot
    tally = p.link(-6.0)(np.random.default_rng(2), 5 * blocks)  # 5 slots
    assert seen == [2, 2, 1]
    assert (tally.trials, tally.clusters) == (5 * blocks, 5) and isinstance(tally.clusters, int)
    assert 0 < tally.total <= 5 * blocks


def test_same_seed_same_counts():
    p = link(adc={"type": "uniform", "bits": 2})
    a = p.link(-2.0)(np.random.default_rng(9), 24)
    b = p.link(-2.0)(np.random.default_rng(9), 24)
    assert a == b


def test_bad_input_gets_clear_messages():
    with pytest.raises(ValueError, match=r"source.cp_length = 40 samples is longer than the OFDM symbol"):
        link(source={"cp_length": 40})
    with pytest.raises(ValueError, match=r"source.fft_size must be >= 1"):
        link(source={"fft_size": 0})
    with pytest.raises(ValueError, match=r"source.fft_size = 3 is too small for the Kronecker pilots of 2 users"):
        link(source={"fft_size": 3, "cp_length": 0})
    with pytest.raises(ValueError, match=r"948/1024 = 0.9258\), which the 5G NR LDPC code cannot realise"):
        link(source={"code_rate": 0.97})
    with pytest.raises(ValueError, match=r"k = 8 information bits .*5G NR LDPC"):
        link(source={"block_len": 16, "code_rate": 0.5})
    with pytest.raises(ValueError, match=r"source.pilot_symbols = \[0, 0\] must be distinct"):
        link(source={"pilot_symbols": [0, 0]})
    with pytest.raises(ValueError, match=r"room for 0 codewords of source.block_len = 4000"):
        link(source={"block_len": 4000})
    with pytest.raises(ValueError, match=r"channel.model must be one of A, B, C, D, E"):
        link(channel={"type": "tdl", "model": "F"})
    with pytest.raises(ValueError, match=r"receiver.csi must be one of perfect, ls, blmmse"):
        link(receiver={"csi": "genie"})
    with pytest.raises(ValueError, match=r"metric.type = 'bler' scores coded OFDM links"):
        Pipeline.from_tables({"metric": {"type": "bler"}}).check()
    with pytest.raises(ValueError, match=r"a source of time-domain OFDM signals \(source.type = one of ofdm\)"):
        Pipeline.from_tables({"channel": {"type": "tdl"}, "metric": {"type": "bler"}}).check()
    with pytest.raises(ValueError, match=r"does not serve an OFDM link; use one of ofdm_lmmse"):
        Pipeline.from_tables({"source": SMALL, "channel": {"type": "tdl"}, "metric": {"type": "bler"},
                              "receiver": {"type": "lmmse"}}).check()
    with pytest.warns(UserWarning, match=r"longer than the cyclic prefix .*inter-symbol"):
        link(channel={"type": "tdl", "model": "C", "delay_spread": 3000e-9, "antennas": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        link(channel={"type": "tdl", "model": "A", "delay_spread": 30e-9, "antennas": 2})


def test_the_shipped_study_validates_every_point():
    from hwsim.engine.sweep import load_config
    from hwsim import study

    cfg = load_config("ofdm_tdl")                    # validates every point (study.validate)
    assert [c["name"] for c in cfg.curves] == ["unquantized", "1-bit", "2-bit", "3-bit", "4-bit"]
    assert set(cfg.grid["receiver.csi"]) == {"perfect", "blmmse"}
    assert cfg.summary["target"] == 0.1
    assert load_config("ofdm_tdl", quick=True).stopping.max_samples <= 48     # a quick run of a few minutes
    point = cfg.points()[0].params
    with pytest.raises(ValueError, match=r"source.code_rate = 0.96 .* cannot realise"):
        study.validate(cfg.system, {**point, "source.code_rate": 0.96})


@pytest.mark.parametrize("adc", [{"type": "lloyd_max", "bits": 3}, {"type": "vector", "quantizer": "A2", "rate": 2.0},
                                 {"type": "uniform", "bits": 3, "agc": "fixed", "scale": 0.7}])
def test_every_converter_bank_runs_on_the_time_domain_samples(adc):
    for channel in ({"type": "tdl", "model": "A", "antennas": 8, "oversampling": 2},
                    {"type": "rayleigh_taps", "taps": 4, "decay_db": 3.0, "antennas": 8}):
        p = link(adc=adc, channel=channel, receiver={"csi": "blmmse"})
        _, y, obs, _, tally = chain_pass(p, 12.0, 4, 3)
        assert tally.total <= 2, (adc, channel, tally)                  # 3 slots of 8 blocks, nearly all decoded
        assert not np.array_equal(obs.r, y)                             # the converters did act
        gain, no = p.receiver.bussgang(obs)
        assert np.all(gain > 0) and np.all(no > obs.noise_var)


def test_the_shipped_quick_sweep_runs_and_refuses_importance_sampling(tmp_path):
    """ofdm_tdl.toml's quick mode, cut to one SNR and one channel-estimation mode: every curve runs,
    results.csv holds BLER with block counts, and the wideband link refuses estimator = "importance"."""
    import csv

    from hwsim.engine.sweep import load_config, run_sweep

    sets = ['grid.snr_db=[0.0]', 'grid."receiver.csi"=["blmmse"]']
    cfg = load_config("ofdm_tdl", quick=True, overrides=sets)
    run_sweep(cfg, tmp_path, workers=1, quiet=True, plot=False)
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert [r["curve"] for r in rows] == ["unquantized", "1-bit", "2-bit", "3-bit", "4-bit"]
    assert all(0.0 <= float(r["bler"]) <= 1.0 and int(r["blocks"]) >= 24 for r in rows)
    assert float(rows[1]["bler"]) >= float(rows[4]["bler"])  # 1-bit no better than 4-bit at 0 dB
    import tomllib

    from hwsim.engine.sweep import CONFIG_DIR, parse_config

    data = tomllib.loads((CONFIG_DIR / "ofdm_tdl.toml").read_text())
    data["curves"] = [{"name": "x", "estimator": "importance"}]
    with pytest.raises(ValueError, match="estimator = \"plain\" only"):
        parse_config(data, quick=True)
