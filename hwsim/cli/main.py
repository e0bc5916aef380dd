"""The ``hwsim`` command line. Subcommands import their heavy modules only when run."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from .. import __version__
from .._progress import shown  # names from a config reach the terminal as one printable line


def _print_summary(cfg, out: Path) -> None:
    """What a finished sweep found: where each curve reaches the config's [summary] target, beside the
    paper's value; without a target (or with panels), each curve's points and its first and last values."""
    from ..engine.results import crossing, read_results
    from ..engine.plotting import default_x
    from ..study import config_columns

    if not (out / "results.csv").exists():
        return
    target = cfg.summary.get("target")
    x = cfg.plot.get("x") or default_x(cfg.grid)
    if target is None or any(len(values) > 1 for axis, values in cfg.grid.items() if axis != x):
        _print_overview(cfg, out, x)
        return
    rows = read_results(out / "results.csv")
    refs = cfg.summary.get("reference", {})
    y = config_columns(cfg.raw)[0]
    head = f"{x} at {y} {target:g}"
    width = max(26, 2 + max(len(shown(c["name"])) for c in cfg.curves))
    print(f"{'curve':<{width}}{head:>22}   paper")
    for curve in dict.fromkeys(r["curve"] for r in rows):
        value = crossing(rows, curve, x, y, target)
        measured = "not reached" if value is None else f"{value:.2f}"
        print(f"{shown(curve):<{width}}{measured:>22}   {shown(refs.get(curve, ''))}")


def _print_overview(cfg, out: Path, x: str) -> None:
    """Per curve: finished points, and the estimate with its interval at the smallest and largest ``x``
    (or, with panels of other grid axes, the smallest and largest estimate)."""
    from ..engine.results import read_results
    from ..study import config_columns

    rows = read_results(out / "results.csv")
    y = config_columns(cfg.raw)[0]
    expected: dict = {}
    for p in cfg.points():
        expected[p.curve] = expected.get(p.curve, 0) + 1
    panels = any(len(values) > 1 for axis, values in cfg.grid.items() if axis != x)

    def value(r) -> str:
        est, lo, hi = float(r[y]), float(r["ci_low"]), float(r["ci_high"])
        if r.get("stop") == "exact":
            return f"{est:.3g} (exact)"
        return f"{est:.3g} [{lo:.2g}, {hi:.2g}]"

    width = max(12, 2 + max(len(shown(c)) for c in expected))
    what = f"smallest and largest {y}" if panels else f"{y} [CI] at the first and last {x}"
    print(f"{'curve':<{width}}points  {what}")
    for curve, total in expected.items():
        pts = [r for r in rows if r["curve"] == curve]
        if not pts:
            print(f"{shown(curve):<{width}}{0:>3}/{total:<3} (none finished)")
            continue
        if panels:
            pts.sort(key=lambda r: float(r[y]))
            ends = f"{value(pts[0])} ... {value(pts[-1])}"
        else:
            pts.sort(key=lambda r: float(r[x]) if r.get(x, "") not in ("",) else 0.0)
            first, last = pts[0], pts[-1]
            ends = f"{value(first)} at {x}={first.get(x, '')}"
            if len(pts) > 1:
                ends += f"; {value(last)} at {x}={last.get(x, '')}"
        print(f"{shown(curve):<{width}}{len(pts):>3}/{total:<3} {shown(ends)}")


def _sweep(args) -> int:
    from ..engine.sweep import load_config, run_sweep, shipped_configs

    if args.list:
        print("\n".join(shipped_configs()))
        return 0
    if args.config is None:
        raise ValueError("give a CONFIG (a TOML file or a shipped name: " + ", ".join(shipped_configs()) + ")")
    if args.resume and args.force:
        raise ValueError("--resume and --force exclude each other (--force starts the sweep over)")
    cfg = load_config(args.config, quick=args.quick, overrides=args.set or (), plugins=args.plugin or ())
    out = Path(args.out or f"runs/{Path(args.config).stem}{'-quick' if args.quick else ''}")
    # a folder that holds this sweep is resumed (or, finished, shown again); --force starts over
    run_sweep(cfg, out, workers=args.workers, scheduler=args.scheduler, resume=not args.force, force=args.force,
              quiet=args.quiet, connect_timeout=args.connect_timeout, no_workers_timeout=args.no_workers_timeout)
    _print_summary(cfg, out)
    print(f"results: {out / 'results.csv'}")
    print(f"plots:   {', '.join(str(p) for p in sorted(out.glob('plot*.png')))}")
    return 0


#: The link ``hwsim train`` without a CONFIG trains for: Shlezinger and Eldar's 12 x 4 BPSK system, H_ij = exp(-|i-j|).
TRAIN_LINK = {"source": {"type": "users", "users": 4, "constellation": "bpsk"},
              "channel": {"type": "exponential", "antennas": 12, "frame_len": 100},
              "adc": {"type": "none"}}


def _train(args) -> int:
    out = Path(args.out)
    if out.suffix != ".pt":
        raise ValueError(f"--out must end in .pt (the JSON sidecar goes beside it), got {args.out!r}")
    _check_writable(out, "--out")
    _check_writable(Path(f"{out}.json"), "--out (its JSON sidecar)")
    from .._files import InUseError, release_lock, take_lock
    from ..checkpoint import checkpointing

    # one training per output: a second one would share OUT.partial and overwrite the first one's model
    lock_path = _lock(out)
    try:
        lock = take_lock(lock_path)
    except InUseError as exc:
        raise ValueError(f"{out} is being trained by another hwsim train (pid {exc.holder}, which holds {lock_path}); "
                         "wait for it to finish, stop it, or choose another --out") from None
    try:
        # the training's state after every epoch: an interrupted run of the same command resumes from it
        with checkpointing(_partial(out), say=lambda line: print(f"hwsim train: {line}", file=sys.stderr)):
            return (_train_seed001 if args.config is None else _train_config)(args, out)
    finally:
        release_lock(lock_path, lock)


def _partial(out) -> Path:
    """Where ``hwsim train --out OUT`` keeps the state of an unfinished training."""
    return Path(f"{out}.partial")


def _lock(out) -> Path:
    """The lock file of ``hwsim train --out OUT`` while it runs (it holds the training's pid)."""
    return Path(f"{out}.lock")


def _train_config(args, out: Path) -> int:
    """``hwsim train CONFIG``: the learned receiver of one curve of a sweep config."""
    legacy = [flag for flag, value in (("--rate", args.rate), ("--training", args.training),
                                       ("--trainset", args.trainset)) if value is not None]
    if legacy:
        raise ValueError(f"{', '.join(legacy)} set the Shlezinger-Eldar receiver trained with no CONFIG; with a CONFIG "
                         "use --set (e.g. --set receiver.rate=2)")
    import tomllib

    from ..engine.sweep import load_config
    from .train import train_config

    cfg = load_config(args.config, quick=args.quick, overrides=args.set or (), plugins=args.plugin or ())
    at = {}
    for text in args.at or ():
        axis, sep, value = text.partition("=")
        try:
            at[axis.strip()] = tomllib.loads(f"v = {value.strip()}")["v"] if sep and axis.strip() else None
        except tomllib.TOMLDecodeError:
            at[axis.strip()] = None
        if at[axis.strip()] is None:
            raise ValueError(f"--at takes AXIS=VALUE with a TOML value (e.g. --at rate=0.5), got {text!r}")
    if args.snr is not None:
        at["snr_db"] = args.snr
    origin = {"config": args.config, "quick": bool(args.quick), "set": list(args.set or ())}
    if cfg.plugins:
        origin["plugins"] = list(cfg.plugins)
    trained, link, curve, point = train_config(cfg, out, curve=args.curve, at=at, seed=args.seed, device=args.device,
                                               progress=not args.quiet, origin=origin)
    shown = {k: v for k, v in point.params.items() if k != "snr_db" or link.receiver.trains_at_snr}
    where = ", ".join(f"{k}={v}" for k, v in shown.items())
    print(f"trained the {link.receiver.name} receiver of curve {curve!r} ({where}) on {args.device}")
    print(trained.describe())
    print(f"saved: {out} and {out}.json")
    kind = link.receiver.name
    use = (f'receiver.model = "{out}"' if kind != "hybrid" else f'receiver = "hil" and "receiver.model" = "{out}"')
    print(f"to evaluate it in a sweep of this link, set {use}")
    return 0


def _train_seed001(args, out: Path) -> int:
    """``hwsim train --snr DB`` without a CONFIG: Shlezinger and Eldar's hybrid receiver on the 12 x 4 system."""
    from ..pipeline import Pipeline

    if args.snr is None:
        raise ValueError("give a CONFIG (a TOML file or a shipped name), or --snr DB to train the Shlezinger-Eldar hybrid "
                         "receiver on its 12 x 4 system")
    if args.set or args.quick or args.curve or args.at or args.plugin:
        raise ValueError("--set, --quick, --curve, --at and --plugin apply to a CONFIG; none was given")
    link = Pipeline.from_tables({**TRAIN_LINK, "receiver": {
        "type": "hybrid", "training": args.training or "soft_to_hard", "trainset": args.trainset or "optimal",
        "rate": 1.0 if args.rate is None else args.rate}})
    link.check()
    trained = link.receiver.train_model(link, args.snr, device=args.device, progress=not args.quiet, seed=args.seed)
    trained.save(out, origin={"config": None, "snr_db": args.snr})
    table = trained.model.adc_table()
    best = min(h["val_error"] for h in trained.history)
    print(f"trained {link.receiver.params['training']} ({link.receiver.params['trainset']}) at {args.snr} dB, "
          f"R={link.receiver.params['rate']}: p={trained.config['p']} ADCs of {trained.config['n_levels']} levels; "
          f"best hard validation symbol-error rate {best:.4g}")
    print("ADC thresholds: " + ", ".join(f"{t:.4f}" for t in table.thresholds))
    print(f"saved: {out} and {out}.json")
    return 0


def _check_writable(path: Path, what: str) -> None:
    """Refuse, before any work, an output file that could not be written: its folder missing or not a
    folder, not writable (tried with a temporary file, which also catches read-only file systems), or
    the path itself a folder."""
    import tempfile

    folder = path.parent
    if not folder.exists():
        raise ValueError(f"{what} {path}: the folder {folder} does not exist (create it first)")
    if not folder.is_dir():
        raise ValueError(f"{what} {path}: {folder} is not a folder")
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder; give a file name")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ValueError(f"{what} {path}: cannot write in {folder} ({exc.strerror or exc})") from None


def _compare(args) -> int:
    from ..engine.compare import compare, format_differences

    out = None if args.no_plot else Path(args.out)
    runs, diffs, written = compare(args.dirs, out=out, curves=args.curves, pairs=args.pair,
                                   confidence=args.confidence)
    print(format_differences(runs, diffs, pairs=args.pair))
    for path in written:
        print(f"figure: {path}")
    return 0


def _plot(args) -> int:
    from ..engine.plotting import plot_sweep

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    for path in plot_sweep(args.dir, curves=args.curves, ylim=args.ylim, style=args.style, formats=formats):
        print(path)
    return 0


_PLUGIN_HELP = ("import MODULE (its import name, e.g. my_components) before the config is read, so that its "
                "registered components can be named in it; repeatable; adds to the config's plugins = [...]; every "
                "worker imports it too (it must be importable there: on PYTHONPATH or installed)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hwsim",
        description="Hardware-in-the-loop simulator for receivers with low-resolution ADCs.")
    parser.add_argument("--version", action="version", version=f"hwsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("sweep", help="run a Monte Carlo sweep declared in a TOML file",
                       description="Run (or resume) a sweep. CONFIG is a TOML file or the name of a shipped "
                                   "example (see --list). Writes results.csv, manifest.json, points.jsonl and "
                                   "plots into --out, and prints a summary. Run again into the same folder, it "
                                   "finishes an interrupted sweep or shows a finished one; --force starts over. "
                                   "Ctrl-C stops it at once, keeping the finished points.")
    p.add_argument("config", nargs="?", metavar="CONFIG")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/CONFIG-NAME[-quick])")
    p.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDR", help="run on a Dask cluster, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                   help="seconds for the whole handshake with the Dask scheduler (default 10)")
    p.add_argument("--no-workers-timeout", type=float, default=300.0, metavar="S",
                   help="stop a Dask sweep whose cluster has had no worker for S seconds (default 300; 0: wait "
                        "forever); finished points are kept for --resume")
    p.add_argument("--resume", action="store_true",
                   help="finish an interrupted sweep in --out (the default: a folder that holds this sweep is "
                        "resumed, or, when it is finished, summarized again without computing anything)")
    p.add_argument("--force", action="store_true",
                   help="start over: first remove what an earlier sweep wrote in --out (manifest, journal, "
                        "results.csv, plots; other files stay)")
    p.add_argument("--quick", action="store_true", help="apply the config's [quick] overrides")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value by dotted key, VALUE in TOML (e.g. --set adc.bits=2 "
                        "--set 'grid.snr_db=[0, 5]'); repeatable, recorded in the manifest")
    p.add_argument("--plugin", action="append", metavar="MODULE", help=_PLUGIN_HELP)
    p.add_argument("--quiet", action="store_true",
                   help="no progress (otherwise on stderr: a bar on a terminal, else one line per finished point)")
    p.add_argument("--list", action="store_true", help="list the shipped example sweeps and exit")
    p.set_defaults(func=_sweep)

    p = sub.add_parser(
        "train", help="train the learned receiver of a config once and save it",
        description="Train the learned receiver of one curve of CONFIG (a TOML file or a shipped name; --set and "
                    "--quick as for hwsim sweep) on the link the config describes, as a sweep would, with progress, "
                    "validation of the hard receiver every epoch and the best epoch kept; write the weights (.pt) "
                    "and a JSON sidecar recording the link, training settings, seed, software versions and the "
                    "config. Learnable receivers: learned (the per-bit detector, trained over its SNR range), "
                    "hybrid (Shlezinger and Eldar's task-based receiver, trained at one SNR), hil and task_hybrid. "
                    "Evaluate the file in a sweep with receiver.model. Without CONFIG, --snr trains the "
                    "Shlezinger-Eldar hybrid for its 12 x 4 system (--rate, --training, --trainset). The "
                    "training's state is saved after every epoch "
                    "in OUT.partial: after a Ctrl-C the same command resumes from the last finished epoch and ends "
                    "with the same network (bit for bit on the CPU). While it runs, OUT.lock (holding its pid) "
                    "refuses a second hwsim train with the same --out.")
    p.add_argument("config", nargs="?", metavar="CONFIG")
    p.add_argument("--out", required=True, metavar="FILE.pt")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (as for sweep)")
    p.add_argument("--quick", action="store_true", help="apply the config's [quick] overrides")
    p.add_argument("--plugin", action="append", metavar="MODULE", help=_PLUGIN_HELP)
    p.add_argument("--curve", metavar="NAME", help="the curve whose receiver to train (needed when several learn)")
    p.add_argument("--at", action="append", metavar="AXIS=VALUE",
                   help="the grid point to train for, when the curve's points need different models (e.g. "
                        "--at rate=0.5); repeatable")
    p.add_argument("--snr", type=float, metavar="DB", help="training SNR in dB of a hybrid receiver (--at snr_db=DB)")
    p.add_argument("--seed", type=int, metavar="N",
                   help="training seed (default: the receiver's train_seed, or 0 for a hybrid)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where to train (default cpu, which is deterministic; cuda only where a GPU is present)")
    p.add_argument("--rate", type=float, help="without CONFIG: bit budget R (default 1)")
    p.add_argument("--training", help="without CONFIG: soft_to_hard (default), uniform_soft_to_hard, "
                                      "passing_gradient, clipped_passing_gradient, ste")
    p.add_argument("--trainset", help="without CONFIG: optimal (default) or csi")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_train)

    from .adc import add_adc_parser

    add_adc_parser(sub)

    p = sub.add_parser("plot", help="redraw the plots of a sweep folder",
                       description="Redraw the figures of the sweep in DIR (one per panel and [plot] figure; "
                                   "error bars are the points' confidence intervals, points without an error "
                                   "are drawn as upper bounds), in place of the ones the sweep wrote.")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--curves", nargs="+", metavar="NAME", help="only these curves")
    p.add_argument("--ylim", nargs=2, type=float, metavar=("LOW", "HIGH"), help="y-axis range")
    p.add_argument("--style", choices=("screen", "paper"), default="screen",
                   help="screen (colour, default) or paper (gray levels, narrower, 300 dpi); curves differ in "
                        "marker and line style in both")
    p.add_argument("--format", default="png,pdf", metavar="LIST", help="comma-separated: png, pdf, svg (default png,pdf)")
    p.set_defaults(func=_plot)

    p = sub.add_parser(
        "compare", help="overlay finished sweeps and test their differences point by point",
        description="Overlay the runs in DIR1 DIR2 ... (same or different configs) in one figure per panel, "
                    "legend 'DIR: curve', and print for every matching point (same curve name, or a --pair; same "
                    "grid values) the difference other - DIR1 with its confidence interval and whether it is "
                    "significant. The interval combines the two points' own intervals (MOVER, Newcombe 1998): "
                    "asymmetric Wilson intervals and the upper bounds of points without errors enter as they are. "
                    "Points that drew the same random numbers (same seed and curve) are marked 'same draws' "
                    "(the interval is then conservative) or 'identical'.")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="sweep output folders; the first is the reference")
    p.add_argument("--out", default="compare.png", metavar="FILE",
                   help="figure file, .png, .pdf or .svg (default compare.png; panels add _AXIS=VALUE)")
    p.add_argument("--no-plot", action="store_true", help="print the differences only")
    p.add_argument("--curves", nargs="+", metavar="NAME", help="only these curves (of any run)")
    p.add_argument("--pair", nargs=2, action="append", metavar=("REF_CURVE", "OTHER_CURVE"),
                   help="compare curve REF_CURVE of DIR1 with OTHER_CURVE of the other runs instead of matching "
                        "equal names; repeatable (two arguments, since curve names may hold '=')")
    p.add_argument("--confidence", type=float, metavar="LEVEL",
                   help="level of the differences' intervals (default: DIR1's stopping.confidence)")
    p.set_defaults(func=_compare)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from ..engine.sweep import SweepError

    try:
        with _warnings_as_lines(args.command):
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
        hint = ""
        if args.command == "sweep":
            hint = "; finished points are kept (run the same command again to resume)"
        elif args.command == "train" and _partial(args.out).is_file():
            hint = (f"; the finished epochs are kept in {_partial(args.out)} (run the same command again to "
                    "resume)")
        print(f"hwsim {args.command}: interrupted{hint}", file=sys.stderr)
        if argv is None:  # main() is the process (the hwsim command): end it now
            _exit_now(130)
        return 130


@contextlib.contextmanager
def _warnings_as_lines(command: str):
    """Inside the block, each distinct warning is one line ``hwsim COMMAND: warning: ...`` on stderr (not
    Python's two lines with a file name and source line, once per point)."""
    import warnings

    seen = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if text not in seen:
            seen.add(text)
            print(f"hwsim {command}: warning: {shown(text)}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _exit_now(code: int) -> None:
    """End the process at once after an interrupt. Everything worth keeping is on disk by then (the
    sweep's journal and results.csv are written whole and synced, its workers stopped, its lock
    released); what is skipped is the interpreter's finalization, which takes 1-2 s once torch is
    loaded, too long for a Ctrl-C."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
