"""The ``hwsim`` command line. Subcommands import their heavy modules only when run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import __version__


def _print_summary(cfg, out: Path) -> None:
    """For each curve, where it reaches the config's [summary] target, beside the paper's value."""
    from ..engine.results import crossing, read_results
    from ..studies import load_study, result_columns

    from ..engine.plotting import default_x

    target = cfg.summary.get("target")
    if target is None or not (out / "results.csv").exists():
        return
    x = cfg.plot.get("x") or default_x(cfg.grid)
    if any(len(values) > 1 for axis, values in cfg.grid.items() if axis != x):
        print(f"(no summary: crossings along {x} would mix panels of other grid axes)")
        return
    study = load_study(cfg.study)
    rows = read_results(out / "results.csv")
    refs = cfg.summary.get("reference", {})
    y = result_columns(study, cfg.raw)[0]
    head = f"{x} at {y} {target:g}"
    width = max(26, 2 + max(len(c["name"]) for c in cfg.curves))
    print(f"{'curve':<{width}}{head:>22}   paper")
    for curve in dict.fromkeys(r["curve"] for r in rows):
        value = crossing(rows, curve, x, y, target)
        measured = "not reached" if value is None else f"{value:.2f}"
        print(f"{curve:<{width}}{measured:>22}   {refs.get(curve, '')}")


def _sweep(args) -> int:
    from ..engine.sweep import load_config, run_sweep, shipped_configs

    if args.list:
        print("\n".join(shipped_configs()))
        return 0
    if args.config is None:
        raise ValueError("give a CONFIG (a TOML file or a shipped name: " + ", ".join(shipped_configs()) + ")")
    cfg = load_config(args.config, quick=args.quick, overrides=args.set or ())
    out = Path(args.out or f"runs/{Path(args.config).stem}{'-quick' if args.quick else ''}")
    run_sweep(cfg, out, workers=args.workers, scheduler=args.scheduler, resume=args.resume, quiet=args.quiet,
              connect_timeout=args.connect_timeout, no_workers_timeout=args.no_workers_timeout)
    _print_summary(cfg, out)
    print(f"results: {out / 'results.csv'}")
    print(f"plots:   {', '.join(str(p) for p in sorted(out.glob('plot*.png')))}")
    return 0


#: The link ``hwsim train`` trains for: seed 001's 12 x 4 BPSK system with H_ij = exp(-|i-j|).
TRAIN_LINK = {"source": {"type": "users", "users": 4, "constellation": "bpsk"},
              "channel": {"type": "exponential", "antennas": 12, "frame_len": 100},
              "adc": {"type": "none"}}


def _train(args) -> int:
    import numpy as np

    from ..pipeline import Pipeline

    link = Pipeline.from_tables({**TRAIN_LINK, "receiver": {"type": "hybrid", "training": args.training,
                                                            "trainset": args.trainset, "rate": args.rate}})
    link.check()
    out = Path(args.out)
    if out.suffix != ".pt":
        raise ValueError(f"--out must end in .pt (the JSON sidecar goes beside it), got {args.out!r}")
    trained = link.receiver.train(link, args.snr, np.random.default_rng(args.seed), progress=not args.quiet,
                                  device=None)  # a GPU when present
    trained.save(out)
    table = trained.model.adc_table()
    best = min(h["val_error"] for h in trained.history)
    print(f"trained {args.training} ({args.trainset}) at {args.snr} dB, R={args.rate}: p={trained.config['p']} "
          f"ADCs of {trained.config['n_levels']} levels; best hard validation symbol-error rate {best:.4g}")
    print("ADC thresholds: " + ", ".join(f"{t:.4f}" for t in table.thresholds))
    print(f"saved: {out} and {out}.json")
    return 0


def _plot(args) -> int:
    from ..engine.plotting import plot_sweep

    for path in plot_sweep(args.dir):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hwsim",
        description="Hardware-in-the-loop simulator for receivers with low-resolution ADCs.")
    parser.add_argument("--version", action="version", version=f"hwsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("sweep", help="run a Monte Carlo sweep declared in a TOML file",
                       description="Run (or resume) a sweep. CONFIG is a TOML file or the name of a shipped "
                                   "example (see --list). Writes results.csv, manifest.json, points.jsonl and "
                                   "plots into --out.")
    p.add_argument("config", nargs="?", metavar="CONFIG")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/CONFIG-NAME[-quick])")
    p.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDR", help="run on a Dask cluster, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                   help="seconds for the whole handshake with the Dask scheduler (default 10)")
    p.add_argument("--no-workers-timeout", type=float, default=300.0, metavar="S",
                   help="stop a Dask sweep whose cluster has had no worker for S seconds (default 300; 0: wait "
                        "forever); finished points are kept for --resume")
    p.add_argument("--resume", action="store_true", help="finish an interrupted sweep in --out")
    p.add_argument("--quick", action="store_true", help="apply the config's [quick] overrides")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value by dotted key, VALUE in TOML (e.g. --set adc.bits=2 "
                        "--set 'grid.snr_db=[0, 5]'); repeatable, recorded in the manifest")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--list", action="store_true", help="list the shipped example sweeps and exit")
    p.set_defaults(func=_sweep)

    p = sub.add_parser("train", help="train one hybrid receiver (seed 001 Sec. 4.2 system) and save it",
                       description="Train the deep task-based quantizer for n_t=12, n_u=4 BPSK at one SNR and "
                                   "rate; writes the weights (.pt) and a JSON sidecar with the configuration, "
                                   "seed and hard ADC table.")
    p.add_argument("--snr", type=float, required=True, metavar="DB", help="training SNR in dB")
    p.add_argument("--rate", type=float, default=1.0, help="bit budget R (default 1)")
    p.add_argument("--training", default="soft_to_hard",
                   help="soft_to_hard (default), uniform_soft_to_hard, passing_gradient, clipped_passing_gradient, ste")
    p.add_argument("--trainset", default="optimal", help="optimal (default) or csi")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="FILE.pt")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_train)

    from .adc import add_adc_parser

    add_adc_parser(sub)

    p = sub.add_parser("plot", help="redraw the plots of a sweep folder")
    p.add_argument("dir", metavar="DIR")
    p.set_defaults(func=_plot)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from ..engine.sweep import SweepError

    try:
        return args.func(args)
    except (ValueError, TypeError, SweepError) as exc:
        print(f"hwsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the operating system refused (full disk, read-only or missing path, ...)
        where = f" ({exc.filename})" if exc.filename else ""
        hint = "; finished points are kept (rerun with --resume)" if args.command == "sweep" else ""
        print(f"hwsim {args.command}: error: {exc.strerror or exc}{where}{hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        hint = "; finished points are kept (rerun with --resume)" if args.command == "sweep" else ""
        print(f"hwsim {args.command}: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
