#!/usr/bin/env python
"""BER vs SNR of MAP and QMAP symbol detection (Shlezinger and Eldar Sec. 4.2); same as `hwsim sweep ber_snr`.

    python scripts/ber_sweep.py --quick           # about half a minute
    python scripts/ber_sweep.py --out runs/ber    # full size
Any other `hwsim sweep` option (--workers, --scheduler, --resume, --quiet) passes through.
"""

import sys

from hwsim.cli import main

if __name__ == "__main__":
    sys.exit(main(["sweep", "ber_snr", *sys.argv[1:]]))
