"""The ``hwsim`` command line. Subcommands import their heavy modules only when run."""

from __future__ import annotations

import argparse
import sys

from . import __version__

#: Seed 001 Sec. 4.2: SNR (dB) at BER 1e-3, as stated in the text (None: never reached in 6..14 dB).
PAPER_SNR_AT_1E3 = {
    "MAP": "about 10 dB",
    "MAP (CSI uncertainty)": "not stated (much worse than MAP)",
    "QMAP R=1": "never (BER stays above 1e-2)",
    "QMAP R=2": "more than 13 dB",
}


def _ber_sweep(args) -> int:
    from .detection_sweep import DetectionSweep, read_csv, run, snr_at_ber

    overrides = {} if args.seed is None else {"seed": args.seed}
    settings = DetectionSweep.quick(**overrides) if args.quick else DetectionSweep(**overrides)
    out = args.out or ("runs/ber-quick" if args.quick else "runs/ber")
    csv_path, png_path = run(settings, out, progress=not args.quiet)
    rows = read_csv(csv_path)
    print(f"{'curve':<24}{'SNR at BER 1e-3':>18}   paper (seed 001 Sec. 4.2)")
    for curve in dict.fromkeys(r["curve"] for r in rows):
        snr = snr_at_ber(rows, curve)
        measured = "not reached" if snr is None else f"{snr:.1f} dB"
        print(f"{curve:<24}{measured:>18}   {PAPER_SNR_AT_1E3.get(curve, '')}")
    print(f"results: {csv_path}")
    print(f"plot:    {png_path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hwsim",
        description="Hardware-in-the-loop simulator for receivers with low-resolution ADCs.")
    parser.add_argument("--version", action="version", version=f"hwsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("ber-sweep", help="BER vs SNR of MAP and QMAP detection (seed 001 Sec. 4.2)",
                       description="BER vs SNR 6..14 dB, n_t=12, n_u=4, BPSK: MAP (perfect CSI), "
                                   "MAP (20%% CSI uncertainty), QMAP at R=1 and R=2. Writes ber.csv and ber.png.")
    p.add_argument("--quick", action="store_true", help="fewer points and samples (about a minute)")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/ber or runs/ber-quick)")
    p.add_argument("--seed", type=int, help="root seed (default 2021)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_ber_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except (ValueError, TypeError) as exc:
        print(f"hwsim {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
