"""Thread settings shared by the engine and the components that train (no engine import here).

torch is not imported here: a point of a link without learned components (LMMSE, BLMMSE, MAP,
uniform converters) never loads it. :func:`single_threaded` sets torch's threads only where torch is
in :data:`sys.modules`; when torch is first imported inside the block (a learned receiver built for the
point), a one-shot import hook (:class:`_LimitTorchOnImport`) sets it to one thread as soon as torch's
import finishes, so the training runs on one thread exactly as when torch was imported before the block.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import sys

#: Blocks of :func:`single_threaded` now open in this process (they nest).
_depth = 0
#: torch's own thread count at import, where torch was first imported inside a block (None: not so).
_torch_default: int | None = None


class _LoaderLimitingTorch(importlib.abc.Loader):
    """torch's own loader, which sets torch to one thread once the module has run."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        global _torch_default
        self._loader.exec_module(module)
        if _depth > 0:  # still inside a block: one thread, torch's default kept for the outermost exit
            _torch_default = module.get_num_threads()
            module.set_num_threads(1)

    def __getattr__(self, name):  # resource readers, get_code, is_package, ...: torch's loader answers
        return getattr(self._loader, name)


class _LimitTorchOnImport(importlib.abc.MetaPathFinder):
    """On ``sys.meta_path`` while a block is open and torch is not imported: finds torch with the
    finders after it and wraps its loader in :class:`_LoaderLimitingTorch`; other names pass."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "torch":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and not isinstance(spec.loader, _LoaderLimitingTorch):
                    spec.loader = _LoaderLimitingTorch(spec.loader)
                return spec
        return None


_hook = _LimitTorchOnImport()


@contextlib.contextmanager
def single_threaded():
    """One thread (numba, BLAS, torch) inside the block, restored after it.

    Points run one thread each -- parallelism comes from running points side by side -- and
    the caller's own settings come back afterwards (this matters for in-process runs). torch is
    never imported here: its threads are set when it is already imported, or as soon as something
    inside the block imports it (then the outermost block's exit gives torch back its default).
    """
    global _depth, _torch_default
    import numba
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    saved = numba.get_num_threads(), (torch.get_num_threads() if torch is not None else None)
    numba.set_num_threads(1)
    if torch is not None:
        torch.set_num_threads(1)
    elif _hook not in sys.meta_path:
        sys.meta_path.insert(0, _hook)
    _depth += 1
    try:
        with threadpool_limits(1):
            yield
    finally:
        _depth -= 1
        numba.set_num_threads(saved[0])
        if saved[1] is not None:
            torch.set_num_threads(saved[1])
        if _depth == 0:
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(_hook)
            if _torch_default is not None:  # torch arrived inside the blocks: the caller's threads back
                late = sys.modules.get("torch")
                if late is not None:
                    # Where torch shares numba's OpenMP runtime, it read that runtime's limit of one
                    # thread at import and the limit just lifted gives it the caller's count back; where
                    # it has its own runtime, the count it read at import is its own default.
                    late.set_num_threads(max(_torch_default, late.get_num_threads()))
                _torch_default = None
