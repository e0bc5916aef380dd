"""Converter models and their files: everything between an analog input and its digital codes.

- :mod:`~hwsim.converters.adc`: the decision table every scalar ADC reduces to (:class:`ThresholdADC`),
  uniform and dithered ADCs
- :mod:`~hwsim.converters.banks`: I/Q converter banks with AGC, the ``adc`` components of a link
- :mod:`~hwsim.converters.hardware`: hardware banks (DAC-rounded, impaired, measured, external converters)
- :mod:`~hwsim.converters.budget`: Shlezinger and Eldar's bit budget (converters and levels from a rate)
- :mod:`~hwsim.converters.learned_adc`: soft-to-hard and straight-through training surrogates
- :mod:`~hwsim.converters.impairments`, :mod:`~hwsim.converters.fixed_point`: comparator offsets,
  DNL/INL, threshold-DAC rounding
- :mod:`~hwsim.converters.tables`: decision-table files (JSON, CSV, C header, memh, .mat), one module per
  format in :mod:`~hwsim.converters.formats`
- :mod:`~hwsim.converters.backends`, :mod:`~hwsim.converters.emulator`: converters outside the
  process (hardware in the loop) and the reference emulator
"""

from . import banks  # noqa: F401  (registers the converter-bank components)
from . import hardware  # noqa: F401  (registers the hardware banks: dac_rounded, impaired, measured, external, rtl)
from .adc import ThresholdADC
from .banks import (ConverterBank, EquiprobableBank, FileBank, LloydMaxBank, TableBank, Unquantized, UniformBank,
                    UniformRangeBank, VectorBank)
from .hardware import DACRoundedBank, ExternalBank, HardwareBank, ImpairedBank, MeasuredBank, RTLBank

#: The converter banks (the ``adc`` components of a link) and the decision table they reduce to.
__all__ = ["ConverterBank", "TableBank", "Unquantized", "UniformBank", "LloydMaxBank", "EquiprobableBank", "FileBank",
           "UniformRangeBank", "VectorBank", "HardwareBank", "DACRoundedBank", "ImpairedBank", "MeasuredBank",
           "ExternalBank", "RTLBank", "ThresholdADC"]
