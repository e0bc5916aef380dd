#!/usr/bin/env python
"""Cost of the converters and the Bussgang-aware receiver in the wideband OFDM link, against Sionna's own
unquantized OFDM link on the same grid, channel and code, measured in the same run.

Both links run the shipped study's system (hwsim/configs/ofdm_tdl.toml): 128 subcarriers, 14 OFDM symbols,
K = 2 users, N_r = 16 antennas, TDL-C 100 ns, 16-QAM, 5G LDPC n = 1536 at rate 1/2 (8 code blocks per
slot), 20 belief-propagation iterations (float32 decoder in both), float64 elsewhere, one torch thread.

- ``sionna`` (the baseline): Sionna 2.x blocks end to end: BinarySource, LDPC5GEncoder, Mapper,
  ResourceGridMapper, OFDMModulator, the TDL drawn once per slot (block fading, as in the hwsim link) turned
  into taps by cir_to_time_channel and applied with AWGN by ApplyTimeChannel, OFDMDemodulator,
  LSChannelEstimator, LMMSEEqualizer, Demapper, LDPC5GDecoder. No converter.
- ``sionna-timechannel`` (with ``--timechannel``, for reference): the same with Sionna's TimeChannel, which evaluates the TDL at every
  time sample (its general, time-varying path; several times slower).
- ``hwsim``: the pipeline's OFDM link (:mod:`hwsim.channels.ofdm`) with 3-bit uniform I/Q converters behind
  the AGC on the time-domain samples and the Bussgang-aware receiver (``ofdm_lmmse``, ``csi = "blmmse"``).
- ``hwsim-unquantized`` (for reference): the same link without converters and with LS estimation.

Each link is timed in CPU seconds of this process (time.process_time, as the machine may be shared), one thread for torch, BLAS
and numba as in a sweep worker, over
``--slots`` slots per call, the links alternating, best of ``--rounds`` rounds. CPU time still grows when
other processes share the cores (caches, memory bandwidth): the ratio of two links measured in the same
rounds is what to read, and on a busy machine it moves by some 10 percentage points from run to run. The last line is
``overhead: N% over Sionna's unquantized OFDM link`` (target: at most 30%; negative: faster). The line
before it compares the quantized link with hwsim's own unquantized link with Sionna's LS estimator.

    python scripts/bench_ofdm.py [--slots S] [--rounds R]     # --quick for a smoke run
"""

import argparse
import time

import numpy as np


def system(adc, csi):
    from hwsim.engine.sweep import load_config
    from hwsim.pipeline import Pipeline

    cfg = load_config("ofdm_tdl")
    tables = {k: dict(v) for k, v in cfg.system.items()}
    tables["adc"] = adc
    tables["receiver"] = {"type": "ofdm_lmmse", "csi": csi}
    p = Pipeline.from_tables(tables)
    p.check()
    return p


def sionna_link(p, snr_db, static=True):
    """Sionna's unquantized time-domain OFDM link on the pipeline's grid, channel and code: run(slots) -> block errors.

    ``static``: the TDL drawn once per slot (one time step), its taps by ``cir_to_time_channel`` and applied by
    ``ApplyTimeChannel`` (block fading, as the hwsim link); else ``TimeChannel``, which evaluates the TDL's
    sum-of-sinusoids model at every time sample (Sionna's general time-varying path, much slower)."""
    import torch
    from sionna.phy.channel import (ApplyTimeChannel, TimeChannel, cir_to_time_channel,
                                    time_lag_discrete_time_channel)
    from sionna.phy.channel.tr38901 import TDL
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
    from sionna.phy.mapping import BinarySource, Demapper, Mapper
    from sionna.phy.mimo import StreamManagement
    from sionna.phy.ofdm import (LMMSEEqualizer, LSChannelEstimator, OFDMDemodulator, OFDMModulator,
                                 ResourceGridMapper)

    from hwsim.channels.ofdm import DECODER_PRECISION, PRECISION, make_grid

    src, ch = p.source, p.channel
    rg = make_grid(src, ch)
    K, bps = src.users, src.bits_per_symbol
    sm = StreamManagement(np.ones((1, 1), dtype=int), K)
    bw = rg.fft_size * rg.subcarrier_spacing
    tdl = TDL(ch.params["model"], ch.params["delay_spread"], ch.params["carrier_frequency"], min_speed=0.0,
              max_speed=0.0, num_rx_ant=ch.antennas, num_tx_ant=K, precision=PRECISION)
    l_min, l_max = time_lag_discrete_time_channel(bw, float(tdl.delays.max()))
    n_time = rg.num_time_samples
    if static:
        apply = ApplyTimeChannel(n_time, l_max - l_min + 1, precision=PRECISION)

        def channel(x, no):
            a, tau = tdl(x.shape[0], 1, bw)
            h = cir_to_time_channel(bw, a, tau, l_min, l_max, normalize=True)
            return apply(x, h.expand(-1, -1, -1, -1, -1, n_time + l_max - l_min, -1), no)
    else:
        channel = TimeChannel(tdl, bw, n_time, l_min=l_min, l_max=l_max, normalize_channel=True, precision=PRECISION)
    source = BinarySource(precision=PRECISION)
    enc = LDPC5GEncoder(src.k, src.n, precision=PRECISION)
    dec = LDPC5GDecoder(enc, hard_out=True, precision=DECODER_PRECISION)
    mapper, demapper = Mapper("qam", bps, precision=PRECISION), Demapper("app", "qam", bps, precision=PRECISION)
    rg_mapper, modulator = ResourceGridMapper(rg, precision=PRECISION), OFDMModulator(rg.cyclic_prefix_length, precision=PRECISION)
    demod = OFDMDemodulator(rg.fft_size, l_min, rg.cyclic_prefix_length, precision=PRECISION)
    ls = LSChannelEstimator(rg, interpolation_type="lin", precision=PRECISION)
    eq = LMMSEEqualizer(rg, sm, precision=PRECISION)
    no = torch.tensor(10.0 ** (-snr_db / 10), dtype=torch.float64)
    filler = src.data_bits - src.blocks * src.n

    def run(slots):
        info = source([slots, K, src.blocks, src.k])
        coded = enc(info).reshape(slots, K, -1)
        coded = torch.cat([coded, source([slots, K, filler])], dim=-1)
        x_time = modulator(rg_mapper(mapper(coded[:, None])))
        y = demod(channel(x_time, no))
        h, err = ls(y, no)
        x_hat, no_eff = eq(y, h, err, no)
        llr = demapper(x_hat, no_eff)[:, 0, :, :src.blocks * src.n].reshape(slots, K, src.blocks, src.n)
        return int((dec(llr.float()) != info.float()).any(dim=-1).sum())

    return run


def papr_report(p, snr_db, rng, slots=2):
    """PAPR of the time-domain signals of ``slots`` slots of the link ``p`` (the source's signal and the antenna
    samples the converters see, drawn by the link's own stages) and the full scale of the uniform converters' AGC."""
    from scipy.stats import norm

    from hwsim.channels.ofdm import papr_db
    from hwsim.designs import uniform_gaussian

    src, os_ = p.source, p.channel.oversampling
    n, cp = os_ * src.fft_size, os_ * src.cp_length
    _, x = src.draw(slots, 1, rng)
    x_time = np.swapaxes(x, 1, 2)                                        # [S, K, T]
    x_sym = x_time.reshape(*x_time.shape[:2], src.ofdm_symbols, n + cp)[..., cp:]
    sym = papr_db(x_sym).ravel()
    _, y, _ = p.transmit(slots, snr_db, rng)                             # [S, T', N_r]
    ant = papr_db(np.swapaxes(y, 1, 2)).ravel()
    print(f"PAPR per OFDM symbol of a user's transmitted signal: median {np.median(sym):.1f} dB, 99th percentile "
          f"{np.percentile(sym, 99):.1f} dB; per slot of an antenna's received signal: median {np.median(ant):.1f} dB, "
          f"max {ant.max():.1f} dB")
    for bits in (1, 2, 3, 4):
        table = uniform_gaussian(bits)
        step = float(np.diff(table.levels).mean()) if bits > 1 else 2 * float(table.levels[-1])
        full = float(table.levels[-1]) + step / 2
        print(f"AGC {bits}-bit: full scale {full:.2f} x the rail's RMS ({20 * np.log10(full):+.1f} dB back-off "
              f"from the rail RMS, {20 * np.log10(full) - 10 * np.log10(2):+.1f} dB from the complex sample's "
              f"RMS), a rail clips with probability {2 * norm.sf(full):.1e}" if bits > 1 else
              f"AGC 1-bit: sign only (output +-{float(table.levels[-1]):.3f} x the rail's RMS), no full scale")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slots", type=int, default=6, help="slots per timed call (8 code blocks each)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--snr", type=float, default=6.0,
                        help="SNR [dB] (1/N0 per resource element; at 6 dB every link decodes every block)")
    parser.add_argument("--timechannel", action="store_true", help="also time Sionna's TimeChannel path")
    parser.add_argument("--quick", action="store_true", help="a smoke run (2 slots, 1 round)")
    args = parser.parse_args()
    if args.quick:
        args.slots, args.rounds = 2, 1
    from hwsim._threads import single_threaded

    with single_threaded():  # one thread for numba, BLAS and torch, as in a sweep worker
        run_bench(args)


def run_bench(args):
    quantized = system({"type": "uniform", "bits": 3, "agc": "ideal"}, "blmmse")
    plain = system({"type": "none"}, "ls")
    blocks = args.slots * quantized.source.blocks_per_slot
    rng = np.random.default_rng(0)
    q_run, p_run = quantized.link(args.snr), plain.link(args.snr)  # what a sweep calls (Tally counts)
    links = {
        "sionna": sionna_link(plain, args.snr),
        "hwsim": lambda slots: q_run(rng, slots * quantized.source.blocks_per_slot).total,
        "hwsim-unquantized": lambda slots: p_run(rng, slots * plain.source.blocks_per_slot).total,
    }
    if args.timechannel:
        links["sionna-timechannel"] = sionna_link(plain, args.snr, static=False)
    for run in links.values():  # warm-up (first calls build caches)
        run(1)
    best = {name: float("inf") for name in links}
    errors = {name: 0 for name in links}
    for _ in range(args.rounds):
        for name, run in links.items():
            start = time.process_time()
            errors[name] += run(args.slots)
            best[name] = min(best[name], time.process_time() - start)
    print(f"system: {quantized.source.users} users, {quantized.channel.antennas} antennas, {quantized.source.fft_size} "
          f"subcarriers x {quantized.source.ofdm_symbols} symbols, TDL-{quantized.channel.params['model']}, "
          f"{blocks} blocks per call, SNR {args.snr} dB")
    for name in links:
        print(f"{name:>18}: {blocks / best[name]:8.1f} blocks/s  ({best[name] / blocks * 1e3:6.2f} ms CPU per block, "
              f"BLER {errors[name] / (blocks * args.rounds):.3f})")
    papr_report(quantized, args.snr, rng)
    own = 100.0 * (best["hwsim"] / best["hwsim-unquantized"] - 1.0)
    print(f"converters + Bussgang-aware receiver: {own:+.0f}% over the same hwsim link unquantized with LS estimation")
    overhead = 100.0 * (best["hwsim"] / best["sionna"] - 1.0)
    print(f"overhead: {overhead:.0f}% over Sionna's unquantized OFDM link")


if __name__ == "__main__":
    main()
