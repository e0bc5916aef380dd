"""Component registry: every piece of a link is a class registered under a kind and a name.

A link (:mod:`hwsim.pipeline`) is a chain ``source -> channel -> frontend -> adc -> receiver
-> metric``. Each kind's classes live in the folder of that kind (``channels/``, ``designs/``,
``hwsim/converters/``, ``receivers/``, ``hwsim/metrics.py``) and register themselves. A component
declares its parameters by the signature of its ``__init__``, as scikit-learn estimators and Sionna
blocks do::

    from hwsim.components import register

    @register("receiver", "mrc")
    class MRC(Detector):
        def __init__(self, *, llr: bool = True):
            ...

The registry derives the rest from that signature: :attr:`Component.PARAMS` (name -> default),
the allowed type of each parameter (its annotation: ``int``, ``float``, ``bool``, ``str``, a
``typing.Literal`` of the allowed values, ``X | None``; the default's type where there is none),
``self.params`` and :meth:`Component.get_params`, the ``repr``, and the dotted config keys
(``receiver.llr``); ``help(MRC)`` and IDEs show the parameters. Every value is checked before the
component's own ``__init__`` runs, so a bad one is refused with an error that names its key and
what is allowed; the component's own checks (combinations of values) stay in its ``__init__``.

A config selects one by ``type`` in the kind's table (``[receiver] type = "mrc"``) and sets
its parameters there, or per curve / grid axis by dotted key (``"receiver.llr" = false``).
This module imports nothing of the engine or of the components: the packages that hold
components are imported on first lookup (:data:`HOMES`), and so are the components of installed
packages (their ``hwsim.components`` entry points, :mod:`hwsim.plugins`). A user's own module of
components is imported by name: ``hwsim sweep CONFIG --plugin MODULE`` or ``plugins = ["MODULE"]``
in the sweep file (:func:`hwsim.plugins.load_plugins`).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import types
import typing
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
#: The kinds of stage of a link, in chain order (source, channel, front end, converters, receiver, metric).
KINDS = tuple(HOMES)

_REGISTRY: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}


@dataclass(frozen=True)
class FileParam:
    """How a component parameter names a file (:attr:`Component.FILES`): ``companions`` are the suffixes of
    files read beside it (a model's ``.json`` sidecar); ``names`` are values that name a built-in design
    instead of a file (a vector bank's ``"A2"``). An empty value names no file."""

    companions: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


class Component:
    """Base of every registered component: parameters declared by the signature of ``__init__``.

    A subclass declares its parameters as keyword parameters with defaults
    (``def __init__(self, *, bits: int = 3, agc: Literal["ideal", "fixed"] = "ideal")``): the class
    then gets ``PARAMS`` (name -> default) and ``TYPES`` (name -> allowed type) from it, every
    instance gets ``self.params`` (every parameter, the given ones checked), and a value of the wrong
    type or an unknown name is refused before the body of ``__init__`` runs. A subclass that adds no
    parameter and defines no ``__init__`` shares its base's. ``FILES`` names the parameters that hold
    file paths (:class:`FileParam`): a sweep reads those files once, hashes them into its identity
    and gives every worker the same contents (:mod:`hwsim.engine.inputs`).
    A component without parameters needs no ``__init__`` of its own. ``UNHASHED_DEFAULTS`` names parameters
    added after sweeps were recorded whose default gives the earlier numbers: at that default they stay out of
    a sweep's config hash, so the earlier run folders still resume.
    """

    PARAMS: dict[str, Any] = {}
    TYPES: dict[str, Any] = {}
    FILES: dict[str, FileParam] = {}
    UNHASHED_DEFAULTS: tuple[str, ...] = ()
    kind = ""
    name = ""

    def __init__(self, **given):
        if "params" in self.__dict__ and not given:
            return  # reached by super().__init__() from a declared __init__, whose values are set
        # a component without parameters: any name given is refused with its key
        self.params = check_params(type(self), given)

    # what help() and IDEs show of a component without parameters (the names it refuses are not parameters)
    __init__.__signature__ = inspect.Signature([inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)])

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "__hwsim_declared__", False):
            return
        signature = inspect.signature(init)
        declared = list(signature.parameters.values())[1:]
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in declared):
            raise TypeError(f"{cls.__module__}.{cls.__qualname__}.__init__: a component takes no **kwargs; declare "
                            "each parameter by name with its default")
        cls.PARAMS, cls.TYPES = _declared(cls, init, declared)
        cls.__init__ = _checked_init(cls, init, signature)

    def get_params(self) -> dict[str, Any]:
        """Every parameter of this component with its value (a copy): ``type(self)(**c.get_params())``
        builds the same component."""
        return dict(self.params)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in getattr(self, "params", {}).items())
        return f"{type(self).__name__}({shown})"


def _declared(cls, init, declared) -> tuple[dict, dict]:
    """``PARAMS`` and ``TYPES`` of a class from the parameters of its ``__init__``."""
    where = f"{cls.__module__}.{cls.__qualname__}.__init__"
    try:
        hints = typing.get_type_hints(init)
    except Exception as exc:  # an annotation that does not resolve is the author's error, said at import
        raise TypeError(f"{where}: its annotations do not resolve ({exc})") from exc
    params, kinds = {}, {}
    for p in declared:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            raise TypeError(f"{where}: a component takes no *{p.name}; declare each parameter by name")
        if p.default is inspect.Parameter.empty:
            raise TypeError(f"{where}: parameter {p.name!r} needs a default (a config may leave any parameter out)")
        params[p.name] = p.default
        kinds[p.name] = hints.get(p.name, Any)
    return params, kinds


def _checked_init(cls, init, signature):
    """``init`` preceded by the registry's check of its arguments: unknown names and wrong types are
    refused with the config key, and ``self.params`` holds every parameter once the checks pass."""

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        positional = [p.name for p in list(signature.parameters.values())[1:]
                      if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        if len(args) > len(positional):
            raise TypeError(f"{cls.__name__}() takes {len(positional)} positional arguments ({len(args)} given); "
                            f"pass the others by name")
        given = dict(zip(positional, args))
        for key in kwargs:
            if key in given:
                raise TypeError(f"{cls.__name__}() got two values for {key!r}")
        given.update(kwargs)
        # a subclass that inherits this __init__ (a registered LMMSE of an unregistered LinearDetector) is
        # checked as itself, so errors name its kind and registered name
        values = check_params(type(self) if type(self).__init__ is __init__ else cls, given)
        if "params" not in self.__dict__:  # the outermost class's checked values (a base's __init__ keeps them)
            self.params = values
        init(self, **values)

    __init__.__hwsim_declared__ = True
    return __init__


def register(kind: str, name: str):
    """Class decorator: record ``cls`` as the ``kind`` component called ``name``."""
    if kind not in _REGISTRY:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")

    def deco(cls):
        from .hooks import BASES  # the hooks every stage of this kind has (hwsim.hooks imports this module)

        if not (isinstance(cls, type) and issubclass(cls, BASES[kind])):
            article = "an" if kind[0] in "aeiou" else "a"
            raise TypeError(f"{article} {kind} must derive from hwsim.hooks.{BASES[kind].__name__} (or from a base "
                            f"of its kind that does), got {getattr(cls, '__qualname__', cls)!r}")
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
    if not _ENTRY_POINTS_LOADED:
        _load_entry_points()
    return _REGISTRY[kind]


#: Whether this process has loaded the installed packages' ``hwsim.components`` entry points
#: (:func:`hwsim.plugins.load_entry_points`, on the first lookup).
_ENTRY_POINTS_LOADED = False


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    from .plugins import load_entry_points

    _ENTRY_POINTS_LOADED = load_entry_points()  # False while they load (a lookup made by one of them)


def names(kind: str) -> list[str]:
    """Registered names of one kind, sorted."""
    return sorted(_load(kind))


def lookup(kind: str, name: str) -> type:
    """The class registered as ``name`` for ``kind``; a clear error listing the names otherwise."""
    table = _load(kind)
    if name not in table:
        raise ValueError(f"{kind}.type must be one of {', '.join(sorted(table))}, got {name!r} (a component "
                         "of your own is found once its module is imported: hwsim sweep --plugin MODULE, or "
                         "plugins = [\"MODULE\"] in the sweep file)")
    return table[name]


def _type_ok(default, value) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if default is None:
        return True
    return isinstance(value, type(default))


_WORDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
          tuple: "a list", dict: "a table"}


def _allows(hint, value) -> tuple[bool, str]:
    """Whether ``value`` is of the annotated type ``hint``, and how to say that type in an error."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True, "anything"
    if hint is None or hint is type(None):
        return value is None, "none"
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        ok = any(value == a and type(value) is type(a) for a in allowed)
        return ok, "one of " + ", ".join(a if isinstance(a, str) else repr(a) for a in allowed)
    if origin in (typing.Union, types.UnionType):
        said = []
        for arm in typing.get_args(hint):
            ok, words = _allows(arm, value)
            if ok:
                return True, words
            said.append(words)
        return False, " or ".join(said)
    base = origin or hint
    if base is bool or isinstance(value, bool):
        return base is bool and isinstance(value, bool), _WORDS.get(base, getattr(base, "__name__", str(base)))
    if base is float:
        return isinstance(value, (int, float)), _WORDS[float]
    if base in (list, tuple):
        return isinstance(value, (list, tuple)), _WORDS[base]
    if isinstance(base, type):
        return isinstance(value, base), _WORDS.get(base, base.__name__)
    return True, str(hint)


def _coerce(hint, default, value):
    """A checked value as the component receives it: a float parameter gets a float, an integer written
    as 2.0 becomes 2."""
    arms = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if hint is Any:
        arms = (type(default),) if default is not None else ()
    if isinstance(value, bool):
        return value
    if int in arms and float not in arms and isinstance(value, float) and value.is_integer():  # 2.0 for 2
        return int(value)
    if float in arms and isinstance(value, int):
        return float(value)
    return value


def check_params(cls: type, params: dict, *, prefix: str | None = None) -> dict:
    """``cls.PARAMS`` updated with ``params``; a clear error for an unknown name or a wrong type."""
    prefix = prefix if prefix is not None else (f"{cls.kind}." if getattr(cls, "kind", "") else "")
    allowed = cls.PARAMS
    hints = cls.__dict__.get("TYPES") or getattr(cls, "TYPES", {})
    hints = hints if set(hints) == set(allowed) else {}
    out = dict(allowed)
    for key, value in params.items():
        if key not in allowed:
            valid = ", ".join(sorted(allowed)) or "none"
            raise ValueError(f"{prefix}{key} is not a parameter of {cls.kind or 'this'} {cls.name or cls.__name__!r} "
                             f"(its parameters: {valid})")
        hint = hints.get(key, Any)
        if hint is not Any:
            value = _coerce(hint, allowed[key], value)
            ok, words = _allows(hint, value)
            if not ok:
                raise ValueError(f"{prefix}{key} must be {words}, got {value!r}")
            out[key] = value
            continue
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
