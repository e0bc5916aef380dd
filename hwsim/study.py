r"""Any link built from components (:mod:`hwsim.pipeline`): BER, SER or MSE against any parameter.

The sweep file has one table per component -- ``[source]``, ``[channel]``, ``[frontend]``,
``[adc]``, ``[receiver]``, ``[metric]``, each ``type = NAME`` plus that type's parameters --
and ``[[curves]]`` entries or ``[grid]`` axes set

- ``snr_db`` (required by detection links): :math:`10 \log_{10}(1/N_0)` with unit-energy symbols;
- ``KIND`` (e.g. ``receiver = "zf"``): the component's type;
- ``KIND.PARAM`` (e.g. ``"adc.bits" = 2``): any parameter of any component;
- ``estimator``: ``"plain"`` Monte Carlo (the default) or ``"importance"`` sampling of the noise
  toward the error events (:mod:`hwsim.engine.importance`; rare error rates, detection links);
- ``rate``: the converters' bit budget in bits per receive dimension (Shlezinger and Eldar Sec. 4.2),
  which sets ``rate`` on every stage of the point that has that parameter (the QMAP
  converters ``uniform_range``, the ``hybrid`` receiver): one grid axis for both. A curve's own
  ``KIND.rate`` wins over it for that stage. Stages without a rate ignore it, and a point none of
  whose stages takes it draws the same numbers at every rate (:func:`unused_keys`): an unquantized
  reference is exactly flat over a rate axis.

``hwsim.components.names(KIND)`` lists the types; each class's ``PARAMS`` its parameters.

An estimation link (source ``pilots``: the unknown is the channel, Shlezinger and Eldar Sec. 4.1) has an
estimator as its receiver and ``[metric] type = "mse"``; its SNR is the source's ``P``.

This module is what a sweep simulates: the engine (:mod:`hwsim.engine`) calls its functions by these
names and knows no component. A sweep file's ``study = "..."`` names it; :data:`NAMES` are the names it
answers to (every shipped config says ``study = "link"``). What the engine calls:

- :func:`metric` / :func:`columns` (or :func:`config_metric` / :func:`config_columns` for a raw sweep
  config): the engine's metric kind (``"rate"`` or ``"mse"``) and the results.csv names of the estimate
  and its sample count;
- :data:`COMPONENTS`: the top-level tables of the sweep file (``[channel]``, ``[adc]``, ...), passed on
  as ``system[table]``; :data:`SYSTEM` the ``[system]`` keys with their defaults; :data:`REQUIRED` the
  point keys every point must have once curve and grid are merged;
- :func:`point_keys`: the keys a ``[[curves]]`` entry or a ``[grid]`` axis may set, with their types;
  :func:`curve_defaults` the keys every curve names (results.csv columns);
- :func:`validate` raises ``ValueError`` for a bad point; :func:`exact_value` gives a closed-form value
  (no Monte Carlo) or None; :func:`make_link` the Monte Carlo link ``link(rng, batch) -> counts``
  (:mod:`hwsim.engine.montecarlo`) of one point, ``rng`` (a child stream of the point's seed) for set-up
  such as training; :func:`replicas` how many independently set-up links a point averages;
- :func:`resolved`: the system with every default filled in, for the config hash; :func:`files`: the
  files a point reads (:mod:`hwsim.engine.inputs` reads, hashes and ships them); :func:`unused_keys`:
  point keys that change nothing of that point (kept out of its random stream);
  :func:`shared_setups`: set-ups all points share, computed once by the sweep.
"""

from __future__ import annotations

from hwsim.components import KINDS, lookup, names

#: The names a sweep file's ``study = "..."`` may give: each is this module (the link of the pipeline).
NAMES = ("link",)

#: Component tables this study reads from the top level of a sweep file.
COMPONENTS = KINDS
#: Most complex samples one frame may hold (frame_len x antennas): a link call holds several frames.
MAX_FRAME_VALUES = 2**22
#: The ``[system]`` keys with their defaults (the link study has none: its stages are component tables).
SYSTEM: dict = {}
#: Point keys every point must have once curve and grid are merged (none beyond the components').
REQUIRED = ()


def metric(system: dict) -> str:
    """The engine's metric kind: ``"mse"`` for an estimation metric, else ``"rate"``."""
    from hwsim.pipeline import DEFAULT_TYPES

    cls = lookup("metric", system.get("metric", {}).get("type", DEFAULT_TYPES["metric"]))
    return "mse" if cls.task == "estimation" else "rate"


def columns(system: dict) -> tuple[str, str]:
    """results.csv names of the estimate and its sample count: those of the configured metric."""
    from hwsim.pipeline import DEFAULT_TYPES

    cls = lookup("metric", system.get("metric", {}).get("type", DEFAULT_TYPES["metric"]))
    return cls.column, cls.samples_column


def resolved(system: dict) -> dict:
    """Every component table with its type's defaults filled in (what the config hash covers, so a
    changed default is a changed sweep), but a parameter of the type's ``UNHASHED_DEFAULTS`` at its default
    (:class:`hwsim.components.Component`)."""
    from hwsim.pipeline import DEFAULT_TYPES

    out = {}
    for kind in KINDS:
        table = system.get(kind, {})
        name = table.get("type", DEFAULT_TYPES[kind])
        cls = lookup(kind, name)
        full = {**cls.PARAMS, **table, "type": name}
        # a parameter added later stays out at the default that gives the earlier numbers (their folders resume)
        out[kind] = {k: v for k, v in full.items() if not (k in cls.UNHASHED_DEFAULTS and v == cls.PARAMS[k])}
    return out


def curve_defaults(system: dict) -> dict:
    """Every curve names its receiver and converter types (results.csv columns), from the tables by default."""
    from hwsim.pipeline import DEFAULT_TYPES

    return {kind: system.get(kind, {}).get("type", DEFAULT_TYPES[kind]) for kind in ("receiver", "adc")}


def point_keys(system: dict) -> dict:
    """Keys a curve or grid axis may set: ``snr_db``, each kind (its type) and every ``kind.param``
    some registered component of that kind has (the point's own type is checked by :func:`validate`)."""
    from hwsim.components import check_params
    from hwsim.pipeline import DEFAULT_TYPES

    for kind in KINDS:  # the file's own tables are checked as written, even if every curve changes a type
        table = dict(system.get(kind, {}))
        cls = lookup(kind, table.pop("type", DEFAULT_TYPES[kind]))
        check_params(cls, table)
    keys = {"snr_db": float, "rate": float, "estimator": str}
    for kind in KINDS:
        if kind == "metric":
            continue  # one metric per sweep: it names the results.csv columns
        keys[kind] = str
        for name in names(kind):
            for param, default in lookup(kind, name).PARAMS.items():
                keys.setdefault(f"{kind}.{param}", float if isinstance(default, float) else type(default))
    return keys


def _overrides(point: dict) -> dict:
    return {k: v for k, v in point.items() if k not in ("snr_db", "rate", "estimator")}


def pipeline(system: dict, point: dict):
    from hwsim.pipeline import Pipeline

    return Pipeline.from_tables(point_tables(system, point))


def point_tables(system: dict, point: dict) -> dict:
    """The point's component tables (what :func:`pipeline` builds, and a :class:`hwsim.Link`'s config):
    ``rate`` sets every stage that has a rate, except a stage whose own ``KIND.rate`` the point sets (a
    curve's own value wins over the grid axis)."""
    from hwsim.pipeline import resolve_tables

    tables = resolve_tables(system, _overrides(point))
    for kind in _rate_takers(tables, point):
        tables[kind]["rate"] = point["rate"]
    return tables


def _rate_takers(tables: dict, point: dict) -> list:
    """The stages the point's ``rate`` sets: those with a rate parameter and no ``KIND.rate`` of their own."""
    if "rate" not in point:
        return []
    return [kind for kind, table in tables.items()
            if "rate" in lookup(kind, table["type"]).PARAMS and f"{kind}.rate" not in point]


def unused_keys(system: dict, point: dict) -> set:
    """Point keys that change nothing of the point's link: ``rate`` when no stage has a rate (an
    unquantized reference over a rate axis) or every stage that has one sets its own. The sweep keeps
    them out of the point's random stream, so such a curve is the same draws at every rate: flat."""
    from hwsim.pipeline import resolve_tables

    if "rate" in point and not _rate_takers(resolve_tables(system, _overrides(point)), point):
        return {"rate"}
    return set()


def files(system: dict, point: dict) -> list:
    """The files the point's stages read: ``(KIND.PARAM, value as written, companion suffixes)`` for every
    parameter a stage declares in its ``FILES`` (:class:`hwsim.components.FileParam`) that names a file."""
    out = []
    for kind, table in point_tables(system, point).items():
        cls = lookup(kind, table["type"])
        for param, spec in cls.FILES.items():
            value = table.get(param, cls.PARAMS.get(param))
            if isinstance(value, str) and value and value not in spec.names:
                out.append((f"{kind}.{param}", value, spec.companions))
    return out


def validate(system: dict, point: dict) -> None:
    """Build the point's components (every parameter checked) and check the receiver can serve the link."""
    from hwsim import _checks
    from hwsim.pipeline import ESTIMATORS

    estimator = point.get("estimator", "plain")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    p = pipeline(system, point)
    if estimator != "plain" and p.channel.time_domain:
        raise ValueError(f"channel.type = {p.channel.name!r} gives time-domain samples (a wideband link), which "
                         f"supports estimator = \"plain\" only, got {estimator!r}")
    for kind in ("receiver", "metric"):
        task = getattr(p, kind).task
        if task != p.task:
            raise ValueError(f"source.type = {p.source.name!r} makes a{'n' if p.task == 'estimation' else ''} "
                             f"{p.task} link, but {kind}.type = {getattr(p, kind).name!r} is for {task}; "
                             f"{kind} types for {p.task}: " + ", ".join(
                                 n for n in names(kind) if lookup(kind, n).task == p.task))
    if p.task == "estimation":
        if estimator != "plain":
            raise ValueError("estimator = \"importance\" biases the noise of a detection link; an estimation "
                             "link has no error events to bias toward")
        if "snr_db" in point:
            raise ValueError("an estimation link's SNR is source.P; snr_db does not apply")
        if "channel" in system:
            raise ValueError(f"source.type = {p.source.name!r} draws the channel itself: remove the [channel] table")
        p.check()
        return
    if "snr_db" not in point:
        raise ValueError("a detection link needs snr_db (in the grid or the curve)")
    _checks.real("snr_db", point["snr_db"])
    values = p.channel.frame_len * p.channel.antennas
    if values > MAX_FRAME_VALUES:
        raise ValueError(f"channel.frame_len x channel.antennas = {values} samples per frame, more than the limit "
                         f"of {MAX_FRAME_VALUES} (hwsim.study.MAX_FRAME_VALUES, a guard against configs that "
                         "exhaust memory; raise it in code if you really mean it)")
    p.channel.check_users(users=p.source.users)
    if p.channel.real and not p.receiver.real_link:
        raise ValueError(f"channel.type = {p.channel.name!r} is a real-valued link (Shlezinger-Eldar); receiver.type "
                         f"= {p.receiver.name!r} works on complex links (for real links: "
                         f"{', '.join(n for n in names('receiver') if lookup('receiver', n).real_link)})")
    p.receiver.check_dimensions(users=p.source.users, inputs=p.frontend.outputs(p.channel.antennas),
                                constellation=p.source.constellation)
    p.check()


def replicas(system: dict, point: dict) -> int:
    """Independently prepared links a point averages (a learned receiver's ``trainings``), 1 otherwise."""
    return pipeline(system, point).replicas


def exact_value(system: dict, point: dict) -> float | None:
    """A receiver's closed-form value for the point (the estimation bounds), else None (Monte Carlo)."""
    p = pipeline(system, point)
    value = p.receiver.exact_value(p)
    return None if value is None else float(value)


def shared_setups(system: dict, points: list, folder, progress: bool = False, say=None) -> dict:
    """Set-ups every point of the sweep shares (a learned detector's network), computed once here, in
    the sweep's own process, before the points run (:meth:`hwsim.pipeline.Pipeline.shared_setups`);
    ``points`` are (curve name, point keys) pairs, ``say`` takes a line of progress."""
    out: dict = {}
    for curve, point in points:
        tell = None if say is None else (lambda text, curve=curve: say(f"sweep: curve {curve!r}: {text}"))
        out.update(pipeline(system, point).shared_setups(folder, progress, have=out, say=tell))
    return out


def make_link(system: dict, point: dict, rng, shared=None):
    """Monte Carlo link of one point; ``rng`` (a child of the point's stream) prepares it (training);
    ``shared``: the sweep's set-ups by key (:func:`shared_setups`), handed to the stages' ``prepare``."""
    p = pipeline(system, point)
    if p.task == "estimation":
        return p.prepare(None, rng, shared).estimation_link()
    snr_db = float(point["snr_db"])
    return p.prepare(snr_db, rng, shared).link(snr_db, point.get("estimator", "plain"))


def check_name(name) -> str:
    """``name`` when a sweep file's ``study`` may say it (one of :data:`NAMES`), else a ValueError."""
    if not isinstance(name, str) or name not in NAMES:
        raise ValueError(f"the sweep file needs study = one of {', '.join(sorted(NAMES))}, got {name!r}")
    return name


def _tables(config: dict) -> dict:
    return {k: config[k] for k in COMPONENTS if k in config}


def config_metric(config: dict) -> str:
    """The engine's metric kind (``"rate"`` or ``"mse"``) for a (raw or parsed) sweep config."""
    return metric(_tables(config))


def config_columns(config: dict) -> tuple[str, str]:
    """results.csv names of the estimate and its sample count, for a (raw or parsed) sweep config."""
    return columns(_tables(config))


#: The stages a figure's title describes, in the order it names them: the receiver-independent parts of the
#: link (the receivers and the metric are the curves' and the axis's business).
DESCRIBED = ("channel", "source", "frontend", "adc")


def _stage_classes(system: dict, point: dict) -> dict:
    """Each described stage's class and its parameters (defaults filled) at the point."""
    tables = point_tables(system, point)
    out = {}
    for kind in DESCRIBED:
        table = dict(tables[kind])
        cls = lookup(kind, table.pop("type"))
        out[kind] = (cls, {**cls.PARAMS, **table})
    if out["source"][0].task == "estimation":  # the source draws the channel itself: no channel stage
        del out["channel"]
    return out


def describe(system: dict, points: list) -> dict:
    """What a figure of ``points`` (point keys, e.g. every curve's points in one panel) states about its system,
    from the components' own words (:meth:`hwsim.hooks.StageHooks.describe`,
    :meth:`hwsim.hooks.ChannelHooks.snr_definition`):

    - ``"system"``: the described stages' words joined (``"N_r=8, i.i.d. Rayleigh, K=2, QPSK, 3-bit uniform
      ADCs"``), leaving out a stage whose words differ between the points (each curve's own converters: the
      legend names those);
    - ``"snr"``: the channel's SNR definition when every point shares it ("" on an estimation link);
    - ``"values"``: ``{"KIND.PARAM": value}`` of every described stage's parameter that all the points share
      (what a config's ``title`` placeholders such as ``{channel.antennas}`` read).
    """
    import json

    seen: dict = {kind: set() for kind in (*DESCRIBED, "snr")}
    values: dict = {}
    for point in points:
        stages = _stage_classes(system, point)
        metric = point_tables(system, point)["metric"]["type"]
        decoded = bool(lookup("metric", metric).scores_decoded)
        for kind in DESCRIBED:
            words = ""
            if kind == "source":
                words = stages[kind][0].describe_scored(stages[kind][1], decoded)
            elif kind in stages:
                words = stages[kind][0].describe(stages[kind][1])
            seen[kind].add(words)
            for param, value in (stages[kind][1].items() if kind in stages else ()):
                values.setdefault(f"{kind}.{param}", set()).add(json.dumps(value, sort_keys=True, default=str))
        channel = stages.get("channel")
        seen["snr"].add(channel[0].snr_definition(channel[1]) if channel else "")
    parts = [next(iter(seen[kind])) for kind in DESCRIBED if len(seen[kind]) == 1]
    shared = {key: json.loads(next(iter(v))) for key, v in values.items() if len(v) == 1 and len(points)}
    return {"system": ", ".join(p for p in parts if p), "snr": next(iter(seen["snr"])) if len(seen["snr"]) == 1 else "",
            "values": shared}


def ebno_offset_db(system: dict, point: dict) -> tuple[float, float] | None:
    r"""``(SNR - Eb/N0 in dB, information bits per symbol per user)`` of a detection point:
    :math:`E_b/N_0 = E_s/N_0 - 10\log_{10} b`, ``b`` the source's information bits per symbol of one user
    (bits per symbol times the code rate, :meth:`hwsim.hooks.SourceHooks.information_bits`) and
    :math:`E_s/N_0` the channel's (:meth:`hwsim.hooks.ChannelHooks.esn0_db`: the SNR on a complex channel,
    SNR - 3.01 dB on a real one); None where the source states no bits (an estimation link)."""
    stages = _stage_classes(system, point)
    source, channel = stages["source"], stages.get("channel")
    bits = source[0].information_bits(source[1])
    if channel is None or not bits:
        return None
    import math

    return -(channel[0].esn0_db(0.0, channel[1]) - 10 * math.log10(bits)), float(bits)
