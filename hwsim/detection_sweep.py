"""The first BER study: MAP and QMAP symbol detection versus SNR (seed 001 Sec. 4.2).

System: eq. (8) with ``n_t = 12``, ``n_u = 4``, BPSK, :math:`H_{ij} = e^{-|i-j|}`.
Curves:

- ``MAP``: eq. (9) with perfect CSI;
- ``MAP, CSI uncertainty``: eq. (9) with a channel estimate whose entries carry Gaussian
  noise of variance 20% of their magnitude, redrawn every ``frame_len`` samples;
- ``QMAP R=r``: eq. (10) from ``floor(2**r)`` uniform levels over [-2, 2] on every antenna.

Each (curve, SNR) point draws from its own stream (:func:`hwsim.stats.point_seed`) and
stops at ``target_errors`` bit errors (after ``min_bits``) or at ``max_bits``.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _checks
from .adc import UniformADC
from .budget import split_budget
from .stats import point_seed, wilson_interval

CSV_COLUMNS = ("curve", "rate", "snr_db", "ber", "ci_low", "ci_high", "errors", "bits", "seconds")


@dataclass
class DetectionSweep:
    """Settings of the MAP/QMAP BER sweep (defaults: the full-size study)."""

    snr_db: list[float] = field(default_factory=lambda: [float(s) for s in range(6, 15)])
    rates: list[float] = field(default_factory=lambda: [1.0, 2.0])
    n_t: int = 12
    n_u: int = 4
    gamma: float = 2.0
    csi_error: float = 0.2
    frame_len: int = 100
    target_errors: int = 400
    min_bits: int = 100_000
    max_bits: int = 40_000_000
    chunk_samples: int = 200_000
    seed: int = 2021

    @classmethod
    def quick(cls, **overrides) -> "DetectionSweep":
        """Settings for a run of about a minute: fewer errors and bits per point."""
        base = dict(snr_db=[6.0, 8.0, 10.0, 12.0, 14.0], target_errors=100, min_bits=20_000,
                    max_bits=2_000_000, chunk_samples=100_000)
        base.update(overrides)
        return cls(**base)

    def validate(self) -> None:
        if len(self.snr_db) == 0:
            raise ValueError("snr_db must hold at least one SNR value")
        for s in self.snr_db:
            _checks.real("snr_db", s)
        for r in self.rates:
            split_budget(self.n_t, r, self.n_t)  # >= 2 levels per antenna
        _checks.integer("n_t", self.n_t, minimum=1)
        _checks.integer("n_u", self.n_u, minimum=1)
        _checks.real("gamma", self.gamma, positive=True)
        _checks.real("csi_error", self.csi_error, nonnegative=True)
        _checks.integer("frame_len", self.frame_len, minimum=1)
        _checks.integer("target_errors", self.target_errors, minimum=1)
        _checks.integer("min_bits", self.min_bits, minimum=1)
        _checks.integer("max_bits", self.max_bits, minimum=self.min_bits)
        _checks.integer("chunk_samples", self.chunk_samples, minimum=self.frame_len)

    def curves(self) -> list[tuple[str, float | None]]:
        """(curve kind, rate) pairs in plotting order."""
        return [("MAP", None), ("MAP (CSI uncertainty)", None)] + [("QMAP", r) for r in self.rates]


def _link(settings: DetectionSweep, kind: str, rate, snr_db: float):
    """Return ``simulate(rng, n_frames) -> (bit_errors, bits)`` for one curve at one SNR."""
    from .channels import SymbolChannel, exponential_channel, perturb_channel
    from .receivers import MAPDetector, QMAPDetector

    H = exponential_channel(settings.n_t, settings.n_u)
    channel = SymbolChannel(H)
    const = channel.constellation
    L = settings.frame_len
    if kind == "QMAP":
        adc = UniformADC(split_budget(settings.n_t, rate, settings.n_t).levels, settings.gamma)

    def simulate(rng, n_frames):
        fr = channel.sample(n_frames, L, snr_db, rng)
        if kind == "MAP":
            idx = MAPDetector(H, fr.noise_std).detect(fr.x)
        elif kind == "MAP (CSI uncertainty)":
            idx = MAPDetector(perturb_channel(H, rng, n_frames, settings.csi_error), fr.noise_std).detect(fr.x)
        else:
            idx = QMAPDetector(H, fr.noise_std, adc).detect(adc.encode(fr.x))
        return const.bit_errors(fr.indices, idx), fr.indices.size * const.bits_per_dim

    return simulate


def run_point(settings: DetectionSweep, kind: str, rate, snr_db: float) -> dict:
    """Simulate one (curve, SNR) point until its stopping rule; returns a CSV row."""
    simulate = _link(settings, kind, rate, snr_db)
    rng = np.random.default_rng(point_seed(settings.seed, curve=kind, rate=rate, snr_db=snr_db))
    frames_per_chunk = max(1, settings.chunk_samples // settings.frame_len)
    errors = bits = 0
    start = time.perf_counter()
    while bits < settings.max_bits and (errors < settings.target_errors or bits < settings.min_bits):
        e, b = simulate(rng, frames_per_chunk)
        errors += e
        bits += b
    low, high = wilson_interval(errors, bits)
    return {"curve": kind if rate is None else f"{kind} R={rate:g}", "rate": "" if rate is None else rate,
            "snr_db": snr_db, "ber": errors / bits, "ci_low": low, "ci_high": high, "errors": errors,
            "bits": bits, "seconds": round(time.perf_counter() - start, 3)}


def write_csv_atomic(rows: list[dict], path: Path) -> None:
    """Write ``rows`` to ``path`` through a temporary file and a rename (never half-written)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_ber(rows: list[dict], path: Path, title: str = "") -> None:
    """BER vs SNR, log axis, 95% Wilson intervals as error bars; saved atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for curve in dict.fromkeys(r["curve"] for r in rows):
        pts = [r for r in rows if r["curve"] == curve]
        snr = np.array([float(r["snr_db"]) for r in pts])
        ber = np.array([float(r["ber"]) for r in pts])
        lo = np.array([float(r["ci_low"]) for r in pts])
        hi = np.array([float(r["ci_high"]) for r in pts])
        seen = ber > 0
        line = ax.errorbar(snr[seen], ber[seen], yerr=[ber[seen] - lo[seen], hi[seen] - ber[seen]],
                           marker="o", capsize=3, label=curve)
        if (~seen).any():  # no error seen: show the upper confidence bound only
            ax.plot(snr[~seen], hi[~seen], "v", color=line[0].get_color())
    ax.set_yscale("log")
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("BER")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title or "BER vs SNR (v: upper 95% bound where no error was seen)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


def run(settings: DetectionSweep, out_dir, *, progress: bool = True) -> tuple[Path, Path]:
    """Run every (curve, SNR) point; write ``ber.csv`` and ``ber.png`` in ``out_dir``."""
    from tqdm.auto import tqdm

    settings.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    points = [(kind, rate, snr) for kind, rate in settings.curves() for snr in settings.snr_db]
    rows = []
    for kind, rate, snr in tqdm(points, desc="BER sweep", unit="point", disable=not progress):
        rows.append(run_point(settings, kind, rate, float(snr)))
        write_csv_atomic(rows, out / "ber.csv")
    plot_ber(rows, out / "ber.png",
             title=f"n_t={settings.n_t}, n_u={settings.n_u}, BPSK, H_ij=exp(-|i-j|) (seed {settings.seed})")
    return out / "ber.csv", out / "ber.png"


def snr_at_ber(rows: list[dict], curve: str, target: float = 1e-3) -> float | None:
    """SNR where ``curve`` crosses ``target`` (log-linear interpolation), or None if it never does."""
    pts = sorted((float(r["snr_db"]), float(r["ber"])) for r in rows if r["curve"] == curve)
    for (s0, b0), (s1, b1) in zip(pts, pts[1:]):
        if b0 >= target > b1:
            if b1 <= 0:
                return s1
            return s0 + (s1 - s0) * (np.log(b0) - np.log(target)) / (np.log(b0) - np.log(b1))
    return None
