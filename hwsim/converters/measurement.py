r"""Measured converters back in: a capture of a converter's raw output codes becomes its decision
table, by the code-density (histogram) test of IEEE Std 1241-2010, with its static and dynamic
figures of merit.

Capture files (:func:`read_capture`)
------------------------------------
- CSV (``.csv``): printable ASCII; a header row naming a ``code`` column and optionally a
  ``converter`` column (several converters in one file, their rows in any order; an integer or a
  name of letters, digits and ``_.:-``) and a ``sample`` column (the sample index, a whole number
  >= 0: the time order; without it the rows' order is the time order). No other columns (a typo
  would otherwise be ignored), no comment lines; every cell a whole decimal number (the converter
  column: or a name)::

      sample,converter,code
      0,0,3
      0,1,4
      1,0,5
      ...

- NumPy (``.npy``): a 1-D integer array of codes ``[samples]``, or a 2-D one
  ``[samples, converters]`` (converter ``j`` is column ``j``, named ``"j"``); read with
  ``allow_pickle=False``.

Sizes are bounded before anything is parsed: at most ``max_bytes`` (default
:data:`MAX_CAPTURE_BYTES`) per file, read from its size, and at most ``max_samples`` (default
:data:`MAX_CAPTURE_SAMPLES`) codes, from the ``.npy`` header or the CSV's line count. Codes must be
whole numbers in ``[0, M-1]`` (``M`` levels); the first that is not is named with its CSV line or
``.npy`` index. Every problem is a ValueError naming the file.

The code-density test (IEEE Std 1241-2010, 4.1.6.3)
---------------------------------------------------
With ``H[k]`` the hits of code ``k`` in ``N`` samples and the cumulative histogram
:math:`CH_k = \sum_{j<k} H[j]`, :math:`p_k = CH_k / N` (``k = 1 .. M-1``), the transition level
:math:`T_k` (the input where the code steps from ``k-1`` to ``k``) is the stimulus's quantile at
:math:`p_k`:

- ``stimulus="sine"`` (arcsine density of :math:`C + A \sin\theta`, uniform phase):
  :math:`T_k = C - A \cos(\pi p_k)`;
- ``stimulus="ramp"`` (a linear ramp or triangle over :math:`[C - A, C + A]`, or any stimulus uniform
  there): :math:`T_k = C - A + 2 A p_k`.

The stimulus must overdrive the converter: a transition with :math:`p_k = 0` or ``1`` (code 0 or
``M-1`` never seen, or the codes beyond) is not measured and is NaN.

Amplitude and offset. The histogram fixes the transition levels only up to the stimulus's
amplitude :math:`A` and offset :math:`C`, so these come from outside: given (``amplitude`` and
``offset``, both, in input units: the absolute transition levels), or, when not given, fitted so that
the measured levels best fit a nominal converter in least squares, :math:`T^{nom}_k \approx C + A s_k`
with :math:`s_k = -\cos(\pi p_k)` (sine) or :math:`2 p_k - 1` (ramp), over the measured transitions.
The nominal converter is ``nominal`` (a table), or the uniform one of ``M`` levels over
``full_scale`` (thresholds ``lo + k (hi - lo) / M``). The fit removes the converter's gain and offset
errors (they are not measurable without a known stimulus; the nonlinearity is); the analysis says
which was done (``amplitude_source``). With neither, the analysis refuses (ValueError): a histogram
alone does not determine them.

Uncertainty. Treating the ``N`` samples as independent draws of a random phase, :math:`CH_k` is
binomial, :math:`\operatorname{var} p_k = p_k (1 - p_k) / N`, and by the delta method the standard
uncertainty of :math:`T_k` is

.. math:: \sigma_k = \left|\frac{dT_k}{dp_k}\right| \sqrt{p_k (1 - p_k) / N},\qquad
          \frac{dT}{dp} = \pi A \sin(\pi p) \text{ (sine)},\; 2A \text{ (ramp)}

(``transition_std``). A coherently sampled record (deterministic phases) scatters far less, so
:math:`\sigma_k` is then an upper estimate. Not included: the uncertainty of :math:`A` and
:math:`C` (exact when given; that of the fit when fitted), and the bias of input noise: Gaussian
noise of std :math:`\sigma_n` on a sine moves each estimate outwards by
:math:`\approx \frac{\sigma_n^2}{2} \frac{T_k - C}{A^2 - (T_k - C)^2}` (first order in
:math:`\sigma_n^2`; :func:`noise_bias`), and not at all on a ramp away from its ends.

Missing codes. An inner code ``k`` with no hits has :math:`T_k = T_{k+1}` (a cell of zero width,
DNL = -1); it is reported in ``missing_codes``, as is an end code never seen. The derived table
holds the codes that were seen: its thresholds are the transition levels between consecutive seen
codes (a missing code's cell is merged away, ``merged_codes``), its levels the nominal table's
levels of those codes when ``nominal`` is given, else the cell mid-points with the outer cells
extended by half the neighbouring width (:func:`hwsim.converters.impairments.from_transition_levels`).

Linearity, in LSB, over the measured transitions (``k = 1 .. M-1``):

- end-point: :math:`Q = (T_{last} - T_{first}) / (last - first)`,
  :math:`\mathrm{INL}_k = (T_k - T_{first} - (k - first) Q) / Q`;
- best fit: the least-squares line :math:`T_k \approx G k + O`,
  :math:`\mathrm{INL}_k = (T_k - G k - O) / G`;
- :math:`\mathrm{DNL}_k = (T_{k+1} - T_k) / Q - 1` for the inner codes ``k = 1 .. M-2`` (end-point ``Q``);
- against the nominal converter (when there is one): ``(T_k - T_nom_k) / Q_nom``, ``Q_nom`` its mean
  inner code width (``deviation_lsb``).

For a table that is non-uniform on purpose (Lloyd-Max), INL and DNL against a straight line show
that design; ``deviation_lsb`` shows the converter's error.

Spectrum of a sine capture (:func:`sine_spectrum`)
--------------------------------------------------
The FFT of the output codes (as numbers, LSB units: the converter's digital output) in time order,
mean removed. With ``cycles`` = ``J`` given, the record must be coherent: the spectrum's largest
bin must be ``J`` (otherwise ValueError); no window (rectangular), the fundamental is bin ``J`` and
each component one bin. Without ``cycles``, a 4-term Blackman-Harris window (sidelobes below -92 dB)
and the fundamental's frequency estimated (power centroid of its main lobe); each component is then
the band of :math:`\pm 5` bins around it. Harmonics ``h = 2 .. 6`` (the first five after the
fundamental) are placed at :math:`h f_0` folded into ``[0, N/2]`` (aliased); one that falls on DC or on
the fundamental is left out and said so.

- SINAD :math:`= 10 \log_{10} (P_\text{signal} / P_\text{noise+distortion})`, everything but DC and the
  fundamental;
- THD :math:`= 10 \log_{10} (\sum_h P_h / P_\text{signal})` (dBc, negative);
- SFDR :math:`= 10 \log_{10} (P_\text{signal} / P_\text{largest spur})` (dBc);
- ENOB :math:`= (\mathrm{SINAD} - 1.76) / 6.02` bits (datasheet definition), referred to the sine's
  actual amplitude: a sine of amplitude :math:`a` codes below full scale ``M/2`` gives about
  :math:`\log_2(M / 2a)` bits less.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import _checks
from .adc import MAX_LEVELS, ThresholdADC

#: Largest capture file :func:`read_capture` opens by default (bytes).
MAX_CAPTURE_BYTES = 512 * 2**20
#: Most codes a capture may hold by default.
MAX_CAPTURE_SAMPLES = 2**26
#: Stimuli the code-density test knows.
STIMULI = ("sine", "ramp")
#: Half-width (bins) of a component's band under the Blackman-Harris window.
WINDOW_HALF_BINS = 5

_INT = re.compile(r"-?[0-9]{1,18}")
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_CSV_COLUMNS = ("code", "converter", "sample")


# ====================================================================== capture files
@dataclass(frozen=True)
class Capture:
    """A capture file's codes (:func:`read_capture`).

    Attributes
    ----------
    path : str
        The file.
    sha256 : str
        Hex SHA-256 of its bytes.
    codes : dict
        Converter name -> int64 codes in time order.
    time_ordered : dict
        Converter name -> whether its samples are consecutive in time (no gaps in the ``sample``
        column), so that its spectrum means something.
    """

    path: str
    sha256: str
    codes: dict
    time_ordered: dict

    @property
    def converters(self) -> tuple[str, ...]:
        return tuple(self.codes)


def _file_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ValueError(f"{path}: no such capture file") from None
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file")
    if size > max_bytes:
        raise ValueError(f"{path} holds {size} bytes; a capture may hold at most max_bytes = {max_bytes} "
                         "(hwsim.converters.measurement.MAX_CAPTURE_BYTES); pass max_bytes to read a larger one")
    with open(path, "rb") as f:
        data = f.read(size + 1)
    if len(data) > size:
        raise ValueError(f"{path} changed while it was being read")
    return data


def _check_range(path, codes: np.ndarray, n_levels: int, where) -> None:
    bad = (codes < 0) | (codes > n_levels - 1)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(f"{path}: {where(i)}: code {int(codes.ravel()[i])} is outside [0, {n_levels - 1}] "
                         f"(levels M = {n_levels}); give the converter's level count, or fix the capture")


def _read_npy(path: Path, data: bytes, n_levels: int, max_samples: int):
    import io

    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except ValueError as exc:
        raise ValueError(f"{path} is not a readable .npy file ({exc})") from None
    if dtype.kind not in "iu" or dtype.hasobject:
        raise ValueError(f"{path}: a capture holds integer codes, but the array's dtype is {dtype} (save codes as "
                         "an integer array, e.g. numpy.save(path, codes.astype(numpy.int16)))")
    if len(shape) not in (1, 2) or 0 in shape:
        raise ValueError(f"{path}: a capture is a 1-D array [samples] or a 2-D array [samples, converters] with "
                         f"samples, got shape {shape}")
    n = math.prod(shape)
    if n > max_samples:
        raise ValueError(f"{path}: {n} codes, more than max_samples = {max_samples} "
                         "(hwsim.converters.measurement.MAX_CAPTURE_SAMPLES); pass max_samples to read more")
    if len(data) - f.tell() != n * dtype.itemsize:
        raise ValueError(f"{path}: the .npy header promises {n} values of {dtype.itemsize} bytes, but the file holds "
                         f"{len(data) - f.tell()} bytes of data")
    arr = np.frombuffer(data, dtype=dtype, count=n, offset=f.tell()).reshape(shape, order="F" if fortran else "C")
    if dtype.kind == "u" and dtype.itemsize == 8:
        if (arr > np.iinfo(np.int64).max).any():
            raise ValueError(f"{path}: codes beyond 2^63")
    arr = arr.astype(np.int64)
    if arr.ndim == 1:
        _check_range(path, arr, n_levels, lambda i: f"sample {i}")
        return {"0": arr}
    _check_range(path, arr, n_levels, lambda i: f"sample {i // arr.shape[1]}, converter {i % arr.shape[1]} "
                                                f"(index [{i // arr.shape[1]}, {i % arr.shape[1]}])")
    return {str(j): np.ascontiguousarray(arr[:, j]) for j in range(arr.shape[1])}


def _read_csv(path: Path, data: bytes, n_levels: int, max_samples: int):
    bad = re.search(rb"[^\x20-\x7e\r\n]|\r(?!\n)", data)
    if bad:
        line = data.count(b"\n", 0, bad.start()) + 1
        raise ValueError(f"{path}: line {line}: a capture CSV holds only printable ASCII and line ends, but byte "
                         f"{bad.start()} is {data[bad.start():bad.start() + 1]!r}")
    n_lines = data.count(b"\n")
    if n_lines > max_samples + 1:
        raise ValueError(f"{path}: {n_lines} lines, more than max_samples = {max_samples} rows "
                         "(hwsim.converters.measurement.MAX_CAPTURE_SAMPLES); pass max_samples to read more")
    lines = data.decode("ascii").replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise ValueError(f"{path}: empty capture file")
    header = [c.strip().lower() for c in lines[0].split(",")]
    unknown = [c for c in header if c not in _CSV_COLUMNS]
    if "code" not in header or unknown or len(set(header)) != len(header):
        raise ValueError(f"{path}: line 1: the header row must name a 'code' column and optionally 'converter' and "
                         f"'sample' columns, each once, nothing else; got {lines[0][:80]!r}")
    width = len(header)
    col = {name: header.index(name) for name in header}
    codes, convs, samples = [], [], []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != width:
            raise ValueError(f"{path}: line {n}: expected {width} cells ({','.join(header)}), got {len(cells)}")
        c = cells[col["code"]]
        if not _INT.fullmatch(c):
            raise ValueError(f"{path}: line {n}: code must be a whole decimal number, got {c[:40]!r}")
        value = int(c)
        if not 0 <= value <= n_levels - 1:
            raise ValueError(f"{path}: line {n}: code {value} is outside [0, {n_levels - 1}] (levels M = {n_levels}); "
                             "give the converter's level count, or fix the capture")
        codes.append(value)
        if "converter" in col:
            name = cells[col["converter"]]
            if not _NAME.fullmatch(name):
                raise ValueError(f"{path}: line {n}: converter must be a number or a name of letters, digits and "
                                 f"_.:- (at most 64), got {name[:40]!r}")
            convs.append(name)
        if "sample" in col:
            s = cells[col["sample"]]
            if not _INT.fullmatch(s) or int(s) < 0:
                raise ValueError(f"{path}: line {n}: sample must be a whole number >= 0, got {s[:40]!r}")
            samples.append((int(s), n))
    if not codes:
        raise ValueError(f"{path}: the capture holds no codes (only a header row)")
    codes = np.array(codes, dtype=np.int64)
    names = convs if convs else ["0"] * codes.size
    out, ordered = {}, {}
    for name in dict.fromkeys(names):
        idx = np.flatnonzero(np.array([v == name for v in names])) if convs else np.arange(codes.size)
        if samples:
            s = np.array([samples[i][0] for i in idx], dtype=np.int64)
            order = np.argsort(s, kind="stable")
            dup = np.flatnonzero(np.diff(s[order]) == 0)
            if dup.size:
                a, b = samples[idx[order[dup[0]]]][1], samples[idx[order[dup[0] + 1]]][1]
                raise ValueError(f"{path}: lines {a} and {b}: converter {name} has sample {int(s[order[dup[0]]])} "
                                 "twice")
            idx = idx[order]
            ordered[name] = bool(np.all(np.diff(s[order]) == 1))
        else:
            ordered[name] = True
        out[name] = codes[idx]
    return out, ordered


def read_capture(path, n_levels: int, *, max_bytes: int | None = None, max_samples: int | None = None) -> Capture:
    """Read a capture of raw codes (``.csv`` or ``.npy``; module text for the layout and the bounds).

    Parameters
    ----------
    path : str or Path
        The capture file.
    n_levels : int
        The converter's level count ``M``: codes must lie in ``[0, M-1]``.
    max_bytes, max_samples : int or None
        Bounds (None: :data:`MAX_CAPTURE_BYTES`, :data:`MAX_CAPTURE_SAMPLES`).

    Returns
    -------
    Capture
    """
    import hashlib

    path = Path(path)
    n_levels = _checks.integer("n_levels", n_levels, minimum=2, maximum=MAX_LEVELS)
    max_bytes = _checks.integer("max_bytes", MAX_CAPTURE_BYTES if max_bytes is None else max_bytes, minimum=1)
    max_samples = _checks.integer("max_samples", MAX_CAPTURE_SAMPLES if max_samples is None else max_samples,
                                  minimum=1)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npy"):
        raise ValueError(f"{path}: a capture file is a .csv or a .npy file, got the extension {path.suffix!r}")
    data = _file_bytes(path, max_bytes)
    if suffix == ".npy":
        codes = _read_npy(path, data, n_levels, max_samples)
        ordered = {k: True for k in codes}
    else:
        codes, ordered = _read_csv(path, data, n_levels, max_samples)
    return Capture(path=str(path), sha256=hashlib.sha256(data).hexdigest(), codes=codes, time_ordered=ordered)


# ====================================================================== the code-density test
def noise_bias(transition_levels, amplitude: float, offset: float, noise_std: float) -> np.ndarray:
    r"""First-order bias of the sine code-density estimate from Gaussian input noise of std ``noise_std``:
    :math:`\frac{\sigma_n^2}{2} \frac{T - C}{A^2 - (T - C)^2}` (module text; outwards from the offset)."""
    u = np.asarray(transition_levels, dtype=np.float64) - offset
    return noise_std**2 / 2 * u / (amplitude**2 - u**2)


def _shape(stimulus: str, p: np.ndarray) -> np.ndarray:
    """The standardised stimulus quantile ``s(p)``: ``T = C + A s(p)``."""
    return -np.cos(np.pi * p) if stimulus == "sine" else 2 * p - 1


def _nominal_thresholds(n_levels: int, nominal, full_scale) -> np.ndarray | None:
    if nominal is not None:
        return nominal.thresholds
    if full_scale is not None:
        lo, hi = full_scale
        return lo + (hi - lo) * np.arange(1, n_levels) / n_levels
    return None


def _linearity(t: np.ndarray):
    """End-point and best-fit INL, DNL (LSB) of transition levels with NaN where not measured."""
    m1 = t.size
    k = np.arange(1, m1 + 1, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(t))
    nan = np.full(m1, np.nan)
    if ok.size < 2 or t[ok[-1]] <= t[ok[0]]:
        return np.full(max(m1 - 1, 0), np.nan), nan, nan.copy(), math.nan, math.nan
    first, last = ok[0], ok[-1]
    q = (t[last] - t[first]) / (last - first)
    inl_ep = (t - t[first] - (k - k[first]) * q) / q
    g, o = np.polyfit(k[ok], t[ok], 1)
    inl_bf = (t - (g * k + o)) / g
    dnl = np.diff(t) / q - 1.0
    return dnl, inl_ep, inl_bf, float(q), float(g)


@dataclass(frozen=True)
class CaptureAnalysis:
    """What a capture says about its converter (:func:`analyze_codes`, :func:`analyze_capture`; module text).

    Attributes
    ----------
    table : ThresholdADC or None
        The derived decision table (the codes seen; None when fewer than two codes were seen).
    n_levels : int
        The converter's level count ``M``.
    stimulus : str
        ``"sine"`` or ``"ramp"``.
    amplitude : float
        The stimulus's amplitude ``A`` used (input units).
    offset : float
        The stimulus's offset ``C`` used (input units).
    amplitude_source : str
        ``"given"``, or how ``A`` and ``C`` were fitted.
    n_samples : int
        Codes in the capture ``N``.
    hits : numpy.ndarray
        Hits of each code (int64, shape ``[M]``).
    transition_levels : numpy.ndarray
        :math:`T_1 .. T_{M-1}` (shape ``[M-1]``), NaN where not measured.
    transition_std : numpy.ndarray
        Their standard uncertainties (binomial, delta method; shape ``[M-1]``).
    dnl : numpy.ndarray
        DNL of the inner codes (LSB of the end-point line; shape ``[M-2]``).
    inl_endpoint : numpy.ndarray
        INL (LSB) against the end-point line (shape ``[M-1]``).
    inl_best_fit : numpy.ndarray
        INL (LSB) against the least-squares line (shape ``[M-1]``).
    deviation_lsb : numpy.ndarray or None
        ``(T - T_nominal) / Q_nominal`` when there is a nominal converter (shape ``[M-1]``).
    lsb_endpoint : float
        The code width of the end-point line (input units).
    lsb_best_fit : float
        The code width (slope) of the least-squares line (input units).
    missing_codes : tuple
        Codes with no hits.
    merged_codes : tuple
        Codes the table leaves out (the missing ones).
    sinad_db : float or None
        SINAD (dB) of a sine capture; None for a ramp, or a capture with gaps in time.
    sfdr_db : float or None
        SFDR (dBc), likewise.
    thd_db : float or None
        THD (dBc, harmonics 2 to 6), likewise.
    enob : float or None
        ENOB (bits), likewise.
    spectrum : dict or None
        :func:`sine_spectrum`'s result.
    full_scale : tuple or None
        The full scale given.
    levels_source : str
        Where the table's levels come from.
    source : dict
        Where the codes came from (capture file, its SHA-256, converter).
    notes : tuple
        What the analysis did that a reader should know (text).
    """

    table: ThresholdADC | None
    n_levels: int
    stimulus: str
    amplitude: float
    offset: float
    amplitude_source: str
    n_samples: int
    hits: np.ndarray
    transition_levels: np.ndarray
    transition_std: np.ndarray
    dnl: np.ndarray
    inl_endpoint: np.ndarray
    inl_best_fit: np.ndarray
    deviation_lsb: np.ndarray | None
    lsb_endpoint: float
    lsb_best_fit: float
    missing_codes: tuple
    merged_codes: tuple
    sinad_db: float | None
    sfdr_db: float | None
    thd_db: float | None
    enob: float | None
    spectrum: dict | None
    full_scale: tuple | None
    levels_source: str
    source: dict = field(default_factory=dict)
    notes: tuple = ()

    @property
    def method(self) -> str:
        """The method, in words (the provenance of an exported table)."""
        density = "arcsine density, T_k = C - A cos(pi CH_k / N)" if self.stimulus == "sine" else \
            "uniform density, T_k = C - A + 2 A CH_k / N"
        return f"IEEE Std 1241-2010 code-density (histogram) test, {self.stimulus} stimulus: {density}"

    def provenance(self) -> dict:
        """The provenance an exported table carries (capture file and SHA-256, stimulus, method)."""
        prov = dict(self.source)
        prov.update({"method": self.method,
                     "stimulus": {"type": self.stimulus, "amplitude": self.amplitude, "offset": self.offset,
                                  "amplitude_source": self.amplitude_source},
                     "samples": self.n_samples, "capture_levels": self.n_levels,
                     "missing_codes": list(self.missing_codes), "merged_codes": list(self.merged_codes),
                     "levels": self.levels_source})
        if self.spectrum is not None:
            prov["stimulus"]["cycles"] = self.spectrum.get("cycles")
        return prov

    def export(self, path, fmt: str | None = None, *, units: str = "V", dac=None) -> dict:
        """Write the derived table with :func:`hwsim.converters.tables.export_table` (provenance:
        :meth:`provenance`); the full scale is the one given, widened where a measured threshold lies
        outside it (said in the provenance), or the default one."""
        from .tables import export_table

        if self.table is None:
            raise ValueError("the capture gives no table (fewer than two codes were seen); nothing to export")
        prov = self.provenance()
        fs = self.full_scale
        if fs is not None:
            t = self.table.thresholds
            if t[0] < fs[0] or t[-1] > fs[1]:
                fs = (min(fs[0], float(t[0])), max(fs[1], float(t[-1])))
                prov["full_scale_widened"] = f"from [{self.full_scale[0]}, {self.full_scale[1]}] to contain the " \
                                             "measured thresholds"
        return export_table(self.table, path, fmt, full_scale=fs, units=units, provenance=prov, dac=dac)

    def summary(self) -> str:
        """The analysis as text: stimulus, transition levels with their uncertainties, DNL/INL, missing
        codes, spectral figures."""
        def f(v, spec="+.3f"):
            return "n/a" if v is None or not np.isfinite(v) else format(float(v), spec)

        from .._progress import shown   # text from a file: one line of printable ASCII

        src = self.source.get("capture_file")
        lines = [f"capture:      {shown(src) if src else '(array)'}"
                 + (f", converter {shown(self.source['converter'])}" if "converter" in self.source else "")
                 + f", {self.n_samples} samples, M = {self.n_levels} levels",
                 f"stimulus:     {self.stimulus}, amplitude {self.amplitude:.6g}, offset {self.offset:.6g} "
                 f"({self.amplitude_source})",
                 f"method:       {self.method}",
                 "transitions:  k  T_k  (sigma_k)"]
        for k, (t, s) in enumerate(zip(self.transition_levels, self.transition_std), start=1):
            lines.append(f"  {k:4d}  {f(t, '+.6f')}  ({f(s, '.2e')})")
        if self.dnl.size:
            lines.append("DNL (LSB):    " + ", ".join(f(v) for v in self.dnl))
            lines.append(f"max |DNL| = {f(_nanmaxabs(self.dnl), '.3f')} LSB; max |INL| = "
                         f"{f(_nanmaxabs(self.inl_endpoint), '.3f')} LSB (end-point, LSB "
                         f"{self.lsb_endpoint:.6g}), {f(_nanmaxabs(self.inl_best_fit), '.3f')} LSB (best fit, LSB "
                         f"{self.lsb_best_fit:.6g})")
            lines.append("INL end-point (LSB): " + ", ".join(f(v) for v in self.inl_endpoint))
            lines.append("INL best fit (LSB):  " + ", ".join(f(v) for v in self.inl_best_fit))
        if self.deviation_lsb is not None:
            lines.append("T - T_nominal (LSB): " + ", ".join(f(v) for v in self.deviation_lsb))
        lines.append("missing codes: " + (", ".join(map(str, self.missing_codes)) if self.missing_codes else "none"))
        if self.table is not None:
            lines.append(f"table:        {self.table.n_levels} levels ({self.levels_source})"
                         + (f"; code(s) {', '.join(map(str, self.merged_codes))} merged away (never seen)"
                            if self.merged_codes else ""))
        else:
            lines.append("table:        none (fewer than two codes seen)")
        if self.spectrum is not None:
            sp = self.spectrum
            lines.append(f"spectrum:     {sp['method']}")
            lines.append(f"SINAD {self.sinad_db:.2f} dB, SFDR {self.sfdr_db:.2f} dBc, THD {self.thd_db:.2f} dBc "
                         f"(harmonics 2-{sp['harmonics'] + 1}), ENOB {self.enob:.3f} bits (sine amplitude "
                         f"{sp['amplitude_codes']:.4g} codes; full scale {self.n_levels / 2:g})")
        for note in self.notes:
            lines.append(f"note: {note}")
        return "\n".join(lines)


def _nanmaxabs(v):
    v = np.asarray(v, dtype=np.float64)
    return float(np.nanmax(np.abs(v))) if np.isfinite(v).any() else None


def analyze_codes(codes, n_levels: int, *, stimulus: str, amplitude: float | None = None,
                  offset: float | None = None, full_scale=None, nominal: ThresholdADC | None = None,
                  cycles: int | None = None, time_ordered: bool = True, source: dict | None = None) -> CaptureAnalysis:
    """The code-density test and the spectrum of one converter's codes (module text).

    Parameters
    ----------
    codes : array_like of int, shape [N]
        Output codes in ``[0, M-1]``, in time order.
    n_levels : int
        ``M``.
    stimulus : {"sine", "ramp"}
        The stimulus (module text).
    amplitude, offset : float or None
        The stimulus's ``A`` (> 0) and ``C``, in input units; both or neither. Neither: fitted to the
        nominal converter (``nominal`` or ``full_scale``).
    full_scale : (lo, hi) or None
        The converter's input range: the uniform nominal converter when ``nominal`` is None, and the full
        scale of an exported table.
    nominal : ThresholdADC or None
        The converter's nominal table (``M`` levels): what ``deviation_lsb`` compares against, the fit of
        ``A`` and ``C`` when not given, and the levels of the derived table.
    cycles : int or None
        Whole sine cycles in the record (coherent sampling); None: a window (module text).
    time_ordered : bool
        Whether ``codes`` are consecutive samples (False: no spectrum).
    source : dict or None
        Where the codes came from (``capture_file``, ``capture_sha256``, ``converter``), for the provenance.

    Returns
    -------
    CaptureAnalysis
    """
    if stimulus not in STIMULI:
        raise ValueError(f"stimulus must be one of {', '.join(STIMULI)}, got {stimulus!r}")
    m = _checks.integer("n_levels", n_levels, minimum=2, maximum=MAX_LEVELS)
    x = np.asarray(codes)
    if x.ndim != 1 or x.size < 2 or x.dtype.kind not in "iu":
        raise ValueError(f"codes must be a 1-D integer array of at least 2 codes, got dtype {x.dtype} shape {x.shape}")
    x = x.astype(np.int64)
    _check_range("codes", x, m, lambda i: f"codes[{i}]")
    if full_scale is not None:
        from .fixed_point import check_full_scale

        full_scale = check_full_scale("full_scale", full_scale)
    if nominal is not None:
        if not isinstance(nominal, ThresholdADC) or nominal.n_levels != m:
            raise ValueError(f"nominal must be a ThresholdADC of n_levels = {m} levels, got {nominal!r}")
    if (amplitude is None) != (offset is None):
        raise ValueError("give amplitude and offset together (the stimulus's A and C), or neither (then they are "
                         "fitted to the nominal converter: give nominal or full_scale)")
    n = x.size
    hits = np.bincount(x, minlength=m)
    cum = np.cumsum(hits)[:-1]                       # CH_k, k = 1 .. M-1
    p = cum / n
    measured = (cum > 0) & (cum < n)
    notes = []
    t_nom = _nominal_thresholds(m, nominal, full_scale)
    s = _shape(stimulus, p)
    if amplitude is not None:
        a = _checks.real("amplitude", amplitude)
        c = _checks.real("offset", offset)
        if not a > 0:
            raise ValueError(f"amplitude must be > 0, got {a}")
        how = "given"
    else:
        if t_nom is None:
            raise ValueError("amplitude and offset are not given and a histogram alone does not determine them: give "
                             "amplitude and offset (the stimulus's A and C), or full_scale (fit to the uniform "
                             "converter over it) or nominal (fit to that table)")
        ok = np.flatnonzero(measured)
        if ok.size < 2 or np.ptp(s[ok]) <= 0:
            raise ValueError("amplitude and offset cannot be fitted: fewer than two transitions were measured "
                             "(the stimulus must overdrive the converter: codes 0 and M-1 must occur)")
        a, c = np.polyfit(s[ok], t_nom[ok], 1)
        a, c = float(a), float(c)
        if not a > 0:
            raise ValueError(f"the fitted amplitude is {a:.6g} <= 0: the capture does not fit the nominal converter")
        to = "nominal table" if nominal is not None else "uniform converter over full_scale"
        how = f"fitted: least squares of the transition levels to the {to}; the converter's gain and offset " \
              "errors are not measured"
    t = np.where(measured, c + a * s, np.nan)
    dtdp = np.pi * a * np.sin(np.pi * p) if stimulus == "sine" else np.full(p.shape, 2 * a)
    std = np.where(measured, np.abs(dtdp) * np.sqrt(p * (1 - p) / n), np.nan)
    missing = tuple(int(k) for k in np.flatnonzero(hits == 0))
    if missing:
        notes.append((f"codes {', '.join(map(str, missing))} never occur" if len(missing) > 1 else
                      f"code {missing[0]} never occurs") + " (missing codes)"
                     + ("; transitions next to an end code never seen are not measured (NaN): the stimulus did not "
                        "overdrive the converter" if hits[0] == 0 or hits[-1] == 0 else ""))
    if 0 < hits[0] < 0.001 * n or 0 < hits[-1] < 0.001 * n:
        notes.append("an end code holds under 0.1 % of the samples: the stimulus barely overdrives the converter")
    dnl, inl_ep, inl_bf, q_ep, q_bf = _linearity(t)
    deviation = None
    if t_nom is not None:
        q_nom = (t_nom[-1] - t_nom[0]) / (m - 2) if m >= 3 else float(np.ptp(full_scale)) / m if full_scale else 1.0
        deviation = (t - t_nom) / q_nom
    # the table of the codes seen
    seen = np.flatnonzero(hits > 0)
    merged = tuple(int(k) for k in np.flatnonzero(hits == 0))
    table, levels_source = None, "none"
    if seen.size >= 2:
        thr = c + a * _shape(stimulus, cum[seen[1:] - 1] / n)     # T at the boundary below each seen code
        if np.all(np.diff(thr) > 0):
            if nominal is not None:
                table = ThresholdADC(thr, nominal.levels[seen])
                levels_source = "the nominal table's levels of the codes seen"
            elif thr.size >= 2:
                from .impairments import from_transition_levels

                table = from_transition_levels(thr)
                levels_source = "cell mid-points, outer cells extended by half the neighbouring width"
            else:
                notes.append("only two codes were seen and no nominal table gives their levels: no table")
    if merged and table is not None:
        notes.append(f"the table holds the {seen.size} codes seen: the cell{'s' if len(merged) > 1 else ''} of code"
                     f"{'s' if len(merged) > 1 else ''} {', '.join(map(str, merged))} merged into the neighbours")
    spectrum = None
    if stimulus == "sine":
        if not time_ordered:
            notes.append("the samples are not consecutive in time (gaps in the sample column): no spectrum")
        elif n < 64:
            notes.append("fewer than 64 samples: no spectrum")
        elif seen.size < 2:
            notes.append("a constant record (one code): no spectrum")
        else:
            spectrum = sine_spectrum(x, cycles=cycles)
            notes += spectrum["notes"]
    elif cycles is not None:
        notes.append("cycles is ignored for a ramp (spectral figures need a sine)")
    return CaptureAnalysis(
        table=table, n_levels=m, stimulus=stimulus, amplitude=a, offset=c, amplitude_source=how, n_samples=n,
        hits=hits, transition_levels=t, transition_std=std, dnl=dnl, inl_endpoint=inl_ep, inl_best_fit=inl_bf,
        deviation_lsb=deviation, lsb_endpoint=q_ep, lsb_best_fit=q_bf, missing_codes=missing, merged_codes=merged,
        sinad_db=None if spectrum is None else spectrum["sinad_db"],
        sfdr_db=None if spectrum is None else spectrum["sfdr_db"],
        thd_db=None if spectrum is None else spectrum["thd_db"],
        enob=None if spectrum is None else spectrum["enob"], spectrum=spectrum, full_scale=full_scale,
        levels_source=levels_source, source=dict(source or {}), notes=tuple(notes))


def analyze_capture(path, n_levels: int, *, stimulus: str, converter=None, amplitude: float | None = None,
                    offset: float | None = None, full_scale=None, nominal: ThresholdADC | None = None,
                    cycles: int | None = None, max_bytes: int | None = None,
                    max_samples: int | None = None) -> CaptureAnalysis:
    """:func:`analyze_codes` of one converter of a capture file (:func:`read_capture`).

    ``converter``: its name (a CSV's converter column; a 2-D ``.npy``'s column index); None when the file
    holds one converter. Other arguments as for :func:`analyze_codes` and :func:`read_capture`.
    """
    cap = read_capture(path, n_levels, max_bytes=max_bytes, max_samples=max_samples)
    if converter is None:
        if len(cap.converters) != 1:
            raise ValueError(f"{path} holds {len(cap.converters)} converters ({', '.join(cap.converters[:10])}"
                             f"{', ...' if len(cap.converters) > 10 else ''}); choose one with converter=")
        name = cap.converters[0]
    else:
        name = str(converter)
        if name not in cap.codes:
            raise ValueError(f"converter {name!r} is not in {path} (it holds {', '.join(cap.converters[:10])})")
    source = {"capture_file": Path(path).name, "capture_sha256": cap.sha256}
    if len(cap.converters) > 1 or converter is not None:
        source["converter"] = name
    return analyze_codes(cap.codes[name], n_levels, stimulus=stimulus, amplitude=amplitude, offset=offset,
                         full_scale=full_scale, nominal=nominal, cycles=cycles, time_ordered=cap.time_ordered[name],
                         source=source)


# ====================================================================== spectrum
def _fold(f: float, n: int) -> float:
    """Frequency ``f`` (bins) aliased into ``[0, N/2]``."""
    f = f % n
    return n - f if f > n / 2 else f


def sine_spectrum(codes, *, cycles: int | None = None, harmonics: int = 5) -> dict:
    """SINAD, SFDR, THD and ENOB of a sine record of codes (module text).

    Parameters
    ----------
    codes : array_like, shape [N]
        The record in time order (codes as numbers).
    cycles : int or None
        Whole cycles ``J`` of a coherent record (rectangular window, checked); None: Blackman-Harris window.
    harmonics : int
        How many harmonics after the fundamental THD sums (default 5: ``h = 2 .. 6``).

    Returns
    -------
    dict
        ``sinad_db``, ``sfdr_db``, ``thd_db``, ``enob``, ``fundamental_bin`` (float), ``harmonic_bins``
        (h -> bin or None where left out), ``amplitude_codes``, ``cycles``, ``method``, ``notes``,
        ``power_db`` (the one-sided spectrum in dB relative to the fundamental, for plots).
    """
    x = np.asarray(codes, dtype=np.float64)
    n = x.size
    harmonics = _checks.integer("harmonics", harmonics, minimum=1, maximum=50)
    notes = []
    x = x - x.mean()
    if not np.any(x):
        raise ValueError("the record is constant: no sine in it")
    if cycles is not None:
        j = _checks.integer("cycles", cycles, minimum=1)
        if not j < n / 2:
            raise ValueError(f"cycles must be below N/2 = {n / 2:g} (the Nyquist frequency), got {j}")
        half = 0
        spec = np.fft.rfft(x)
    else:
        from scipy.signal.windows import blackmanharris

        half = WINDOW_HALF_BINS
        spec = np.fft.rfft(x * blackmanharris(n, sym=False))
    power = np.abs(spec) ** 2
    power[1:(n + 1) // 2] *= 2                    # one-sided (the Nyquist bin of an even N is not doubled)
    nb = power.size
    k0 = int(np.argmax(power[half + 1:])) + half + 1
    if cycles is not None:
        if k0 != j:
            raise ValueError(f"cycles = {j}, but the record's largest spectral line is at bin {k0}: the record is not "
                             f"coherent with {j} cycles (check J and N, or leave cycles out to use a window)")
        f0 = float(j)
        if math.gcd(j, n) != 1:
            notes.append(f"gcd(cycles, N) = {math.gcd(j, n)}: the record repeats every {n // math.gcd(j, n)} "
                         "samples, so the quantization error is periodic and lands on harmonics (choose J and N "
                         "coprime)")
        method = f"coherent sampling, J = {j} cycles in N = {n} samples, rectangular window"
    else:
        lo, hi = max(k0 - 3, 1), min(k0 + 3, nb - 1)
        kk = np.arange(lo, hi + 1)
        f0 = float(np.sum(kk * power[lo:hi + 1]) / np.sum(power[lo:hi + 1]))
        method = (f"4-term Blackman-Harris window, fundamental at {f0:.3f} cycles per record (estimated), components "
                  f"+-{half} bins")

    def band(center: float) -> np.ndarray:
        b = int(round(center))
        return np.arange(max(b - half, 0), min(b + half, nb - 1) + 1)

    excluded = np.zeros(nb, dtype=bool)
    excluded[band(0.0)] = True                    # DC
    sig = band(f0)
    dc_or_sig = excluded.copy()
    dc_or_sig[sig] = True
    p_sig = float(power[sig].sum())
    p_nad = float(power[~dc_or_sig].sum())
    harm_mask = np.zeros(nb, dtype=bool)
    harmonic_bins = {}
    for h in range(2, harmonics + 2):
        fh = _fold(h * f0, n)
        bh = band(fh)
        if dc_or_sig[bh].any():
            harmonic_bins[h] = None
            onto = "DC" if excluded[bh].any() else "the fundamental"
            notes.append(f"harmonic {h} aliases to {fh:.3f} cycles, onto {onto}: left out of THD")
            continue
        harmonic_bins[h] = fh
        harm_mask[bh] = True
    p_harm = float(power[harm_mask].sum())
    # the largest spur: the largest band (as wide as a component) clear of DC and the fundamental
    width = 2 * half + 1
    sums = np.convolve(power, np.ones(width), mode="same")
    clear = ~np.convolve(dc_or_sig.astype(float), np.ones(width), mode="same").astype(bool)
    p_spur = float(sums[clear].max()) if clear.any() else math.nan
    sinad = 10 * math.log10(p_sig / p_nad) if p_nad > 0 else math.inf
    thd = 10 * math.log10(p_harm / p_sig) if p_harm > 0 else -math.inf
    sfdr = 10 * math.log10(p_sig / p_spur) if p_spur > 0 else math.inf
    amp = math.sqrt(2 * float(np.var(x)) * p_sig / float(power.sum()))
    with np.errstate(divide="ignore"):
        power_db = 10 * np.log10(power / max(float(power[sig].max()), 1e-300))
    return {"sinad_db": sinad, "sfdr_db": sfdr, "thd_db": thd, "enob": (sinad - 1.76) / 6.02,
            "fundamental_bin": f0, "harmonic_bins": harmonic_bins, "harmonics": harmonics, "amplitude_codes": amp,
            "cycles": None if cycles is None else int(cycles), "method": method, "notes": notes,
            "power_db": power_db, "n": n}


__all__ = ["Capture", "CaptureAnalysis", "MAX_CAPTURE_BYTES", "MAX_CAPTURE_SAMPLES", "STIMULI", "analyze_capture",
           "analyze_codes", "noise_bias", "read_capture", "sine_spectrum"]
