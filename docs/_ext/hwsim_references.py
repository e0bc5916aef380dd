"""Cross-references that name an object where users meet it, resolved to where it is documented.

- ``hwsim.Link``, ``hwsim.designs.theorem3``, ``hwsim.receivers.BLMMSE``: packages re-export their
  components and designs; a reference through the package resolves to the object's own page (the module
  that defines it), found by importing the name.
- A short name (``Codebook``, ``RTLDesign.sample_ints``) resolves to the one documented object whose full
  name ends with it, preferring the referring module's own; an ambiguous short name still warns.
- A reference to a private helper (a name part starting with ``_``) is shown as code without a link: the
  reference documents public objects only.
- Base classes whose name starts with ``_`` (implementation helpers such as ``_DesignedBank``) are left
  out of the "Bases:" lines, which show the nearest public ancestors instead.
- The one-line comments of constants and hooks (``#: A random channel (False: a fixed one).``) are prose:
  their first line is kept from napoleon's "type: text" reading of attribute docstrings.
"""

from __future__ import annotations

import importlib


def _import(target: str):
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _private(target: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in target.split("."))


def _resolve(app, env, node, contnode, canonical):
    return _resolve_as(app, env, node, contnode, canonical, node["reftype"])


def _resolve_as(app, env, node, contnode, canonical, reftype):
    domain = env.get_domain("py")
    node = node.deepcopy()
    node["reftarget"] = canonical
    node["reftype"] = reftype
    return domain.resolve_xref(env, node.get("refdoc", ""), app.builder, reftype, canonical, node, contnode)


def _by_suffix(env, node, target=None, reftype=None):
    """The documented object of the role's kind whose full name ends with ``.target`` (the referring
    module's own first)."""
    domain = env.get_domain("py")
    target = (target or node.get("reftarget", "")).lstrip(".~")
    kinds = set(domain.objtypes_for_role(reftype or node.get("reftype", "obj")) or ())
    suffix = "." + target
    names = [name for name, entry in domain.objects.items()
             if name.endswith(suffix) and (not kinds or entry.objtype in kinds)]
    here = node.get("py:module") or ""
    if len(names) > 1 and here:
        names = [name for name in names if name.startswith(here + ".")] or names
    return names[0] if len(names) == 1 else None


def _owner(env, node):
    """An attribute or method documented in its class's text (an "Attributes" section): the class."""
    target = node.get("reftarget", "").lstrip(".~")
    if node.get("reftype") not in ("attr", "meth"):
        return None
    if "." not in target:  # an attribute of the class whose text refers to it
        here = ".".join(p for p in (node.get("py:module"), node.get("py:class")) if p)
        return here if node.get("py:class") and here in env.get_domain("py").objects else None
    parent = target.rsplit(".", 1)[0]
    if parent in env.get_domain("py").objects:
        return parent
    return _by_suffix(env, node, parent, "class")


def resolve_reference(app, env, node, contnode):
    """``missing-reference``: re-exports, short names and private helpers (module text)."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if _private(target):
        return contnode
    if not target.startswith("hwsim."):
        name = _by_suffix(env, node)
        if name:
            return _resolve(app, env, node, contnode, name)
    owner = _owner(env, node)
    if owner:
        return _resolve_as(app, env, node, contnode, owner, "class")
    if not target.startswith("hwsim."):
        return None
    obj = _import(target)
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not name or not module.startswith("hwsim"):
        return None
    canonical = f"{module}.{name}"
    if canonical == target:
        return None
    return _resolve(app, env, node, contnode, canonical)


_PROSE: dict[str, list[str]] = {}


def keep_prose(app, what, name, obj, options, lines):
    """``autodoc-process-docstring``, before napoleon: remember an attribute's text whose first line has a
    colon (napoleon would read the words before it as a type)."""
    if what in ("attribute", "data", "property") and lines and ":" in lines[0] and \
            not any(line.strip().startswith("---") for line in lines):
        _PROSE[name] = list(lines)


def restore_prose(app, what, name, obj, options, lines):
    """``autodoc-process-docstring``, after napoleon: put the remembered text back."""
    saved = _PROSE.pop(name, None)
    if saved is not None:
        lines[:] = saved


def public_bases(app, name, obj, options, bases):
    """``autodoc-process-bases``: replace private bases by their public ancestors."""
    out = []

    def add(cls):
        if cls.__name__.startswith("_"):
            for base in cls.__bases__:
                add(base)
        elif cls not in out:
            out.append(cls)

    for base in list(bases):
        if isinstance(base, type):
            add(base)
        else:
            out.append(base)
    bases[:] = [b for b in out if b is not object] or [object]


def setup(app):
    app.connect("missing-reference", resolve_reference)
    app.connect("autodoc-process-docstring", keep_prose, priority=400)  # napoleon's is 500
    app.connect("autodoc-process-docstring", restore_prose, priority=600)
    app.connect("autodoc-process-bases", public_bases)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
