"""Component registry: every piece of a link is a class registered under a kind and a name.

A link (:mod:`hwsim.pipeline`) is a chain ``source -> channel -> frontend -> adc -> receiver
-> metric``. Each kind's classes live in the folder of that kind (``channels/``, ``designs/``,
``hwsim/converters.py``, ``receivers/``, ``hwsim/metrics.py``) and register themselves::

    from hwsim.components import Component, register

    @register("receiver", "mrc")
    class MRC(Detector):
        PARAMS = {"llr": True}          # config parameters and their defaults
        ...

A config selects one by ``type`` in the kind's table (``[receiver] type = "mrc"``) and sets
its parameters there, or per curve / grid axis by dotted key (``"receiver.llr" = false``).
:func:`build` checks every parameter against ``PARAMS`` (name, and the type of the default)
before the class is constructed. This module imports nothing of the engine or of the
components: the packages that hold components are imported on first lookup (:data:`HOMES`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

#: Kind -> the packages whose import registers that kind's components.
HOMES = {
    "source": ("hwsim.channels",),
    "channel": ("hwsim.channels",),
    "frontend": ("hwsim.designs.frontends",),
    "adc": ("hwsim.converters",),
    "receiver": ("hwsim.receivers",),
    "metric": ("hwsim.metrics",),
}
KINDS = tuple(HOMES)

_REGISTRY: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}

#: Set-ups shared by every point of a sweep (a network trained once), by the key of the stage that
#: made them: a sweep computes them before its points (a stage's ``shared_key`` / ``shared_setup``
#: hooks, see :mod:`hwsim.pipeline`) and each worker finds them here (filled by
#: :func:`hwsim.engine.executors.run_point`), so no worker repeats the work.
SHARED: dict[str, Any] = {}


@dataclass(frozen=True)
class FileParam:
    """How a component parameter names a file (:attr:`Component.FILES`): ``companions`` are the suffixes of
    files read beside it (a model's ``.json`` sidecar); ``names`` are values that name a built-in design
    instead of a file (a vector bank's ``"A2"``). An empty value names no file."""

    companions: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


class Component:
    """Base of every registered component: parameters from :attr:`PARAMS`, a repr that shows them.

    Subclasses set ``PARAMS`` (name -> default; the default's type is the allowed type, a
    float parameter also takes an int) and read their parameters from ``self.params`` or
    take them as keyword arguments of their own ``__init__``. ``FILES`` names the parameters
    that hold file paths (:class:`FileParam`): a sweep reads those files once, hashes them into
    its identity and gives every worker the same contents (:mod:`hwsim.engine.inputs`).
    """

    PARAMS: dict[str, Any] = {}
    FILES: dict[str, FileParam] = {}
    kind = ""
    name = ""

    def __init__(self, **params):
        self.params = check_params(type(self), params)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in getattr(self, "params", {}).items())
        return f"{type(self).__name__}({shown})"


def register(kind: str, name: str):
    """Class decorator: record ``cls`` as the ``kind`` component called ``name``."""
    if kind not in _REGISTRY:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")

    def deco(cls):
        known = _REGISTRY[kind].get(name)
        same = known is not None and (known.__module__, known.__qualname__) == (cls.__module__, cls.__qualname__)
        if known is not None and known is not cls and not same:  # a re-imported module may register again
            raise ValueError(f"a {kind} called {name!r} is already registered ({known.__module__}.{known.__qualname__})")
        cls.kind, cls.name = kind, name
        _REGISTRY[kind][name] = cls
        return cls

    return deco


def _load(kind: str) -> dict[str, type]:
    if kind not in _REGISTRY:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    for module in HOMES[kind]:
        importlib.import_module(module)
    return _REGISTRY[kind]


def names(kind: str) -> list[str]:
    """Registered names of one kind, sorted."""
    return sorted(_load(kind))


def lookup(kind: str, name: str) -> type:
    """The class registered as ``name`` for ``kind``; a clear error listing the names otherwise."""
    table = _load(kind)
    if name not in table:
        raise ValueError(f"{kind}.type must be one of {', '.join(sorted(table))}, got {name!r}")
    return table[name]


def _type_ok(default, value) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if default is None:
        return True
    return isinstance(value, type(default))


def check_params(cls: type, params: dict, *, prefix: str | None = None) -> dict:
    """``cls.PARAMS`` updated with ``params``; a clear error for an unknown name or a wrong type."""
    prefix = prefix if prefix is not None else (f"{cls.kind}." if getattr(cls, "kind", "") else "")
    allowed = cls.PARAMS
    out = dict(allowed)
    for key, value in params.items():
        if key not in allowed:
            valid = ", ".join(sorted(allowed)) or "none"
            raise ValueError(f"{prefix}{key} is not a parameter of {cls.kind or 'this'} {cls.name or cls.__name__!r} "
                             f"(its parameters: {valid})")
        if isinstance(allowed[key], int) and not isinstance(allowed[key], bool) and isinstance(value, float) \
                and value.is_integer():
            value = int(value)  # 2.0 written for 2
        if not _type_ok(allowed[key], value):
            kind = {bool: "boolean", int: "an integer", float: "a number", str: "a string"}.get(
                type(allowed[key]), type(allowed[key]).__name__)
            raise ValueError(f"{prefix}{key} must be {'a ' if kind == 'boolean' else ''}{kind}, got {value!r}")
        out[key] = float(value) if isinstance(allowed[key], float) else value
    return out


def _toml_value(value) -> str:
    """A default as a config file writes it (``"qpsk"``, ``true``, ``[2, 11]``, ``3.5e9``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(_toml_value, value)) + "]"
    return repr(value)


def catalogue(kinds=None) -> str:
    """The registered components as reStructuredText, generated from the registry so that it cannot
    drift: per kind, each config name with its class, the first line of its docstring, and its
    parameters with their defaults (the documentation's component catalogue is this text)."""
    lines = []
    for kind in kinds or KINDS:
        lines += [f".. rubric:: ``[{kind}]``", ""]
        for name in names(kind):
            cls = lookup(kind, name)
            doc = (cls.__doc__ or "").strip().split("\n\n")[0]
            summary = " ".join(line.strip() for line in doc.splitlines())
            lines.append(f"``{name}`` (:class:`{cls.__module__}.{cls.__qualname__}`)")
            lines.append(f"    {summary or '(no description)'}")
            params = ", ".join(f"``{k} = {_toml_value(v)}``" for k, v in cls.PARAMS.items())
            lines += ["", f"    Parameters: {params or 'none'}.", ""]
    return "\n".join(lines) + "\n"


def build(kind: str, table: dict):
    """Construct the component a config table describes: ``{"type": name, **params}``."""
    table = dict(table)
    if "type" not in table:
        raise ValueError(f"[{kind}] needs a type = one of {', '.join(names(kind))}")
    cls = lookup(kind, table.pop("type"))
    return cls(**check_params(cls, table))
