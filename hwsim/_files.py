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
    check_version(doc.get("version"), version, src)


def check_version(found, version: int, src) -> None:
    """A file's format version ``found`` must be ``version``; one from a newer hwsim says so (``src`` names
    the file)."""
    if found != version:
        newer = isinstance(found, int) and not isinstance(found, bool) and found > version
        raise ValueError(f"{src} has format version {found!r}; this hwsim reads version {version}"
                         + (" (the file comes from a newer hwsim: upgrade hwsim to read it)" if newer else ""))


class InUseError(RuntimeError):
    """A lock file (:func:`take_lock`) is held by another process: ``path``, and ``holder``, the pid
    written in it (``"unknown"`` if none could be read)."""

    def __init__(self, path, holder: str):
        super().__init__(f"{path} is held by another process (pid {holder})")
        self.path, self.holder = Path(path), holder


def take_lock(path) -> int:
    """Take the exclusive lock ``path`` (a non-blocking ``flock`` on a file created there, never through
    a symbolic link, holding this process's pid); returns its file descriptor, for :func:`release_lock`.

    Raises :class:`InUseError` at once when another process holds it. The kernel drops the lock when its
    holder ends, however it ends (a killed holder leaves the file behind, never a stale lock); a lock
    file removed by :func:`release_lock` between this call's open and its lock is opened again.
    """
    import fcntl

    path = Path(path)
    for _ in range(100):
        fd = open_own(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            os.close(fd)
            raise InUseError(path, holder) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
        except FileNotFoundError:
            same = False
        if not same:  # its last holder removed it meanwhile: the lock is the file now at ``path``
            os.close(fd)
            continue
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        return fd
    raise InUseError(path, "unknown")


def release_lock(path, fd: int) -> None:
    """Remove the lock file ``path`` and release the lock ``fd`` of :func:`take_lock` (in this order: a
    process that opened the file meanwhile finds it removed and takes a new one)."""
    try:
        os.unlink(path)
    except OSError:
        pass
    os.close(fd)


def _lock_holder(fd: int) -> str:
    """The pid written in a lock file by its holder (it may be a moment behind taking the lock)."""
    import time

    deadline = time.monotonic() + 2.0
    while True:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return text
        if time.monotonic() > deadline:
            return "unknown"
        time.sleep(0.02)
