"""The command line: ``hwsim sweep | plot | train | adc ...`` (:mod:`.main`, :mod:`.adc`)."""

from .main import main

__all__ = ["main"]
