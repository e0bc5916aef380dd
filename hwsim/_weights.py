"""Reading torch files without running code from them.

Every model and checkpoint file hwsim reads goes through :func:`load_tensors`:
``torch.load(weights_only=True)`` of bytes the caller has already read, bounded in size. A
file that a weights-only load refuses (a pickle that names a function or a class, which an
ordinary ``torch.load`` would call) is refused with hwsim's own one-line message; torch's
advice to retry with ``weights_only=False`` is not passed on, since following it would run
the file's code.
"""

from __future__ import annotations

import io
import re

#: Lines of torch's weights-only error that are advice, not a description of the file.
_ADVICE = ("weights_only", "please file an issue", "check the documentation", "trusted source")


def _reason(exc: BaseException, limit: int = 200) -> str:
    """What torch found wrong with a file, in one line: its message without the advice, at most ``limit``
    characters."""
    lines = [ln.strip() for ln in str(exc).splitlines()]
    kept = [ln.removeprefix("WeightsUnpickler error:").strip() for ln in lines
            if ln and not any(a in ln.lower() for a in _ADVICE)]
    text = "; ".join(k for k in kept if k) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def load_tensors(data: bytes, src, what: str = "weight file"):
    """``torch.load`` of ``data`` (the bytes of the file ``src``, already read and bounded by the caller) with
    ``weights_only=True``, on the CPU: tensors, numbers, strings and containers of them, never code.

    A file that names a function or class to call (which only an unsafe load would run) is a ValueError
    saying so and naming it; any other failure is one saying that it is not a readable ``what``. Both
    name ``src`` and hold one line.
    """
    import pickle
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error below says it all
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        wanted = re.search(r"GLOBAL ([\w.]+)", str(exc)) if isinstance(exc, pickle.UnpicklingError) else None
        if wanted:
            raise ValueError(f"{src} is refused: it is not a {what} of tensors only, and loading it could run "
                             f"code (it asks for {wanted.group(1)}); hwsim reads model files as tensors and never "
                             "runs code from them") from None
        raise ValueError(f"{src} is not a readable {what} ({type(exc).__name__}: {_reason(exc)})") from None


__all__ = ["load_tensors"]
