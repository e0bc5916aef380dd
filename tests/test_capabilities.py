"""Components know each other by what they can do, never by name: the rules, checked on the source.

Every registered component derives from its kind's base in :mod:`hwsim.hooks` (so every hook the
pipeline calls exists on it) and is declared by the signature of its ``__init__``; no component module
compares another stage's registered name, reads another stage's parameters to decide, or tests
another kind's concrete class.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from _declared import declared_init
from hwsim import components, hooks

ROOT = Path(__file__).resolve().parents[1]
#: Where components live.
COMPONENT_FILES = sorted([*ROOT.glob("channels/*.py"), *ROOT.glob("receivers/*.py"), *ROOT.glob("designs/*.py"),
                          *ROOT.glob("hwsim/converters/*.py"), ROOT / "hwsim" / "metrics.py",
                          ROOT / "hwsim" / "pipeline.py"])
STAGES = set(components.KINDS) | {"bank", "stage"}


def _stage_of(node) -> str | None:
    """``adc`` for ``link.adc`` / ``self.p.adc`` / ``adc`` (an expression that names a stage), else None."""
    if isinstance(node, ast.Attribute) and node.attr in STAGES:
        return node.attr
    if isinstance(node, ast.Name) and node.id in STAGES:
        return node.id
    return None


def _asks_a_name_or_params(tree) -> list[tuple[int, str]]:
    """Comparisons that decide by another stage's registered name or parameters."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        for side in [node.left, *node.comparators]:
            # link.adc.name == "none", metric.name in (...)
            if isinstance(side, ast.Attribute) and side.attr == "name" and _stage_of(side.value):
                found.append((node.lineno, f"{_stage_of(side.value)}.name"))
            # link.adc.params.get("agc") != "fixed", link.adc.params["agc"] == ...
            target = side.func.value if isinstance(side, ast.Call) and isinstance(side.func, ast.Attribute) else side
            target = target.value if isinstance(target, ast.Subscript) else target
            if isinstance(target, ast.Attribute) and target.attr == "params" and _stage_of(target.value):
                found.append((node.lineno, f"{_stage_of(target.value)}.params"))
    return found


def _concrete_classes_of_other_kinds(path: Path, tree) -> list[tuple[int, str]]:
    """``isinstance(x, C)`` where C is a registered component class of a kind the file does not define."""
    own_kinds = set()
    registered = {}
    for kind in components.KINDS:
        for name in components.names(kind):
            cls = components.lookup(kind, name)
            registered.setdefault(cls.__name__, set()).add(kind)
            for base in cls.__mro__[1:]:
                if base.__module__.startswith(("hwsim.", "channels", "receivers", "designs")) and \
                        base not in (components.Component, *hooks.BASES.values(), hooks.StageHooks):
                    registered.setdefault(base.__name__, set()).add(kind)
            if Path(inspect.getsourcefile(cls)).resolve() == path.resolve():
                own_kinds.add(kind)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance" \
                and len(node.args) == 2:
            classes = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            for c in classes:
                name = c.id if isinstance(c, ast.Name) else c.attr if isinstance(c, ast.Attribute) else None
                kinds = registered.get(name, set())
                if kinds and not kinds & own_kinds:
                    found.append((node.lineno, name))
    return found


@pytest.mark.parametrize("path", COMPONENT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_component_decides_by_another_stages_name_params_or_class(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = _asks_a_name_or_params(tree) + _concrete_classes_of_other_kinds(path, tree)
    assert not found, f"{path.relative_to(ROOT)} asks names or classes instead of capabilities: " + ", ".join(
        f"line {line}: {what}" for line, what in found)


def test_the_rule_sees_a_name_check_a_params_check_and_a_class_test(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def check_link(self, link):\n"
                   "    if link.adc.name == 'none' or link.adc.params.get('agc') != 'fixed':\n"
                   "        raise ValueError\n"
                   "    if metric.name in ('ber',):\n"
                   "        pass\n"
                   "    if isinstance(link.receiver, LMMSE):\n"
                   "        pass\n")
    tree = ast.parse(bad.read_text())
    assert sorted(w for _, w in _asks_a_name_or_params(tree)) == ["adc.name", "adc.params", "metric.name"]
    assert [w for _, w in _concrete_classes_of_other_kinds(bad, tree)] == ["LMMSE"]


@pytest.mark.parametrize("kind", components.KINDS)
def test_every_registered_component_derives_from_its_kinds_hooks_and_is_declared_by_its_signature(kind):
    for name in components.names(kind):
        cls = components.lookup(kind, name)
        assert issubclass(cls, hooks.BASES[kind]), f"{kind} {name!r} ({cls.__qualname__}) does not derive from " \
                                                   f"{hooks.BASES[kind].__qualname__}"
        declared = declared_init(cls) is not None
        assert declared or (next(k for k in cls.__mro__ if "__init__" in k.__dict__) is components.Component
                            and not cls.PARAMS), \
            f"{kind} {name!r}: parameters not declared by the signature of __init__"
        shown = inspect.signature(cls)
        assert list(shown.parameters) == list(cls.PARAMS), f"{kind} {name!r}: help() shows {shown}"


def test_register_refuses_a_class_that_does_not_derive_from_its_kinds_hooks():
    class Loose(components.Component):
        def __init__(self, *, bits: int = 2):
            pass

    with pytest.raises(TypeError, match=r"an adc must derive from hwsim.hooks.ConverterHooks"):
        components.register("adc", "loose_test_bank")(Loose)
    assert "loose_test_bank" not in components.names("adc")


def test_a_receiver_says_it_is_trainable_exactly_when_it_trains_a_model():
    for name in components.names("receiver"):
        cls = components.lookup("receiver", name)
        trains = cls.train_model is not hooks.ReceiverHooks.train_model
        assert cls.trainable == trains, f"receiver {name!r}: trainable = {cls.trainable}, train_model defined: {trains}"
    assert {"hybrid", "hil", "learned", "task_hybrid"} <= {n for n in components.names("receiver")
                                                          if components.lookup("receiver", n).trainable}
