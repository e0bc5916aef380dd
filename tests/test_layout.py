"""The architecture's import rules, read from the source: the engine imports no component and
components do not import the engine (the pipeline and the studies are where they meet)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: import root -> folder of each component package, and the engine's
COMPONENTS = {"hwsim.channels": ROOT / "channels", "hwsim.receivers": ROOT / "receivers",
              "hwsim.designs": ROOT / "designs", "hwsim.converters": ROOT / "hwsim" / "converters"}
ENGINE = ROOT / "hwsim" / "engine"


def _imports(path: Path, package: str) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved against ``package``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def _modules(folder: Path, package: str):
    for path in sorted(folder.glob("*.py")):
        yield path, package


@pytest.mark.parametrize("package,folder", list(COMPONENTS.items()))
def test_components_do_not_import_the_engine(package, folder):
    offenders = [f"{p.name}: {m}" for p, pkg in _modules(folder, package) for m in _imports(p, pkg)
                 if m.startswith("hwsim.engine")]
    assert not offenders, offenders


def test_the_engine_imports_no_component():
    offenders = [f"{p.name}: {m}" for p, pkg in _modules(ENGINE, "hwsim.engine") for m in _imports(p, pkg)
                 if m.startswith(tuple(COMPONENTS)) or m.startswith("hwsim.pipeline")]
    assert not offenders, offenders


def test_the_rules_see_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from ..engine.montecarlo import Tally\nimport hwsim.receivers.linear\n")
    found = _imports(bad, "hwsim.converters")
    assert "hwsim.engine.montecarlo" in found and "hwsim.receivers.linear" in found


def test_public_names_import_without_loading_torch_until_used():
    import subprocess
    import sys

    code = ("import sys, hwsim.receivers, hwsim.designs; assert 'torch' not in sys.modules; "
            "from hwsim.designs import theorem3; from hwsim.receivers import HybridReceiver; "
            "assert 'torch' in sys.modules and HybridReceiver.__name__ == 'HybridReceiver'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


#: The package a user imports each kind's components from (``from hwsim.receivers import BLMMSE``).
PUBLIC_HOMES = {"source": "hwsim.channels", "channel": "hwsim.channels", "frontend": "hwsim.designs",
                "adc": "hwsim.converters", "receiver": "hwsim.receivers", "metric": "hwsim.metrics"}


@pytest.mark.parametrize("kind", sorted(PUBLIC_HOMES))
def test_every_registered_component_is_exported_by_its_package_under_its_class_name(kind):
    import importlib

    from hwsim.components import lookup, names

    home = importlib.import_module(PUBLIC_HOMES[kind])
    public = set(getattr(home, "__all__", dir(home)))
    for name in names(kind):
        cls = lookup(kind, name)
        assert getattr(home, cls.__name__, None) is cls, f"{PUBLIC_HOMES[kind]} does not export {cls.__name__} ({name!r})"
        assert cls.__name__ in public, f"{cls.__name__} is missing from {PUBLIC_HOMES[kind]}.__all__"


def test_the_component_catalogue_lists_every_registered_component_with_its_parameters():
    """The guide's catalogue is generated from the registry (docs/_ext/hwsim_catalogue.py): it cannot drift."""
    from hwsim.components import KINDS, catalogue, lookup, names

    text = catalogue()
    for kind in KINDS:
        assert f".. rubric:: ``[{kind}]``" in text
        for name in names(kind):
            cls = lookup(kind, name)
            head = f"``{name}`` (:class:`{cls.__module__}.{cls.__qualname__}`)"
            assert head in text
            entry = text[text.index(head):].split("\n``", 1)[0].split("\n.. rubric::", 1)[0]
            for param in cls.PARAMS:
                assert f"``{param} = " in entry, (kind, name, param)
