"""Process helpers the tests share (Linux /proc): a process's children, its sweep workers, liveness."""

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
