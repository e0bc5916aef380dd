"""The command line: ``hwsim sweep | plot | train | adc ...`` (:mod:`~hwsim.cli.main`, :mod:`~hwsim.cli.adc`)."""

from .main import main

__all__ = ["main"]
