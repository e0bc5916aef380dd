r"""Exhaustive model-based symbol detectors: MAP (seed 001 eq. (9)) and QMAP (eq. (10)).

Both enumerate the ``Q = A**k`` equiprobable symbol vectors :math:`s_q` of the
constellation (at most :data:`hwsim.channels.constellations.MAX_HYPOTHESES`) and pick the most likely
one, in the log domain, under the model :math:`x = H s + w`, :math:`w \sim \mathcal N(0, \sigma^2 I)`.

Channel argument ``H``: one matrix ``[n, k]`` used for every sample, or one per frame
``[F, n, k]``. Inputs follow it: with one matrix any batch shape ``[..., n]``; with
per-frame matrices exactly ``[F, L, n]`` (sample ``[f, l]`` uses ``H[f]``).
A *mismatched* detector is simply one built from a perturbed channel, e.g.
``MAPDetector(perturb_channel(H, rng, F), sigma)`` (CSI uncertainty).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from hwsim import _checks
from hwsim.converters.adc import ThresholdADC, code_of
from hwsim.channels.constellations import get_constellation

_CHUNK = 256


class _ExhaustiveDetector:
    """Shared set-up: validated channel, hypotheses and noiseless means ``H s_q``."""

    def __init__(self, H, noise_std: float, constellation="bpsk"):
        H = _checks.finite_array("H", H, ndim=(2, 3))
        self.per_frame = H.ndim == 3
        self.H = H if self.per_frame else H[None]
        self.noise_std = _checks.real("noise_std", noise_std, positive=True)
        self.constellation = get_constellation(constellation)
        self.n, self.k = self.H.shape[1:]
        self.hypothesis_indices = self.constellation.hypothesis_indices(self.k)  # [Q, k]
        self.hypotheses = self.constellation.points[self.hypothesis_indices]     # [Q, k]
        # means[f, a, q] = (H_f s_q)_a
        self.means = np.ascontiguousarray(np.matmul(self.H, self.hypotheses.T))

    @property
    def n_hypotheses(self) -> int:
        return self.hypotheses.shape[0]

    def _frames(self, y, name: str):
        """Reshape input [..., n] to [F, L, n] matching the channel frames; returns (array, batch shape)."""
        y = np.asarray(y)
        if y.ndim < 1 or y.shape[-1] != self.n:
            raise ValueError(f"{name} must have shape [..., n={self.n}], got {y.shape}")
        if self.per_frame:
            if y.ndim != 3 or y.shape[0] != self.H.shape[0]:
                raise ValueError(f"with per-frame H of {self.H.shape[0]} frames, {name} must have shape "
                                 f"[{self.H.shape[0]}, L, {self.n}], got {y.shape}")
            return y, y.shape[:-1]
        return y.reshape(1, -1, self.n), y.shape[:-1]

    def detect(self, y) -> np.ndarray:
        """Detected per-dimension alphabet indices, shape [..., k] (batch shape of the input)."""
        return self.hypothesis_indices[self.detect_index(y)]

    def detect_symbols(self, y) -> np.ndarray:
        """Detected symbol vectors, shape [..., k]."""
        return self.hypotheses[self.detect_index(y)]

    def __repr__(self) -> str:
        frames = f", frames={self.H.shape[0]}" if self.per_frame else ""
        return (f"{type(self).__name__}(n={self.n}, k={self.k}, constellation={self.constellation.name!r}, "
                f"noise_std={self.noise_std:g}{frames})")


class MAPDetector(_ExhaustiveDetector):
    r"""MAP detection from unquantized samples (eq. (9)).

    For equiprobable vectors, :math:`\hat q = \arg\max_q \; x^T H s_q - \tfrac12\|H s_q\|^2`.

    Parameters
    ----------
    H : [n, k] or [F, n, k]
        Channel known (or assumed) by the receiver.
    noise_std : float
        :math:`\sigma_w` (only scales the likelihoods; the decision does not depend on it).
    constellation : str or Constellation
    """

    def __init__(self, H, noise_std: float, constellation="bpsk"):
        super().__init__(H, noise_std, constellation)
        self._half_energy = 0.5 * np.sum(self.means**2, axis=1)  # [F, Q]

    def _scores(self, x):
        return np.matmul(x, self.means) - self._half_energy[:, None, :]

    def log_likelihoods(self, x) -> np.ndarray:
        r"""Gaussian log-likelihoods :math:`\log p(x \mid s_q)`, shape [..., Q]."""
        xf, batch = self._frames(_checks.finite_array("x", x), "x")
        s2 = self.noise_std**2
        ll = (self._scores(xf) - 0.5 * np.sum(xf**2, axis=-1, keepdims=True)) / s2
        ll -= 0.5 * self.n * np.log(2 * np.pi * s2)
        return ll.reshape(batch + (self.n_hypotheses,))

    def detect_index(self, x) -> np.ndarray:
        """Index of the MAP hypothesis for each sample, shape [...] (int64)."""
        xf, batch = self._frames(np.asarray(x, dtype=np.float64), "x")
        return np.argmax(self._scores(xf), axis=-1).reshape(batch)


def log_prob_interval(lo, hi):
    r"""Stable :math:`\log(\Phi(hi) - \Phi(lo))` for ``lo < hi`` (arrays broadcast, infinities allowed).

    Works in the tail where :math:`\Phi` is small: intervals on the positive side are
    mirrored, then :math:`\log\Phi(hi) + \log(1 - e^{\log\Phi(lo) - \log\Phi(hi)})` is
    evaluated with ``log_ndtr`` and an accurate ``log1mexp``, so nothing underflows even
    50 standard deviations out.
    """
    from scipy.special import log_ndtr  # here, not at import: every start of hwsim imports this module

    lo, hi = np.broadcast_arrays(np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))
    flip = lo > 0
    a = np.where(flip, -hi, lo)
    b = np.where(flip, -lo, hi)
    lb = log_ndtr(b)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        d = log_ndtr(a) - lb  # <= 0
        d = np.where(np.isnan(d), -np.inf, d)  # a = b = -inf cannot occur for lo < hi
        log1mexp = np.where(d > -np.log(2.0), np.log(-np.expm1(d)), np.log1p(-np.exp(d)))
        out = lb + log1mexp
        # Very narrow cells: the difference above cancels; integrate the density instead
        # (midpoint rule with its second-order correction; next term below 1e-15 relative).
        w = b - a
        m = 0.5 * (a + b)
        narrow = w * np.maximum(1.0, np.abs(m)) < 1e-3
        if np.any(narrow):
            series = np.log(w) - 0.5 * m * m - 0.5 * np.log(2 * np.pi) + np.log1p(w * w * (m * m - 1) / 24)
            out = np.where(narrow, series, out)
    return out


@njit(cache=True, inline="always")
def _argmax(acc):  # pragma: no cover - compiled
    """Index of the first largest entry (np.argmax's tie rule)."""
    best = 0
    best_val = acc[0]
    for q in range(1, acc.size):
        if acc[q] > best_val:
            best_val = acc[q]
            best = q
    return best


@njit(parallel=True, cache=True)
def _qmap_kernel(codes, table, frame_len, out):  # pragma: no cover - compiled
    """Sum per-antenna log-likelihood rows and take the argmax; returns the count of bad codes."""
    n_samples, n = codes.shape
    n_codes = table.shape[2]
    n_hyp = table.shape[3]
    n_chunks = (n_samples + _CHUNK - 1) // _CHUNK
    bad = 0
    for c in prange(n_chunks):
        acc = np.empty(n_hyp)
        stop = min(n_samples, (c + 1) * _CHUNK)
        for i in range(c * _CHUNK, stop):
            tab = table[i // frame_len]
            for q in range(n_hyp):
                acc[q] = 0.0
            ok = True
            for a in range(n):
                code = codes[i, a]
                if code < 0 or code >= n_codes:
                    ok = False
                    break
                row = tab[a, code]
                for q in range(n_hyp):
                    acc[q] += row[q]
            if not ok:
                bad += 1
                out[i] = -1
                continue
            out[i] = _argmax(acc)
    return bad


@njit(parallel=True, cache=True)
def _qmap_errors_kernel(x, thresholds, table, labels, error_table):  # pragma: no cover - compiled
    """Fused encode + lookup-and-sum + argmax + bit-error count for one table [n, M, Q].

    Returns the bit errors and the sum over samples of their squares (for clustered intervals).
    """
    n_samples, n = x.shape
    n_hyp = table.shape[2]
    n_chunks = (n_samples + _CHUNK - 1) // _CHUNK
    total = 0
    total_sq = 0
    for c in prange(n_chunks):
        acc = np.empty(n_hyp)
        stop = min(n_samples, (c + 1) * _CHUNK)
        for i in range(c * _CHUNK, stop):
            for q in range(n_hyp):
                acc[q] = 0.0
            for a in range(n):
                row = table[a, code_of(x[i, a], thresholds)]
                for q in range(n_hyp):
                    acc[q] += row[q]
            e = error_table[labels[i], _argmax(acc)]
            total += e
            total_sq += e * e
    return total, total_sq


#: Largest antenna-pair table (bytes) the fused link builds; beyond it each antenna is looked up alone.
_PAIR_TABLE_BYTES = 1 << 18


@njit(cache=True)
def _qmap_link_kernel(rng, n_samples, means_t, noise_std, thresholds, pairs, table, error_table):  # pragma: no cover
    r"""The whole fixed-channel QMAP link, drawing inside the kernel from the NumPy Generator ``rng``.

    Per sample, in this order: the sent hypothesis :math:`q = \lfloor Q u \rfloor`, :math:`u` =
    ``rng.random()``; then the antennas' noise, one ``rng.standard_normal()`` each, :math:`x_a =
    (H s_q)_a + \sigma z_a`; the code of each :math:`x_a` (the number of thresholds :math:`\le x_a`);
    the QMAP sum of the table rows and its argmax; the bit errors ``error_table[q, q_hat]``.
    ``means_t[q, a]`` = :math:`(H s_q)_a`; ``pairs[p, c * M + c', :]`` = ``table[2p, c] + table[2p+1, c']``
    for the first ``2 P`` antennas (``P = pairs.shape[0]``, may be 0), ``table[a, c, :]`` for the rest.
    Numba draws exactly NumPy's numbers and advances the Generator's own state, so a run split into
    calls of any size draws the same stream, and no batch-sized array is allocated.
    Returns (bit errors, sum over samples of their squares).
    """
    n_hyp, n = means_t.shape
    n_thr = thresholds.size
    n_levels = table.shape[1]
    n_pairs = pairs.shape[0]
    x = np.empty(n)
    codes = np.empty(n, np.int64)
    acc = np.empty(n_hyp)
    total = 0
    total_sq = 0
    for _ in range(n_samples):
        q = int(rng.random() * n_hyp)
        for a in range(n):
            x[a] = rng.standard_normal()
        for a in range(n):
            x[a] = means_t[q, a] + noise_std * x[a]
            codes[a] = 0
        for t in range(n_thr):  # codes as counts of thresholds <= x, vectorised over the antennas
            level = thresholds[t]
            for a in range(n):
                codes[a] += level <= x[a]
        for j in range(n_hyp):
            acc[j] = 0.0
        for p in range(n_pairs):
            cc = codes[2 * p] * n_levels + codes[2 * p + 1]
            for j in range(n_hyp):
                acc[j] += pairs[p, cc, j]
        for a in range(2 * n_pairs, n):
            c = codes[a]
            for j in range(n_hyp):
                acc[j] += table[a, c, j]
        best = 0
        best_val = acc[0]
        for j in range(1, n_hyp):  # first largest entry (np.argmax's tie rule)
            if acc[j] > best_val:
                best_val = acc[j]
                best = j
        e = error_table[q, best]
        total += e
        total_sq += e * e
    return total, total_sq


def _pair_table(table: np.ndarray) -> np.ndarray:
    """``pairs[p, c * M + c', :] = table[2p, c] + table[2p+1, c']`` for a table [n, M, Q]; [0, M*M, Q] when
    the pairs would exceed :data:`_PAIR_TABLE_BYTES` (then each antenna is looked up alone)."""
    n, m, q = table.shape
    if (n // 2) * m * m * q * 8 > _PAIR_TABLE_BYTES:
        return np.zeros((0, m * m, q))
    half = 2 * (n // 2)
    pairs = table[0:half:2, :, None, :] + table[1:half:2, None, :, :]
    return np.ascontiguousarray(pairs.reshape(n // 2, m * m, q))


def qmap_link_errors(detector: "QMAPDetector", rng: np.random.Generator, n_samples: int,
                     error_table) -> tuple[int, int]:
    r"""Simulate ``n_samples`` uses of a fixed real channel and count QMAP's bit errors, drawing in the kernel.

    Model per sample: :math:`x = H s_q + \sigma w`, :math:`w \sim \mathcal N(0, I_n)`, the sent
    hypothesis :math:`q` uniform over the detector's :math:`Q` symbol vectors (every user's symbol
    independent and uniform), :math:`\sigma` the detector's ``noise_std``; each :math:`x_a` goes
    through the detector's ADC and QMAP (eq. (10)) decides. The QMAP sum adds precomputed rows of
    antenna pairs, ``table[2p, c] + table[2p+1, c']`` (at most :data:`_PAIR_TABLE_BYTES` of them), half
    the additions of one row per antenna; the sum is the detector's up to rounding, so decisions can
    differ from :meth:`QMAPDetector.detect_index` only where two hypotheses tie to rounding error.

    Parameters
    ----------
    detector : QMAPDetector
        Built from one ``[n, k]`` channel; its ADC, noise level and table define the link.
    rng : numpy.random.Generator
        Any bit generator (PCG64, Philox, ...). Per sample the kernel draws ``rng.random()`` (the
        hypothesis, :math:`\lfloor Q u \rfloor`) and then ``n`` values of ``rng.standard_normal()``;
        the Generator's state advances exactly as those NumPy calls would.
    n_samples : int
        Channel uses.
    error_table : int [Q, Q]
        Bits that differ between hypotheses (:meth:`~hwsim.channels.Constellation.bit_error_table`).

    Returns
    -------
    (errors, errors_sq) : (int, int)
        Total bit errors and the sum over samples of each sample's errors squared.
    """
    if detector.per_frame:
        raise ValueError("qmap_link_errors needs a detector built from one [n, k] channel")
    _checks.generator("rng", rng)
    n_samples = _checks.integer("n_samples", n_samples, minimum=0)
    error_table = np.ascontiguousarray(error_table, dtype=np.int32)
    q = detector.n_hypotheses
    if error_table.shape != (q, q):
        raise ValueError(f"error_table must be [Q, Q] = [{q}, {q}], got {error_table.shape}")
    cache = detector.__dict__.get("_link_tables")
    if cache is None:  # built once per detector: the hypotheses' means by row and the antenna-pair table
        cache = detector._link_tables = (np.ascontiguousarray(detector.means[0].T), _pair_table(detector.table[0]))
    total, total_sq = _qmap_link_kernel(rng, n_samples, cache[0], detector.noise_std, detector.adc.thresholds,
                                        cache[1], detector.table[0], error_table)
    return int(total), int(total_sq)


class QMAPDetector(_ExhaustiveDetector):
    r"""MAP detection from the codes of a threshold-table ADC on every antenna (eq. (10)).

    With cell :math:`[t_c, t_{c+1})` for code :math:`c`, the likelihood factorises over antennas:

    .. math:: \log \Pr(c \mid s_q) = \sum_a \log\!\left(\Phi\!\left(\tfrac{t_{c_a+1} - (Hs_q)_a}{\sigma}\right)
              - \Phi\!\left(\tfrac{t_{c_a} - (Hs_q)_a}{\sigma}\right)\right).

    The per-antenna, per-code, per-hypothesis table ``table[f, a, c, q]`` is computed once
    (:func:`log_prob_interval`), so detection is a numba lookup-and-sum.

    Parameters
    ----------
    H : [n, k] or [F, n, k]
    noise_std : float
    adc : ThresholdADC
        The converter applied to every antenna.
    constellation : str or Constellation
    """

    def __init__(self, H, noise_std: float, adc: ThresholdADC, constellation="bpsk"):
        if not isinstance(adc, ThresholdADC):
            raise TypeError(f"adc must be a ThresholdADC, got {type(adc).__name__}")
        super().__init__(H, noise_std, constellation)
        self.adc = adc
        edges = adc.cell_edges
        mu = self.means[:, :, None, :]  # [F, n, 1, Q]
        lo = (edges[:-1, None] - mu) / self.noise_std
        hi = (edges[1:, None] - mu) / self.noise_std
        self.table = np.ascontiguousarray(log_prob_interval(lo, hi))  # [F, n, M, Q]

    def log_likelihoods(self, codes) -> np.ndarray:
        """Log-likelihood of the observed codes under every hypothesis, shape [..., Q]."""
        cf, batch = self._frames(self._check_codes(codes, check_range=True), "codes")
        a = np.arange(self.n)
        f = np.arange(cf.shape[0])[:, None, None]
        ll = self.table[f, a, cf].sum(axis=2)  # [F, L, Q]
        return ll.reshape(batch + (self.n_hypotheses,))

    def _check_codes(self, codes, *, check_range: bool = False):
        c = np.asarray(codes)
        if not np.issubdtype(c.dtype, np.integer):
            raise TypeError(f"codes must be integers, got dtype {c.dtype}")
        if check_range and c.size and (c.min() < 0 or c.max() >= self.adc.n_levels):
            raise ValueError(f"codes must lie in [0, {self.adc.n_levels - 1}] for this ADC")
        return c

    def detect_index(self, codes) -> np.ndarray:
        """Index of the QMAP hypothesis for each sample, shape [...] (int64)."""
        cf, batch = self._frames(self._check_codes(codes), "codes")
        frame_len = max(cf.shape[1], 1)
        flat = np.ascontiguousarray(cf.reshape(-1, self.n), dtype=np.int32)
        out = np.empty(flat.shape[0], dtype=np.int64)
        if _qmap_kernel(flat, self.table, frame_len, out):
            raise ValueError(f"codes must lie in [0, {self.adc.n_levels - 1}] for this ADC")
        return out.reshape(batch)


def qmap_bit_errors(detector: QMAPDetector, x, labels, error_table) -> tuple[int, int]:
    """Bit errors of QMAP decisions on unquantized samples ``x`` [B, n], fused in one numba pass.

    Encodes with the detector's ADC, detects, and sums ``error_table[labels, decision]``
    (:meth:`~hwsim.channels.Constellation.bit_error_table`) without materialising codes or
    decisions: the Monte Carlo hot path for one fixed channel. Returns ``(errors,
    errors_sq)``: the total, the same as ``bit_errors(indices, detector.detect(detector.adc.encode(x)))``,
    and the sum over samples of each sample's bit errors squared (the clustered interval's input).
    """
    if detector.per_frame:
        raise ValueError("qmap_bit_errors needs a detector built from one [n, k] channel")
    x = np.ascontiguousarray(x, dtype=np.float64).reshape(-1, detector.n)
    if np.isnan(x).any():
        raise ValueError("x must not contain NaN (an ADC has no code for it)")
    labels = np.ascontiguousarray(labels, dtype=np.int64).reshape(-1)
    if labels.size != x.shape[0]:
        raise ValueError(f"labels must hold one entry per sample ({x.shape[0]}), got {labels.size}")
    total, total_sq = _qmap_errors_kernel(x, detector.adc.thresholds, detector.table[0], labels, error_table)
    return int(total), int(total_sq)


def qmap_direct(codes, H, noise_std: float, adc: ThresholdADC, constellation="bpsk") -> np.ndarray:
    """Plain-numpy QMAP reference: evaluates the Gaussian CDFs for every sample (slow).

    ``codes`` [B, n], ``H`` [n, k]; returns hypothesis indices [B]. Used as a test oracle
    and as the baseline of ``scripts/bench_detection.py``.
    """
    if np.ndim(H) != 2:
        raise ValueError(f"H must be one [n, k] matrix, got shape {np.shape(H)}")
    det = _ExhaustiveDetector(H, noise_std, constellation)
    edges = adc.cell_edges
    codes = np.asarray(codes)
    mu = det.means[0][None]                                          # [1, n, Q]
    lo = (edges[codes][..., None] - mu) / det.noise_std              # [B, n, Q]
    hi = (edges[codes + 1][..., None] - mu) / det.noise_std
    return np.argmax(log_prob_interval(lo, hi).sum(axis=1), axis=-1)


# ---- pipeline components (hwsim.pipeline): exhaustive detection on small real or complex links -----------

from hwsim.components import register  # noqa: E402  (kept beside the components it registers)

from .base import Decision, Detector  # noqa: E402


def _check_real_link(link, name: str) -> None:
    """The hybrid receiver serves seed 001's real link (``channel.real``) of at most
    :data:`hwsim.channels.constellations.MAX_HYPOTHESES` symbol vectors."""
    if not link.channel.real:
        raise ValueError(f"receiver.type = {name!r} detects on a real-valued link (seed 001's model: "
                         f"channel.type = \"exponential\"), got channel.type = {link.channel.name!r}; for complex "
                         "links use a scalable detector (lmmse, blmmse, nml, kbest, ep, mmse_pic)")
    get_constellation("bpsk").hypothesis_indices(link.source.users)  # the exhaustive limit


def _check_exhaustive(link) -> None:
    """At most :data:`hwsim.channels.constellations.MAX_HYPOTHESES` symbol vectors (e.g. 12 BPSK, 6 QPSK or 3 16-QAM users)."""
    view = _RealView(link.source.constellation, link.channel.real)
    view.alphabet.hypothesis_indices(link.source.users * view.dims_per_user)


class _RealView:
    r"""A link's model in real coordinates, for the real exhaustive detectors.

    Complex link: :math:`[\mathrm{Re}\,y; \mathrm{Im}\,y] = [[\mathrm{Re}\,H, -\mathrm{Im}\,H];
    [\mathrm{Im}\,H, \mathrm{Re}\,H]] [\mathrm{Re}\,s; \mathrm{Im}\,s] + w`, noise :math:`N_0/2` per real
    entry; a square QAM is a Gray PAM per real dimension (I then Q), BPSK one real dimension per user.
    Real link (seed 001's model): as it is, noise :math:`N_0`.
    """

    def __init__(self, qam, real_link: bool):
        self.qam, self.real_link = qam, real_link
        self.dims_per_user = 1 if (real_link or qam.is_real) else 2
        if qam.bits_per_symbol == 1:
            self.alphabet = get_constellation("bpsk")
        else:
            from hwsim.channels.constellations import Constellation

            self.alphabet = Constellation(qam.name, qam.axis_points, complex_symbols=True)

    def channel(self, H):
        if self.real_link:
            return H
        top = np.concatenate([H.real, -H.imag], axis=-1) if self.dims_per_user == 2 else H.real
        bottom = np.concatenate([H.imag, H.real], axis=-1) if self.dims_per_user == 2 else H.imag
        return np.concatenate([top, bottom], axis=-2)

    def signal(self, r):
        return r if self.real_link else np.concatenate([r.real, r.imag], axis=-1)

    def noise_std(self, noise_var: float) -> float:
        return float(np.sqrt(noise_var if self.real_link else noise_var / 2))

    def indices(self, positions):
        """Per-real-dimension alphabet positions [..., dims] -> QAM symbol indices [..., K]."""
        if self.dims_per_user == 1:
            return self.alphabet.gray[positions]
        k = positions.shape[-1] // 2
        gray = self.alphabet.gray
        return (gray[positions[..., :k]] << (self.qam.bits_per_symbol // 2)) | gray[positions[..., k:]]


@register("receiver", "map")
class MAP(Detector):
    """Exhaustive MAP detection on unquantized samples (seed 001 eq. (9); :class:`MAPDetector`), on seed
    001's real link or a small complex one (through its real decomposition).

    With a CSI error on the channel the detector is the mismatched one built from the receiver's copy.
    """

    real_link = True

    def __init__(self):
        super().__init__()  # no parameters

    def check_link(self, link) -> None:
        _check_exhaustive(link)
        if link.adc.quantizes:
            raise ValueError(f"receiver.type = 'map' detects from unquantized samples (adc.type = \"none\"), got "
                             f"adc.type = {link.adc.name!r}; for quantized samples use receiver.type = \"qmap\"")

    def detect(self, obs) -> Decision:
        view = _RealView(obs.constellation, not np.iscomplexobj(obs.r))
        H = view.channel(obs.H[0] if obs.fixed_channel else obs.H)
        detector = MAPDetector(H, view.noise_std(obs.noise_var), view.alphabet)
        return Decision(view.indices(detector.detect(view.signal(obs.r))))


@register("receiver", "qmap")
class QMAP(Detector):
    r"""Exhaustive MAP detection from the converters' codes (seed 001 eq. (10); :class:`QMAPDetector`), on
    seed 001's real link or a small complex one (I and Q converters, through its real decomposition).

    Needs converters that share one table and one fixed full scale (``adc.agc = "fixed"``) and white
    noise at their inputs. For a fixed real channel known exactly, the link runs one numba kernel
    that draws inside it, per sample, the symbols and the noise, then quantizes, detects and counts
    (:func:`qmap_link_errors`, :meth:`fused_link`): the same model as the generic path, on its own
    per-sample order of draws (so the counts equal the generic path's in distribution, not draw for
    draw).
    """

    real_link = True

    def __init__(self):
        super().__init__()  # no parameters
        self._detector = None

    def check_link(self, link) -> None:
        from hwsim.converters.banks import require_scalar_cells

        _check_exhaustive(link)
        require_scalar_cells(link, self.name, "a linear receiver (receiver.type = \"lmmse\")")
        if link.adc.fixed_scale is None:
            raise ValueError("receiver.type = 'qmap' needs converters with one table and a fixed full scale "
                             f"(adc.agc = \"fixed\"), got adc = {link.adc!r}")
        if link.frontend.combines:
            raise ValueError(f"receiver.type = 'qmap' needs white noise at the converters (frontend.type = "
                             f"\"identity\"), got {link.frontend.name!r}")

    @staticmethod
    def _table(adc: ThresholdADC, scale: float) -> ThresholdADC:
        return adc if scale == 1.0 else ThresholdADC(adc.thresholds * scale, adc.levels * scale)

    def _qmap(self, H, noise_std: float, adc: ThresholdADC, alphabet) -> QMAPDetector:
        """The detector of one fixed channel is built once and reused while nothing changes."""
        key = (H.tobytes(), noise_std, adc.thresholds.tobytes(), alphabet.name)
        if self._detector is None or self._detector[0] != key:
            self._detector = (key, QMAPDetector(H, noise_std, adc, alphabet))
        return self._detector[1]

    def detect(self, obs) -> Decision:
        scale = np.unique(obs.scale)
        if scale.size != 1:
            raise ValueError("receiver.type = 'qmap' needs one full scale for every converter (adc.agc = \"fixed\")")
        view = _RealView(obs.constellation, not np.iscomplexobj(obs.r))
        adc = self._table(obs.adc, float(scale[0]))
        codes = adc.encode(view.signal(obs.r))  # each reconstruction lies inside its own cell: the codes exactly
        noise_std = view.noise_std(obs.noise_var)
        if obs.fixed_channel:
            detector = self._qmap(view.channel(obs.H[0]), noise_std, adc, view.alphabet)
        else:
            detector = QMAPDetector(view.channel(obs.H), noise_std, adc, view.alphabet)
        return Decision(view.indices(detector.detect(codes)))

    def fused_link(self, link, snr_db: float, draws: str = "kernel"):
        """The fused kernel's link for a fixed real channel known exactly and the BER metric; else None.

        ``run(rng, batch)`` returns (bit errors, bits, samples, sum over samples of their errors squared):
        the samples are the independent clusters; ``batch`` is rounded up to whole frames, as the
        generic link does.

        ``draws = "kernel"`` (the default): one numba kernel draws, per sample in a fixed order, the
        sent symbol vector and the noise from ``rng`` and quantizes, detects and counts
        (:func:`qmap_link_errors`): no batch-sized arrays, and the same numbers whatever the batch
        size of the calls. ``draws = "numpy"``: the earlier path, kept as the benchmark's baseline:
        :meth:`hwsim.pipeline.Pipeline.transmit` draws the batch with vectorised NumPy (symbols, then
        noise), then :func:`qmap_bit_errors` detects and counts.
        """
        if draws not in ("kernel", "numpy"):
            raise ValueError(f"draws must be 'kernel' or 'numpy', got {draws!r}")
        if (link.channel.random or not link.channel.real or not link.metric.counts_bits
                or link.frontend.combines or link.adc.fixed_scale is None):
            return None
        const = get_constellation("bpsk")
        k, n = link.source.users, link.channel.antennas
        adc = self._table(link.adc.table_for(n), link.adc.fixed_scale)
        detector = QMAPDetector(link.channel.draw(1, k, None)[0], 10.0 ** (-snr_db / 20), adc, const)
        error_table = const.bit_error_table(k)
        frame_len = link.channel.frame_len

        if draws == "kernel":
            def run(rng: np.random.Generator, batch: int):
                samples = -(-int(batch) // frame_len) * frame_len
                errors, errors_sq = qmap_link_errors(detector, rng, samples, error_table)
                return errors, samples * k, samples, errors_sq

            return run

        def run_numpy(rng: np.random.Generator, batch: int):
            idx, y, _ = link.transmit(-(-int(batch) // frame_len), snr_db, rng)
            errors, errors_sq = qmap_bit_errors(detector, y, const.labels(idx), error_table)
            samples = idx.shape[0] * idx.shape[1]
            return errors, samples * k, samples, errors_sq

        return run_numpy
