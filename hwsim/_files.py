"""Files written whole or not at all: every output of hwsim goes through these."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would hide results from other users
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def open_own(path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` of a file a sweep owns, never through a symbolic link (``O_NOFOLLOW``): a link planted in
    the folder in place of the file is refused with ``ValueError`` naming it, instead of writing (or
    truncating) whatever it points to."""
    import errno

    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            raise ValueError(f"{path} is a symbolic link; hwsim writes its own files only, never through a link "
                             "(remove the link or choose another folder)") from None
        raise


def atomic_write_text(path, text: str) -> None:
    """Atomic write of UTF-8 text (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode())


def check_format(doc, src, fmt: str, version: int, what: str) -> None:
    """A JSON document's ``format`` must be ``fmt`` and its ``version`` ``version``; a file from a newer
    hwsim says so. ``src`` names the file and ``what`` the kind of file in the message."""
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise ValueError(f"{src} is not {what} (format {fmt!r})")
    found = doc.get("version")
    if found != version:
        newer = isinstance(found, int) and not isinstance(found, bool) and found > version
        raise ValueError(f"{src} has format version {found!r}; this hwsim reads version {version}"
                         + (" (the file comes from a newer hwsim: upgrade hwsim to read it)" if newer else ""))
