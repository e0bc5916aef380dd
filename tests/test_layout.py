"""The architecture's import rules, read from the source: the engine imports no component and
components do not import the engine (the pipeline and the study, hwsim/study.py, are where they meet)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: import root -> folder of each component package, and the engine's
COMPONENTS = {"hwsim.channels": ROOT / "channels", "hwsim.receivers": ROOT / "receivers",
              "hwsim.designs": ROOT / "designs", "hwsim.converters": ROOT / "hwsim" / "converters"}
ENGINE = ROOT / "hwsim" / "engine"


def _from_base(node: ast.ImportFrom, package: str) -> str:
    """The absolute name of the module ``from BASE import ...`` reads (a relative BASE resolved against
    ``package``, the package the importing module is in)."""
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        parent = ".".join(parts[: len(parts) - node.level + 1])
        base = f"{parent}.{base}" if base else parent
    return base


def _imports(path: Path, package: str) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved against ``package``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, package)
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


#: import root -> folder of every package of hwsim's own: the import-cycle check reads them all.
TREES = {"hwsim": ROOT / "hwsim", "hwsim.channels": ROOT / "channels", "hwsim.receivers": ROOT / "receivers",
         "hwsim.designs": ROOT / "designs"}


def _run_on_import(tree: ast.Module):
    """The import statements a module runs when it is imported: at module level and in its classes and
    if/try/with blocks, not inside functions (an import there runs when the function is called) nor under
    ``if TYPE_CHECKING``."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(child for child in ast.iter_child_nodes(node)
                        if isinstance(child, (ast.stmt, ast.excepthandler)))


def _import_graph(trees: dict) -> dict[str, set[str]]:
    """Module -> the modules of ``trees`` (import root -> folder) it imports when it is imported.

    ``from PKG import NAME`` is an import of the module PKG.NAME where there is one, of PKG (its
    ``__init__``) otherwise. The parent packages Python imports on the way are not edges: a package's
    ``__init__`` that imports its own submodules would close a cycle with every one of them.
    """
    files = {}
    for root, folder in trees.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            files[".".join((root,) + (parts[:-1] if parts[-1] == "__init__" else parts))] = path
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in _run_on_import(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
            else:
                base = _from_base(node, package)
                deps.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names)
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (its modules in import order, the first repeated at the end), or None."""
    done, path = set(), []
    on_path: dict[str, int] = {}

    def visit(node):
        on_path[node] = len(path)
        path.append(node)
        for dep in sorted(graph[node]):
            if dep in on_path:
                return path[on_path[dep]:] + [dep]
            if dep not in done:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        del on_path[node]
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            found = visit(start)
            if found:
                return found
    return None


def test_no_import_cycles_among_hwsims_own_modules():
    """No module of hwsim imports, when it is imported, a module that imports it back (directly or through
    others). Imports inside functions are not edges: hwsim.quantizers.vq imports learned_vq (torch) only
    when FSQ is asked for, while learned_vq imports vq at module level; that is a deferred import, not a
    cycle at import time."""
    graph = _import_graph(TREES)
    assert len(graph) > 50 and "hwsim.engine.folder" in graph["hwsim.engine.sweep"]
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_sees_a_cycle(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("from .b import f\n")
    (pkg / "b.py").write_text("def f():\n    from .a import g\n")
    assert _cycle(_import_graph({"pkg": pkg})) is None  # an import inside a function runs on call
    (pkg / "b.py").write_text("import sys\nif sys:\n    from pkg import a\n")
    assert _cycle(_import_graph({"pkg": pkg})) == ["pkg.a", "pkg.b", "pkg.a"]


def test_public_names_import_without_loading_torch_until_used():
    import subprocess
    import sys

    code = ("import sys, hwsim; assert 'numpy' not in sys.modules and 'torch' not in sys.modules; "
            "assert hwsim.Link.__name__ == 'Link' and hwsim.Stopping.__name__ == 'StoppingRule'; "
            "assert callable(hwsim.simulate) and callable(hwsim.sweep); "  # the Python API, served on first use
            "import hwsim.receivers, hwsim.designs; assert 'torch' not in sys.modules; "
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
        if not cls.__module__.startswith("hwsim."):
            continue  # registered by a test or a user's module, not one of hwsim's own
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
