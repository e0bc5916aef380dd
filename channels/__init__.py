"""Signal and channel generation: constellations, the seed paper's MIMO models, Sionna channels.

- :mod:`~hwsim.channels.constellations`: Gray-labelled constellations, one class: real alphabets (BPSK, PAM,
  QPSK/QAM by real decomposition) and complex BPSK and square QAM (links in complex baseband)
- :mod:`~hwsim.channels.mimo`: symbol detection, seed 001 eq. (8), with CSI uncertainty and time variation
- :mod:`~hwsim.channels.pilots`: pilot channel estimation, seed 001 eq. (6), and its second-order statistics
- :mod:`~hwsim.channels.fading`: Sionna-backed Rayleigh / Kronecker-correlated flat fading
- :mod:`~hwsim.channels.sources`, :mod:`~hwsim.channels.flat`: the source and channel components
  of a link (:mod:`hwsim.pipeline`)
"""

from .constellations import CONSTELLATIONS, MAX_HYPOTHESES, QAM_NAMES, Constellation, get_constellation, get_qam
from .fading import RayleighFading
from .mimo import (PAPER_CSI_ERROR, FixedChannel, SymbolChannel, SymbolFrames, exponential_channel,
                   noise_std, perturb_channel)
from .pilots import PilotChannel, SecondOrderStats, complex_to_real_matrix, dft_pilots
from .sources import GaussianVectors, Users
from .flat import AWGN, Exponential, IIDRayleigh
from .pilots import Pilots
from .sparse import SparseSource  # noqa: E402  (registers source "sparse")
from . import ofdm  # noqa: F401,E402  (registers source "ofdm", channels "tdl" and "rayleigh_taps")
from .ofdm import OFDMSource, RayleighTaps, TDLChannel  # noqa: E402

__all__ = [
    "CONSTELLATIONS", "MAX_HYPOTHESES", "QAM_NAMES", "Constellation", "get_constellation", "get_qam",
    "RayleighFading",
    "PAPER_CSI_ERROR", "FixedChannel", "SymbolChannel", "SymbolFrames", "exponential_channel",
    "noise_std", "perturb_channel",
    "PilotChannel", "SecondOrderStats", "complex_to_real_matrix", "dft_pilots",
    # the link components (sources and channels)
    "Users", "GaussianVectors", "Pilots", "SparseSource", "OFDMSource",
    "AWGN", "IIDRayleigh", "Exponential", "RayleighTaps", "TDLChannel",
]
