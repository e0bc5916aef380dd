"""Digital back-ends: detectors registered as pipeline components, and seed 001's receivers.

- :mod:`~hwsim.receivers.base`: what a detector sees (:class:`Observation`) and returns (:class:`Decision`)
- :mod:`~hwsim.receivers.linear`: MRC, ZF, LMMSE and Bussgang LMMSE for any converter table
- :mod:`~hwsim.receivers.ofdm_quantized`: OFDM detection and channel estimation from the cells of the quantized
  time-domain samples (exact likelihood, per-sample-variance surrogate)
- :mod:`~hwsim.receivers.flat_quantized`: flat massive-MIMO detection from the cells of the quantized samples
  (exact likelihood, per-sample-variance surrogate)
- :mod:`~hwsim.receivers.fixed_point`: those filters applied in fixed-point integer arithmetic (and a C reference)
- :mod:`~hwsim.receivers.onebit`: near-ML detection from the exact quantized likelihood (1-2 bit converters)
- :mod:`~hwsim.receivers.sionna_detectors`: Sionna's K-best, EP and MMSE-PIC fed with the Bussgang model
- :mod:`~hwsim.receivers.map`: exhaustive MAP (eq. 9) and QMAP (eq. 10) of seed 001 for small real systems
- :mod:`~hwsim.receivers.learned`: seed 001's learned hybrid receiver as a component (trained per point)
- :mod:`~hwsim.receivers.learned_detector`: a learned per-bit detector (unfolded, quantization-aware) that scales
- :mod:`~hwsim.receivers.task_hybrid`: seed 001's hybrid at massive-MIMO scale (learned combiner and converters
  behind zero forcing) under a bit budget
- :mod:`~hwsim.receivers.estimation`: seed 001's channel estimators (Theorem 3, learned, BLMMSE, bounds)
- :mod:`~hwsim.receivers.hybrid`, :mod:`~hwsim.receivers.estimator`, :mod:`~hwsim.receivers.blmmse`:
  seed 001's learned receivers and the one-bit BLMMSE channel estimator
"""

from . import estimation, learned, linear, onebit, sionna_detectors  # noqa: F401  (registers the pipeline detectors)
from . import learned_detector, task_hybrid, vq  # noqa: F401,E402  (register "learned", "task_hybrid", the quantizers)
from . import rdp  # noqa: F401,E402  (registers "rdp" and "rdp_bound", seed 003 Sec. II-B)
from . import qcs  # noqa: F401,E402  (registers deepqcs and the compressed-sensing baselines)
from . import ofdm  # noqa: F401,E402  (registers "ofdm_lmmse", the wideband OFDM receiver)
from . import ofdm_quantized  # noqa: F401,E402  (registers "ofdm_qml" and "ofdm_qwls", quantization-aware OFDM)
from . import fixed_point  # noqa: F401,E402  (registers "fixed_point", linear detectors in integer arithmetic)
from . import flat_quantized  # noqa: F401,E402  (registers "qml" and "qwls", quantization-aware flat links)
from .base import Decision, Detector, Observation
from .map import MAPDetector, QMAPDetector, log_prob_interval, qmap_bit_errors, qmap_direct
# the receiver components, by class (each registered under its config name: hwsim.components.names("receiver"))
from .linear import BLMMSE, LMMSE, MRC, ZF
from .onebit import NearML
from .map import MAP, QMAP
from .sionna_detectors import EP, MMSEPIC, KBest
from .learned import HardwareInTheLoop, Hybrid
from .learned_detector import LearnedDetector
from .task_hybrid import TaskHybrid
from .ofdm import OFDMLMMSE
from .ofdm_quantized import OFDMQML, OFDMQWLS
from .flat_quantized import QML, QWLS
from .fixed_point import FixedPoint
from .estimation import (BLMMSEEstimatorComponent, BLMMSETheory, EtaOpt, LearnedEstimator, MMSEBound, ScalarFloor,
                         Theorem3, Theorem3Theory)
from .vq import VQ, RDBound
from .rdp import RDP, RDPBound
from .qcs import CEDecNet, CESQL1, CEUSQL1, CEUSQOMP, DeepQCS

_COMPONENTS = ["MRC", "ZF", "LMMSE", "BLMMSE", "NearML", "MAP", "QMAP", "KBest", "EP", "MMSEPIC", "Hybrid",
              "HardwareInTheLoop", "LearnedDetector", "TaskHybrid", "OFDMLMMSE", "OFDMQML", "OFDMQWLS", "QML", "QWLS", "FixedPoint", "MMSEBound", "EtaOpt",
              "Theorem3", "Theorem3Theory", "LearnedEstimator", "BLMMSEEstimatorComponent", "BLMMSETheory",
              "ScalarFloor", "VQ", "RDBound", "RDP", "RDPBound", "DeepQCS", "CEDecNet", "CEUSQOMP", "CEUSQL1", "CESQL1"]

#: Names served from :mod:`.hybrid` on first use (importing it loads torch, which this package does not).
_LAZY = ("HybridReceiver", "TrainedReceiver", "TrainSettings", "train_hybrid")

__all__ = ["Decision", "Detector", "Observation",
           "MAPDetector", "QMAPDetector", "log_prob_interval", "qmap_bit_errors", "qmap_direct", *_LAZY, *_COMPONENTS]


def __getattr__(name):
    if name in _LAZY:
        from . import hybrid

        return getattr(hybrid, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
