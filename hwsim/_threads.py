"""Thread settings shared by the engine and the components that train (no engine import here)."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def single_threaded():
    """One thread (numba, BLAS, torch) inside the block, restored after it.

    Points run one thread each -- parallelism comes from running points side by side -- and
    the caller's own settings come back afterwards (this matters for in-process runs).
    """
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    saved = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        numba.set_num_threads(saved[0])
        torch.set_num_threads(saved[1])
