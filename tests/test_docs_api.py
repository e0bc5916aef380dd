"""The API reference lists every public module: docs/api/*.rst name them in their autosummary tables.

A module left out would have no page, and the nitpicky documentation build would then fail on every
reference to it; this catches it in the test suite, before the (slow) documentation build.
"""

import importlib
import pkgutil
import re
from pathlib import Path

import hwsim

DOCS = Path(__file__).resolve().parent.parent / "docs" / "api"
PACKAGES = ("hwsim", "hwsim.channels", "hwsim.receivers", "hwsim.designs")


def _modules():
    found = []

    def walk(name):
        mod = importlib.import_module(name)
        found.append(name)
        for info in pkgutil.iter_modules(getattr(mod, "__path__", [])):
            if not info.name.startswith("_"):
                walk(f"{name}.{info.name}")

    for package in PACKAGES:
        walk(package)
    return sorted(set(found))


def _listed():
    listed = set()
    for page in DOCS.glob("*.rst"):
        listed |= set(re.findall(r"^   (hwsim[\w.]*)\s*$", page.read_text(), re.M))
    return listed


def test_every_public_module_has_an_api_page():
    missing = [m for m in _modules() if m not in _listed()]
    assert not missing, f"add these modules to an autosummary table in docs/api/*.rst: {missing}"


def test_the_api_pages_name_only_modules_that_exist():
    unknown = [m for m in _listed() if m not in _modules()]
    assert not unknown, f"docs/api/*.rst name modules that do not exist: {unknown}"
    assert hwsim.__name__ in _listed()
