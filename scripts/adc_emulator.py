#!/usr/bin/env python
"""Reference ADC emulator speaking hwsim's external-backend protocol (version 2); see hwsim/emulator.py.

    python scripts/adc_emulator.py --table TABLE.json [--offset-lsb S] [--noise-lsb S] [--seed N]
"""

import sys

from hwsim.converters.emulator import main

if __name__ == "__main__":
    sys.exit(main())
