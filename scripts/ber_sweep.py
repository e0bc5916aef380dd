#!/usr/bin/env python
"""BER vs SNR of MAP and QMAP symbol detection (seed 001 Sec. 4.2); same as `hwsim ber-sweep`.

    python scripts/ber_sweep.py --quick      # about a minute
    python scripts/ber_sweep.py              # full size: 1 dB steps, 400 errors per point
"""

import sys

from hwsim.cli import main

if __name__ == "__main__":
    sys.exit(main(["ber-sweep", *sys.argv[1:]]))
