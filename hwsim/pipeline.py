r"""A link as a chain of components: source -> channel -> front end -> converters -> receiver -> metric.

Each stage is a registered component (:mod:`hwsim.components`) built from one config table::

    from hwsim.pipeline import Pipeline

    link = Pipeline.from_tables({
        "source": {"type": "users", "users": 8, "constellation": "qam16"},
        "channel": {"type": "rayleigh", "antennas": 64, "frame_len": 100},
        "adc": {"type": "uniform", "bits": 3},
        "receiver": {"type": "blmmse"},
    })
    tally = link.link(snr_db=10.0)(np.random.default_rng(1), 10_000)

Signal model per frame (block fading): :math:`y = H s + n`, :math:`E|s|^2 = 1`,
:math:`n \sim \mathcal{CN}(0, N_0 I)`, SNR :math:`= 1/N_0`. The front end gives the
converters :math:`W y`; the receiver gets an :class:`~hwsim.receivers.base.Observation`
with the effective channel. Draw order per batch (fixed, so seeded runs repeat): symbols,
channel, noise, then the receiver's channel knowledge (a CSI error, where the channel has one).
A real channel (seed 001's :math:`H_{ij} = e^{-|i-j|}`) carries real BPSK signals and real
noise :math:`\mathcal N(0, N_0)`, as that paper defines its SNR.

Optional hooks a stage may define: ``check_link(link)`` (refuse a link it cannot serve),
``prepare(link, snr_db, rng)`` (set-up per point, e.g. training), ``replicas`` (independently
prepared copies a point averages), ``fused_link(link, snr_db)`` (a faster link of its own),
and ``shared_key(link)`` with ``shared_setup(link, folder, progress, say)`` (set-up shared by every
point of a sweep, computed once before the points: :meth:`Pipeline.shared_setups`).

Every link is this one chain. The channel's :meth:`~hwsim.hooks.ChannelHooks.receive` makes the antenna
samples (the flat model :math:`H s + n`, or the time-domain convolution of a wideband OFDM channel,
:mod:`hwsim.channels.ofdm`), its :meth:`~hwsim.hooks.ChannelHooks.expected_power` states the power of each
converter input (``Observation.power``, what the bank's ``agc = "ideal"`` takes), and the converter bank
converts the samples (``convert(y, power, rng)``): no stage sees a channel matrix it does not use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

import numpy as np

from .components import KINDS, Component, build, check_params, lookup, names
from .tally import Tally

#: How a detection link's Monte Carlo draws its noise: plainly, or importance-sampled
#: (:mod:`hwsim.engine.importance`); a curve picks one with ``estimator``.
ESTIMATORS = ("plain", "importance")
#: Component tables every link has, with the type used when a config leaves a table out.
DEFAULT_TYPES = {"source": "users", "channel": "rayleigh", "frontend": "identity", "adc": "none",
                 "receiver": "lmmse", "metric": "ber"}


def resolve_tables(base: dict, overrides: dict) -> dict:
    """Component tables of one point: ``base`` tables updated by dotted ``overrides``.

    ``overrides`` maps ``"kind"`` (the type) or ``"kind.param"`` to values. When a point
    changes a component's type, the base table's parameters the new type does not have are
    dropped (they belonged to the old type); every parameter the point sets itself must exist.
    """
    tables = {kind: dict(base.get(kind, {})) for kind in KINDS}
    for kind in KINDS:
        tables[kind].setdefault("type", DEFAULT_TYPES[kind])
    own: dict[str, set] = {kind: set() for kind in KINDS}
    for key, value in overrides.items():
        kind, _, param = key.partition(".")
        if kind not in tables:
            continue  # not a component key (e.g. snr_db)
        tables[kind][param or "type"] = value
        if param:
            own[kind].add(param)
    for kind, table in tables.items():
        base_type = base.get(kind, {}).get("type", DEFAULT_TYPES[kind])
        if table["type"] == base_type:
            continue  # the base table's parameters all stay (and are checked when the stage is built)
        cls = lookup(kind, table["type"])
        for param in list(table):
            if param != "type" and param not in cls.PARAMS and param not in own[kind]:
                del table[param]
    return tables


def noise_var(snr_db: float) -> float:
    r""":math:`N_0 = 10^{-\mathrm{SNR}/10}` (unit-energy symbols)."""
    return 10.0 ** (-float(snr_db) / 10)


@dataclass
class Pipeline:
    """The components of one link; :meth:`link` makes the Monte Carlo link of one SNR."""

    source: Component
    channel: Component
    frontend: Component
    adc: Component
    receiver: Component
    metric: Component

    @classmethod
    def from_tables(cls, tables: dict) -> "Pipeline":
        """Build every stage from its table (``{"type": name, **params}``; a missing table takes
        :data:`DEFAULT_TYPES`). Errors name the table and the parameter."""
        unknown = sorted(set(tables) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown component table{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                             f"the link's tables: {', '.join(KINDS)}")
        full = {kind: {"type": DEFAULT_TYPES[kind], **tables.get(kind, {})} for kind in KINDS}
        return cls(**{kind: build(kind, full[kind]) for kind in KINDS})

    def transmit(self, n_frames: int, snr_db: float, rng: np.random.Generator):
        r"""Draw symbols, channel and noise: (sent indices [F, L, K], antenna signal y [F, L, N], H [F, N, K]).

        A real channel (``channel.real``, seed 001's model) carries the symbols' real parts and
        real noise :math:`\mathcal N(0, N_0)`; otherwise the noise is :math:`\mathcal{CN}(0, N_0)`.
        """
        idx, y, H, _ = self._transmit(n_frames, snr_db, rng, None)
        return idx, y, H

    def _transmit(self, n_frames: int, snr_db: float, rng: np.random.Generator, bias):
        """:meth:`transmit`, with the noise drawn from ``bias`` (a :class:`hwsim.engine.importance.NoiseBias`)
        when one is given; returns ``(weights, plain)`` too, the samples' importance weights [F, L] and which of
        them came from the plain component [F, L] (None without a bias)."""
        L = self.channel.frame_len
        idx, s = self.source.draw(n_frames, L, rng)
        H = self.channel.draw(n_frames, self.source.users, rng)
        if self.channel.real:
            s = s.real
        noise, drawn = None, None  # drawn: (importance weights, plain-component mask) with a bias
        if bias is not None:
            noise, *drawn = bias.draw(idx, s, H, noise_var(snr_db), rng)
        y = self.channel.receive(s, H, snr_db, rng, noise)  # the channel's model: H s + n, or a convolution
        return idx, y, H, drawn

    def observe(self, n_frames: int, snr_db: float, rng: np.random.Generator):
        """Draw ``n_frames`` frames; returns (sent symbol indices [F, L, K], Observation).

        Draw order: symbols, channel, noise (:meth:`transmit`), then the receiver's channel
        knowledge (``channel.receiver_csi``: perfect unless the channel has a CSI error).
        """
        idx, obs, _ = self._observe(n_frames, snr_db, rng, None)
        return idx, obs

    def _observe(self, n_frames: int, snr_db: float, rng: np.random.Generator, bias):
        from .receivers.base import Observation

        idx, y, H, drawn = self._transmit(n_frames, snr_db, rng, bias)
        n0 = noise_var(snr_db)
        H_rx = self.channel.receiver_csi(H, rng)
        y, H_eff, noise_cov = self.frontend.apply(y, H_rx, n0)
        power = self.channel.expected_power(y, H_eff, n0, noise_cov)  # what the bank's agc = "ideal" takes
        fields = self.adc.convert(y, power, rng)
        return idx, Observation(H=H_eff, noise_var=n0, constellation=self.source.constellation,
                                noise_cov=noise_cov, fixed_channel=not self.channel.random, power=power,
                                **fields), drawn

    def stages(self):
        """(kind, component) of every stage, in link order."""
        return [(kind, getattr(self, kind)) for kind in KINDS]

    def check(self) -> None:
        """Every stage's ``check_link(link)`` hook: refuse, before anything runs, a link a stage cannot serve."""
        for _, stage in self.stages():
            stage.check_link(self)

    @property
    def replicas(self) -> int:
        """Independently prepared copies a point averages (a learned receiver's trainings), 1 otherwise."""
        return max(int(stage.replicas) for _, stage in self.stages())

    @property
    def task(self) -> str:
        """``"detection"`` (a symbol source) or ``"estimation"`` (a source whose unknown is the channel)."""
        return self.source.task

    #: The set-ups the sweep computed once for all its points, by key (:meth:`shared_setups`), as
    #: :meth:`prepare` was given them: a stage's ``prepare`` looks its own up under its ``shared_key``.
    shared: ClassVar[Mapping] = MappingProxyType({})

    def prepare(self, snr_db: float | None, rng: np.random.Generator, shared: Mapping | None = None) -> "Pipeline":
        """Every stage's ``prepare(link, snr_db, rng)`` hook (training, for learned stages), in link order
        (``snr_db`` None for an estimation link, whose source sets its own SNR). ``shared``: the sweep's
        set-ups by key (:meth:`shared_setups`), which the stages find in :attr:`shared`."""
        self.shared = MappingProxyType(dict(shared or {}))
        for _, stage in self.stages():
            stage.prepare(self, None if snr_db is None else float(snr_db), rng)
        return self

    def shared_setups(self, folder, progress: bool = False, have=(), say=None) -> dict:
        """What a sweep computes once for all its points, by key: every stage's ``shared_key(link)``
        (None: nothing) and ``shared_setup(link, folder, progress, say)`` (a learned detector trains its
        network there and saves it in ``folder``; ``say`` takes a progress line), except keys in
        ``have``. The sweep hands the result to every point's :meth:`prepare`."""
        out = {}
        for _, stage in self.stages():
            key = stage.shared_key(self)
            if key is not None and key not in have:
                out[key] = stage.shared_setup(self, folder, progress, say)
        return out

    def estimation_link(self):
        """``link(rng, batch)`` of an estimation link: the metric's per-realization errors, as
        ``(sum, sum of squares, realizations)``, or a Tally over groups when the receiver redraws
        a random set-up (an SNR estimate) for every ``receiver.group`` realizations.

        A metric of laws (``per_batch(s, s_hat, source)``, e.g. ``w2``) gives one value per call:
        ``(value * realizations, realizations)``, batch means. A receiver's ``measured_by(link)`` may
        name the metric component its curve is scored by instead of the link's (a perception curve
        of the ``rdp`` receiver in an MSE sweep), or None."""
        source, receiver, metric = self.source, self.receiver, self.metric
        metric = receiver.measured_by(self) or metric
        group = receiver.group
        per_batch = metric.per_batch if metric.per_batch_only else None
        if per_batch is not None and group:
            raise ValueError(f"metric {metric.name!r} is estimated per batch; receiver {receiver.name!r} redraws its "
                             f"set-up every {group} realizations, which that metric cannot score")

        def run(rng: np.random.Generator, batch: int):
            if per_batch is not None:
                s, x = source.sample(batch, rng)
                return per_batch(s, receiver.estimate(x, rng), source) * len(s), len(s)
            if not group:
                s, x = source.sample(batch, rng)
                e = metric.per_realization(s, receiver.estimate(x, rng))
                return float(e.sum()), float((e**2).sum()), len(e)
            totals = []
            for _ in range(-(-int(batch) // group)):  # whole groups
                receiver.redraw(self, rng)
                s, x = source.sample(group, rng)
                totals.append(float(metric.per_realization(s, receiver.estimate(x, rng)).sum()))
            return Tally.of(totals, group)

        return run

    def link(self, snr_db: float, estimator: str = "plain"):
        """``link(rng, batch) -> Tally``; ``batch`` channel uses, rounded up to whole frames.

        The tally's independent clusters are the frames when they share a random draw (fading,
        a channel estimate), else the channel uses (a fixed channel known exactly). A receiver's
        ``fused_link(link, snr_db)`` may supply a faster function for the same draws, returning
        the tally's fields. ``estimator = "importance"``: the noise is drawn from the biased law
        of :mod:`hwsim.engine.importance` and the link returns
        :class:`~hwsim.engine.importance.Weighted` counts; its ``plain`` attribute is the plain link.
        """
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
        if estimator == "importance":
            if self.channel.time_domain:
                raise ValueError(f"channel.type = {self.channel.name!r} (a wideband link of time-domain samples) "
                                 f"supports estimator = \"plain\" only, got {estimator!r}")
            return self._importance_link(snr_db)
        fast = self.receiver.fused_link(self, float(snr_db))
        if fast is not None:
            def fused(rng: np.random.Generator, batch: int):
                return Tally(*fast(rng, batch))

            fused.solver_counts = self.receiver.solver_counts
            return fused
        per_sample = not self.channel.random

        def frames(rng: np.random.Generator, n_frames: int):
            idx, obs = self.observe(n_frames, snr_db, rng)
            decision = self.receiver.detect(obs)
            return Tally.of(*self.metric.count(self.source, idx, decision.indices, per_sample=per_sample))

        def run(rng: np.random.Generator, batch: int):
            n_frames = -(-int(batch) // self.channel.frame_len)
            piece = self.channel.frames_per_pass(self.source)
            if piece is None or n_frames <= piece:
                return frames(rng, n_frames)
            # a batch of long frames (OFDM slots) in passes of bounded memory; tallies of independent frames add
            parts = [frames(rng, min(piece, n_frames - start)) for start in range(0, n_frames, piece)]
            return Tally(*(sum(field) for field in zip(*parts)))

        run.solver_counts = self.receiver.solver_counts  # read by hwsim.engine.montecarlo.estimate
        return run

    def _importance_link(self, snr_db: float):
        from .engine.importance import NoiseBias, Weighted

        if self.task != "detection":
            raise ValueError("estimator = \"importance\" biases the noise of a detection link; an estimation link "
                             "has no error events to bias toward")
        # what the receiver says of itself: a linear filter's errors lie toward its own decision boundaries
        directions = self.receiver.error_directions
        bias = NoiseBias(self.source.constellation.points, self.source.users, self.channel.real, directions=directions)
        per_sample = not self.channel.random

        def run(rng: np.random.Generator, batch: int):
            n_frames = -(-int(batch) // self.channel.frame_len)
            idx, obs, (w, plain) = self._observe(n_frames, snr_db, rng, bias)
            decision = self.receiver.detect(obs)
            sample_errors, size = self.metric.count(self.source, idx, decision.indices, per_sample=True)
            weighted = w.reshape(-1) * sample_errors
            totals = weighted if per_sample else weighted.reshape(n_frames, -1).sum(axis=1)
            plain_clusters = plain.sum() if per_sample else plain.any(axis=1).sum()
            clusters = totals.size
            return Weighted(float(totals.sum()), clusters * (size if per_sample else size * self.channel.frame_len),
                            clusters, float(np.dot(totals, totals)), int(np.count_nonzero(totals)),
                            float(w.sum()), float(np.dot(w.reshape(-1), w.reshape(-1))), w.size, int(plain_clusters))

        run.plain = self.link(snr_db)
        return run

    def to_config(self) -> dict:
        """The link as config tables, ``{kind: {"type": name, **params}}``: what a sweep file's component
        tables hold; :meth:`from_config` builds the same link from them."""
        return {kind: {"type": stage.name, **stage.params} for kind, stage in self.stages()}

    @classmethod
    def from_config(cls, tables: dict) -> "Pipeline":
        """The link of config tables (a sweep file's ``[source]``, ``[channel]``, ... tables; see
        :meth:`from_tables`)."""
        return cls.from_tables(tables)

    def __repr__(self) -> str:
        stages = ",\n  ".join(f"{kind}={getattr(self, kind)!r}" for kind in KINDS)
        return f"{type(self).__name__}(\n  {stages})"


class Link(Pipeline):
    """A link composed in Python: each stage a component (``Users(users=8)``), a config table
    (``{"type": "users", "users": 8}``), a type name (``"blmmse"``), or left out for the default of
    :data:`DEFAULT_TYPES` (the same defaults a sweep file's missing tables take)::

        import hwsim
        from hwsim.channels import IIDRayleigh, Users
        from hwsim.converters import UniformBank
        from hwsim.receivers import BLMMSE

        link = hwsim.Link(source=Users(users=8, constellation="qam16"), channel=IIDRayleigh(antennas=64),
                          adc=UniformBank(bits=3), receiver=BLMMSE())
        est = hwsim.simulate(link, snr_db=10.0, stopping=hwsim.Stopping(target_errors=200), seed=1)

    ``link.to_config()`` gives its tables and ``Link.from_config(tables)`` builds it back.
    """

    def __init__(self, source=None, channel=None, frontend=None, adc=None, receiver=None, metric=None):
        given = {"source": source, "channel": channel, "frontend": frontend, "adc": adc, "receiver": receiver,
                 "metric": metric}
        super().__init__(**{kind: _stage(kind, value) for kind, value in given.items()})


def _stage(kind: str, value) -> Component:
    """A stage of :class:`Link`: a component of ``kind`` as given, or built from a table or a type name."""
    if value is None:
        value = DEFAULT_TYPES[kind]
    if isinstance(value, str):
        value = {"type": value}
    if isinstance(value, dict):
        return build(kind, {"type": DEFAULT_TYPES[kind], **value})
    if isinstance(value, Component):
        if value.kind != kind:
            raise TypeError(f"{kind}: {type(value).__name__} is a{'n' if value.kind[:1] in 'aeiou' else ''} "
                            f"{value.kind or 'unregistered'} component, not a {kind} (registered {kind} types: "
                            f"{', '.join(names(kind))})")
        return value
    raise TypeError(f"{kind} must be a {kind} component, a config table or a type name, got "
                    f"{type(value).__name__}")


__all__ = ["DEFAULT_TYPES", "ESTIMATORS", "Link", "Pipeline", "check_params", "noise_var", "resolve_tables"]
