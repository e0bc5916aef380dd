"""Process helpers the tests share: a process's children, its sweep workers, liveness (Linux /proc), and
a Ctrl-C sent the way a terminal sends it."""

import os
import signal
import time
from pathlib import Path


def children(pid: int) -> set[int]:
    """The child processes of ``pid`` (every thread's children)."""
    out = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def workers(pid: int) -> set[int]:
    """The multiprocessing worker processes (``spawn_main``) among the children of ``pid``."""
    out = set()
    for child in children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.add(child)
        except OSError:
            pass
    return out


def alive(pid: int) -> bool:
    """The process exists and is neither a zombie nor dead."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def with_ctrl_c():
    """``preexec_fn`` that gives the child the default SIGINT disposition: a process started by a
    shell in the background (``pytest ... &``, ``nohup``) inherits SIGINT ignored, and Python then
    leaves it ignored, so a Ctrl-C test would wait for the whole run instead of testing it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(proc, group: bool = True) -> float:
    """Send SIGINT to ``proc`` (``group``: to its whole process group, what a terminal's Ctrl-C does),
    wait for it to end, and return the seconds that took."""
    t0 = time.monotonic()
    if group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGINT)
    proc.wait(timeout=30)
    return time.monotonic() - t0
