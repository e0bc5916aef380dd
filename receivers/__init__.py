"""Digital back-ends: model-based detectors (MAP, QMAP); learned receivers come later."""

from .map import MAPDetector, QMAPDetector, log_prob_interval, qmap_bit_errors, qmap_direct

__all__ = ["MAPDetector", "QMAPDetector", "log_prob_interval", "qmap_bit_errors", "qmap_direct"]
