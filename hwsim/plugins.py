"""Components registered outside hwsim's tree: plugin modules, and the entry points of installed packages.

A user's component is a class registered with :func:`hwsim.components.register` in a module of its own
(``my_components.py``). Once that module is imported, a config names the component by its registered
type like any of hwsim's own. Two ways to have it imported:

- by its import name: ``hwsim sweep CONFIG --plugin my_components`` (repeatable; also ``hwsim train``),
  ``plugins = ["my_components"]`` at the top of a sweep file, ``hwsim.sweep(..., plugins=[...])``.
  The sweep imports them before it reads the component tables, and every worker process (local or on a
  Dask cluster) imports them before it builds a point's link, so each module must be importable
  wherever a point runs (on ``PYTHONPATH``, or installed; on a Dask cluster, on every worker). The
  names are recorded in the run's manifest and are part of the config's identity;
- by an installed package's entry point in the group :data:`GROUP` (``hwsim.components``), which is
  loaded once per process, on the first lookup in the registry: each entry point names a module to
  import (``my_components``) or a callable to call (``my_components:register_all``)::

      [project.entry-points."hwsim.components"]
      lab = "lab_components"

A plugin that registers a name that is already taken gets the registry's error
(``a receiver called 'zf' is already registered (hwsim.receivers.linear.ZF)``).

This module is light (the standard library only; :mod:`importlib.metadata` is imported on the first
lookup), since :mod:`hwsim.components` calls it.
"""

from __future__ import annotations

import importlib
import keyword

#: The entry-point group whose entries register components.
GROUP = "hwsim.components"
#: Longest import name taken.
MAX_NAME_CHARS = 200


class PluginError(ValueError):
    """A plugin module that cannot be named or imported (a ``ValueError``: the CLI shows it as one line)."""


def check_names(modules, where: str = "plugins") -> list[str]:
    """The import names ``modules`` (a list of strings), each checked (a dotted Python identifier such as
    ``lab.receivers``), in order, each once. ``where`` names the option in errors (``--plugin``, ``plugins``)."""
    if isinstance(modules, str):
        modules = [modules]  # one name given alone
    if not isinstance(modules, (list, tuple)):
        raise PluginError(f"{where} must be a list of module names, got {type(modules).__name__}")
    out: list[str] = []
    for name in modules:
        if not _is_import_name(name):
            shown = repr(name) if not isinstance(name, str) or len(name) <= 80 else repr(name[:80]) + "..."
            raise PluginError(f"{where} {shown} is not a module's import name (a dotted Python identifier such as "
                              "my_components or lab.receivers, not a file path)")
        if name not in out:
            out.append(name)
    return out


def _is_import_name(name) -> bool:
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS:
        return False
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in name.split("."))


def merge(*lists) -> list[str]:
    """The names of several (checked) lists, in order, each once."""
    return list(dict.fromkeys(name for names in lists for name in names))


def load_plugins(modules, *, where: str = "plugins") -> list[str]:
    """Import each plugin module by its import name (what registers its components); returns the names.

    A name that is no import name, or a module that cannot be imported, is a :class:`PluginError` that
    names the module and ``where`` (the option that gave it) with the ImportError's text. Any other error
    the module raises while it is imported (a name its registration takes twice: the registry's error)
    propagates as it is. Importing a module twice is a no-op."""
    names = check_names(modules, where)
    if names:
        _import_homes()
    for name in names:
        _import(name, where)
    return names


def _import(name: str, where: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (missing == name or name.startswith(missing + ".")):
            raise PluginError(f"{where} {name!r}: cannot import the module ({exc}); it must be importable by this "
                              "Python: its folder on PYTHONPATH or the package installed (for a Dask sweep, on "
                              "every worker)") from None
        raise PluginError(f"{where} {name!r}: importing the module failed ({type(exc).__name__}: {exc})") from None
    except ImportError as exc:
        raise PluginError(f"{where} {name!r}: importing the module failed ({type(exc).__name__}: {exc})") from None
    except SyntaxError as exc:
        where_in = f" ({exc.filename}, line {exc.lineno})" if exc.filename else ""
        raise PluginError(f"{where} {name!r}: the module has a syntax error{where_in}: {exc.msg}") from None


def _import_homes() -> None:
    """Import every package of hwsim's own components first, so that a plugin taking a name one of them
    has is refused at the plugin's own registration (the error names the component it collides with)."""
    from .components import HOMES

    for home in dict.fromkeys(m for modules in HOMES.values() for m in modules):
        importlib.import_module(home)


#: Entry points loaded in this process (their ``name = value``): each is loaded once.
_LOADED: set[str] = set()
#: Whether this process has loaded its entry points (or is loading them now).
_state = {"done": False, "loading": False}


def load_entry_points() -> bool:
    """Load, once per process, every entry point of the group :data:`GROUP` (called by the registry on its
    first lookup). An entry point ``module`` is imported; ``module:attribute`` is loaded and, when callable,
    called. One that cannot be imported is a :class:`PluginError` naming it and its package (raised again
    on the next lookup, until it is fixed). Returns whether they are all loaded (False when called again
    while they load: a lookup made by one of them)."""
    if _state["done"] or _state["loading"]:
        return _state["done"]
    _state["loading"] = True
    try:
        found = _entry_points()
        if found:
            _import_homes()
        for ep in found:
            key = f"{ep.name} = {ep.value}"
            if key not in _LOADED:
                _load_entry_point(ep)
                _LOADED.add(key)
        _state["done"] = True
    finally:
        _state["loading"] = False
    return True


def _entry_points() -> list:
    from importlib.metadata import entry_points

    return sorted(entry_points(group=GROUP), key=lambda ep: (ep.name, ep.value))


def _load_entry_point(ep) -> None:
    dist = getattr(getattr(ep, "dist", None), "name", None)
    said = f"the {GROUP} entry point {ep.name} = {ep.value!r}" + (f" of the package {dist}" if dist else "")
    try:
        loaded = ep.load()
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"cannot load {said} ({type(exc).__name__}: {exc})") from None
    except SyntaxError as exc:
        raise PluginError(f"cannot load {said}: its module has a syntax error ({exc.filename}, line {exc.lineno}): "
                          f"{exc.msg}") from None
    if getattr(ep, "attr", None) and callable(loaded):
        loaded()


__all__ = ["GROUP", "PluginError", "check_names", "load_entry_points", "load_plugins", "merge"]
