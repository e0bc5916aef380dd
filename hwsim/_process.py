"""Child processes that do not outlive their parent.

:func:`die_with_parent` asks the Linux kernel to signal the calling process when its parent
ends (``prctl(PR_SET_PDEATHSIG)``), so a helper program or a worker does not run on, orphaned,
after its owner was killed (SIGKILL, the OOM killer, a batch-system time limit). Use it

- at the start of a worker process: ``die_with_parent(parent_pid)`` with the parent's pid
  passed down (e.g. in ``initargs``), or ``die_with_parent()``;
- as ``preexec_fn`` of :class:`subprocess.Popen`: ``preexec_fn=parent_death_preexec()``,
  which resolves ``prctl`` before the fork and binds the parent's pid.

Two things to know about ``PR_SET_PDEATHSIG``: the "parent" is the *thread* that created the
child, so the child is also signalled when that thread ends while its process lives on
(create children from a thread that outlives them, typically the main thread); and the
setting survives ``exec`` (except into set-user-ID programs). On other systems
:func:`die_with_parent` does nothing and returns False.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1

_prctl = None   # the libc function once looked up; False where there is none


def _libc_prctl():
    """``prctl`` from the C library (looked up once), or None off Linux or without it."""
    global _prctl
    if _prctl is None:
        _prctl = False
        if sys.platform.startswith("linux"):
            import ctypes

            try:
                fn = ctypes.CDLL(None, use_errno=True).prctl
            except (OSError, AttributeError):
                pass
            else:
                fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
                fn.restype = ctypes.c_int
                _prctl = fn
    return _prctl or None


def _check_signal(sig) -> int:
    if isinstance(sig, bool) or not isinstance(sig, int) or not 1 <= int(sig) < signal.NSIG:
        raise ValueError(f"sig must be a signal number in [1, {signal.NSIG - 1}] (e.g. signal.SIGKILL), got {sig!r}")
    return int(sig)


def die_with_parent(parent_pid: int | None = None, sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send ``sig`` to this process when its parent (thread) ends; True if armed.

    Parameters
    ----------
    parent_pid : int or None
        The pid the parent had when it started this process. If the parent has already
        gone by the time the signal is armed (this process was re-parented), ``sig`` is
        sent at once. None: the parent of the moment (a parent that died before this
        call is then not noticed).
    sig : int
        Signal to receive (default SIGKILL, which cannot be caught; SIGTERM lets the
        process clean up).

    Returns False, doing nothing, where the system has no parent-death signal (not
    Linux). Safe to call between fork and exec (as ``preexec_fn``) once :func:`parent_death_preexec`
    has looked up ``prctl`` in the parent.
    """
    sig = _check_signal(sig)
    if parent_pid is not None and (isinstance(parent_pid, bool) or not isinstance(parent_pid, int)
                                   or parent_pid < 1):
        raise ValueError(f"parent_pid must be a process id (an integer >= 1) or None, got {parent_pid!r}")
    expected = os.getppid() if parent_pid is None else parent_pid
    prctl = _libc_prctl()
    if prctl is None or prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        return False
    if os.getppid() != expected:      # the parent ended before the signal was armed
        os.kill(os.getpid(), sig)
    return True


def parent_death_preexec(sig: int = signal.SIGKILL):
    """A ``preexec_fn`` for :class:`subprocess.Popen` that arms :func:`die_with_parent` in the child.

    Looks ``prctl`` up now, in the parent, and binds the parent's pid. Returns None where
    there is no parent-death signal (pass it as ``preexec_fn`` all the same).
    """
    sig = _check_signal(sig)
    if _libc_prctl() is None:
        return None
    return functools.partial(die_with_parent, os.getpid(), sig)


def watch_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Fallback where there is no parent-death signal: a daemon thread that ends this process
    (``os._exit(1)``) once its parent is no longer ``parent_pid`` (checked every ``interval`` s)."""
    if isinstance(parent_pid, bool) or not isinstance(parent_pid, int) or parent_pid < 1:
        raise ValueError(f"parent_pid must be a process id (an integer >= 1), got {parent_pid!r}")

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="hwsim-watch-parent", daemon=True).start()


def python_module(module: str) -> tuple[list[str], dict[str, str] | None]:
    """``(argv, env)`` that run ``python -m module`` of *this* hwsim in a child process, for
    :class:`subprocess.Popen` (``env`` None: inherit the environment as it is).

    ``python -m`` puts the working folder first on the import path, so a ``hwsim/`` folder there
    (planted, or a stale copy) would run instead of the installed package. The child runs with
    ``-P`` (no working folder or script folder on its path); ``PYTHONPATH`` and the site packages
    stay as they are. Only where this process itself found hwsim in the folder that ``-P`` drops
    (``python -m hwsim.cli`` from a clone that is not installed) is that folder, by its absolute
    path, put on the child's ``PYTHONPATH``: the child then imports the very package the parent runs.
    """
    argv = [sys.executable, "-P", "-m", module]
    import hwsim

    root = os.path.dirname(os.path.dirname(os.path.realpath(hwsim.__file__)))
    first = sys.path[0] if sys.path else None
    if first is None or os.path.realpath(first or os.curdir) != root:
        return argv, None
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return argv, env
