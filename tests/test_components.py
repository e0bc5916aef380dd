"""Components declared by the signature of ``__init__``: the registry derives PARAMS, types, checks,
``get_params``, the repr and what ``help`` shows from it (hwsim.components)."""

from __future__ import annotations

import inspect
from typing import Literal

import pytest

from hwsim.components import Component, build, check_params, register
from hwsim.hooks import ConverterHooks


@register("adc", "test_declared_bank")
class Declared(ConverterHooks):
    """A bank declared by its signature."""

    def __init__(self, bits: int = 3, *, agc: Literal["ideal", "fixed"] = "ideal", scale: float = 1.0,
                 label: str | None = None, taps: list = (1, 2)):
        if bits > 8 and agc == "ideal":  # a check of a combination stays in the component
            raise ValueError("adc.bits above 8 needs adc.agc = \"fixed\"")
        self.body_saw = dict(bits=bits, agc=agc, scale=scale, label=label)


class Wider(Declared):
    def __init__(self, bits: int = 3, *, agc: Literal["ideal", "fixed"] = "ideal", scale: float = 1.0,
                 label: str | None = None, taps: list = (1, 2), extra: bool = False):
        super().__init__(bits, agc=agc, scale=scale, label=label, taps=taps)
        self.extra = extra


class Plain(Component):
    def __init__(self, *, k: int = 1):
        super().__init__()  # the base keeps the checked values


def test_the_signature_is_the_parameter_list():
    assert Declared.PARAMS == {"bits": 3, "agc": "ideal", "scale": 1.0, "label": None, "taps": (1, 2)}
    shown = str(inspect.signature(Declared))
    assert "bits: 'int' = 3" in shown and "agc: \"Literal['ideal', 'fixed']\" = 'ideal'" in shown
    assert "scale" in inspect.getdoc(Declared.__init__) or "scale" in str(inspect.signature(Declared.__init__))


def test_values_are_checked_and_coerced_before_the_body_runs():
    d = Declared(2, scale=2)
    assert d.body_saw == {"bits": 2, "agc": "ideal", "scale": 2.0, "label": None}
    assert isinstance(d.params["scale"], float) and d.get_params()["bits"] == 2
    assert Declared(bits=4.0).params["bits"] == 4 and isinstance(Declared(bits=4.0).params["bits"], int)
    assert repr(Declared(label="x")) == "Declared(bits=3, agc='ideal', scale=1.0, label='x', taps=(1, 2))"
    for bad, said in [({"agc": "slow"}, r"adc.agc must be one of ideal, fixed, got 'slow'"),
                      ({"bits": "3"}, "adc.bits must be an integer, got '3'"),
                      ({"bits": 2.5}, "adc.bits must be an integer, got 2.5"),
                      ({"scale": True}, "adc.scale must be a number, got True"),
                      ({"label": 3}, "adc.label must be a string or none, got 3"),
                      ({"nbits": 3}, r"adc.nbits is not a parameter of adc 'test_declared_bank' "
                                     r"\(its parameters: agc, bits, label, scale, taps\)"),
                      ({"bits": 9}, "adc.bits above 8 needs")]:
        with pytest.raises(ValueError, match=said):
            Declared(**bad)
    with pytest.raises(TypeError, match="positional"):
        Declared(2, "ideal")


def test_a_config_table_builds_it_and_get_params_rebuilds_it():
    d = build("adc", {"type": "test_declared_bank", "bits": 2, "agc": "fixed"})
    assert isinstance(d, Declared) and d.params["agc"] == "fixed"
    again = Declared(**d.get_params())
    assert again.params == d.params
    assert check_params(Declared, {"scale": 3}) == {**Declared.PARAMS, "scale": 3.0}


def test_a_subclass_and_a_base_keep_the_outermost_values():
    w = Wider(5, extra=True)
    assert w.params == {**Declared.PARAMS, "bits": 5, "extra": True} and w.extra and w.body_saw["bits"] == 5
    assert Plain(k=4).params == {"k": 4}


def test_a_declaration_the_registry_cannot_read_is_refused_at_class_creation():
    with pytest.raises(TypeError, match="needs a default"):
        class NoDefault(Component):
            def __init__(self, *, bits: int):
                pass
    with pytest.raises(TypeError, match=r"takes no \*args"):
        class Star(Component):
            def __init__(self, *args):
                pass
    with pytest.raises(TypeError, match=r"takes no \*\*kwargs"):
        class Kw(Component):
            def __init__(self, **params):
                pass
