"""Where the points of a sweep run: a local pool of worker processes, a Dask cluster, or in-process.

:func:`run_point` simulates one point from plain arguments (the study's name, ``"link"``, the system, the
point's keys, the stopping rule, its seed, the shared set-ups and the input files), so any of
them can run it; :class:`_Executor` hands the points out and yields each result as it finishes.
Every point carries the sweep's plugin modules (:mod:`hwsim.plugins`), which :func:`run_point` imports
before it builds the link, so a worker knows the user's components (on a Dask cluster each module must be
importable on every worker). Local workers are spawned processes that die with the sweep (:func:`_die_with_parent`) and leave
Ctrl-C to it (:func:`_init_worker`): an interrupt stops them at once, and the few file writes
after each point are never cut in two (:func:`_sigint_deferred`). A Dask scheduler is probed
before a client connects (:func:`_probe_scheduler`), so an address that is no scheduler is
refused within the connect timeout instead of hanging, and a cluster that has had no worker for
:data:`NO_WORKERS_TIMEOUT` seconds (``--no-workers-timeout``) stops the sweep, its finished
points kept.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import sys
import time
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

from .. import _process
from .._threads import single_threaded
from .config import Point, SweepConfig
from .folder import SweepError, point_checkpoint
from .inputs import localize
from .montecarlo import StoppingRule, run_replicas
from .. import study

#: Default seconds a Dask sweep waits while its cluster has no worker at all.
NO_WORKERS_TIMEOUT = 300.0


def run_point(study_name: str, system: dict, params: dict, rule: StoppingRule, seed, shared=None,
              files=None, plugins=(), checkpoint=None, say: bool = False) -> dict:
    """Simulate one point (runs in a worker process, on a Dask worker, or in-process); ``shared``: the
    set-ups the sweep computed once for all points (a trained network), by key, handed to the stages'
    ``prepare`` (:attr:`hwsim.pipeline.Pipeline.shared`); ``files``: the sweep's input files
    (:attr:`hwsim.engine.config.SweepConfig.files`), whose contents replace the paths in ``system`` and ``params``;
    ``plugins``: the sweep's plugin modules (:attr:`hwsim.engine.config.SweepConfig.plugins`), imported here
    before the point's link is built (a worker process, local or on a Dask cluster, has not imported them:
    each must be importable there).

    ``checkpoint``: the path stem where the point's trainings keep their state
    (:func:`hwsim.engine.folder.point_checkpoint`; None: nowhere). Each replica's set-up runs inside
    :func:`hwsim.checkpoint.checkpointing` of its own file, ``STEM.partial`` for the first and
    ``STEM.R.partial`` for replica R, so a training interrupted inside the point (Ctrl-C, a killed worker)
    resumes from its last epoch when the point runs again, and replicas already trained resume at their end;
    the files are removed when the point has its result. ``say``: print the resume lines to stderr."""
    from .montecarlo import Estimate

    if plugins:
        from ..plugins import load_plugins

        load_plugins(plugins, where="the sweep's plugin")
    system, params = localize(system, params, files)
    study.check_name(study_name)
    value = study.exact_value(system, params)
    metric = study.metric(system)
    if value is not None:
        return Estimate(metric, value, value, value, 0.0, 0, 0, 0.0, "exact").as_dict()
    replicas = study.replicas(system, params)
    states: list = []  # each replica's checkpoint, in the order run_replicas sets them up

    def setup(rng):
        if checkpoint is None:
            return study.make_link(system, params, rng, shared)
        from ..checkpoint import checkpointing

        states.append(Path(f"{checkpoint}.partial" if not states else f"{checkpoint}.{len(states)}.partial"))
        tell = (lambda line: print(f"sweep: {line}", file=sys.stderr, flush=True)) if say else None
        with checkpointing(states[-1], say=tell, keep=True):
            return study.make_link(system, params, rng, shared)

    with single_threaded():
        result = run_replicas(setup, seed, rule, metric, replicas).as_dict()
    for path in states:
        path.unlink(missing_ok=True)
    return result


def _die_with_parent(parent_pid: int) -> None:
    """Initializer of local worker processes: end this process when the sweep's process dies.

    On Linux the kernel sends SIGKILL when the parent goes (:func:`hwsim._process.die_with_parent`),
    even if the parent was SIGKILLed; elsewhere a daemon thread polls the parent pid.
    """
    if not _process.die_with_parent(parent_pid):
        _process.watch_parent(parent_pid)


def _init_worker(parent_pid: int) -> None:
    """Initializer of local worker processes: die with the sweep (:func:`_die_with_parent`) and leave
    Ctrl-C to it. A terminal sends SIGINT to the whole process group; the sweep stops its workers
    itself, so they ignore it (no traceback per worker). The sweep spawns them with SIGINT blocked,
    so one that arrives while a worker starts stays pending until it is ignored here."""
    import signal

    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextlib.contextmanager
def _sigint_deferred():
    """A Ctrl-C inside the block is raised (as ``KeyboardInterrupt``) when the block ends; the block
    is a few file writes. Only where Python's own SIGINT handler is in place in the main thread."""
    import signal
    import threading

    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    caught = []
    signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _sigint_blocked():
    """SIGINT blocked in this thread inside the block (processes started there inherit the mask);
    one that arrives meanwhile is delivered when the block ends."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _split_tcp_address(address: str) -> tuple[str, int]:
    """(host, port) of ``tcp://host:port`` or ``host:port``; a :class:`SweepError` for anything else, other
    protocols (tls, inproc, ucx, ws) included: a sweep passes no TLS security settings, and an in-process
    address names a scheduler inside another process, so neither could connect."""
    scheme, sep, rest = address.partition("://")
    if sep and scheme != "tcp":
        raise SweepError(f"--scheduler {address!r}: a sweep connects to a Dask scheduler over tcp:// only (no "
                         f"{scheme}://: it passes no TLS security settings and runs no scheduler in-process); give "
                         "tcp://HOST:PORT")
    rest = rest if sep else address
    host, sep, port = rest.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535 or "/" in host:
        raise SweepError(f"--scheduler must look like tcp://HOST:PORT (PORT in 1..65535), got {address!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


_PROBE_REQUEST = b"HWSIM-PROBE / HTTP/1.0\r\n\r\n"


def _probe_scheduler(address: str, timeout: float) -> None:
    """Check within ``timeout`` s that a Dask scheduler answers at ``address``; raise :class:`SweepError` if not.

    A Dask server greets every new connection at once with a framed handshake: an 8-byte
    little-endian length, then that many bytes (an 8-byte frame count, the frames' 8-byte lengths,
    the frames), whose first frame is a msgpack map. The whole greeting is read and checked here
    (at most 64 KiB; a scheduler's is about 60 bytes). Anything else -- silence, an HTTP server, random bytes, a
    greeting cut short or stalled, frames that do not add up or do not decode -- is reported with the
    first bytes it sent, instead of letting dask read a garbage length (a huge allocation) or wait
    forever. Only ``tcp://`` addresses are accepted (:func:`_split_tcp_address`).
    """
    hostport = _split_tcp_address(address)
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection(hostport, timeout=timeout)
    except OSError as exc:
        raise SweepError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s: {exc}") from None
    data, sent_probe, closed, need, longest = b"", False, False, 16, 1 << 16
    greet_by = deadline - timeout / 2  # a Dask server greets at once; silent until then: ask what it is
    with sock:
        while len(data) < need and not closed:
            now = time.monotonic()
            if now >= deadline:
                break
            if not data and not sent_probe and now >= greet_by:
                sent_probe = True
                with contextlib.suppress(OSError):
                    sock.sendall(_PROBE_REQUEST)
            sock.settimeout(max((deadline if data or sent_probe else greet_by) - now, 0.01))
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            closed = not chunk
            data += chunk
            if need == 16 and len(data) >= 16:
                total, nframes = struct.unpack("<QQ", data[:16])
                if not (1 <= nframes <= 1024 and 8 + 8 * nframes <= total <= longest):
                    break  # not a Dask greeting: said below
                need = 8 + total
    if need > 16:  # the start of a Dask greeting
        if len(data) < need:
            then = "closed the connection" if closed else f"sent nothing more within {timeout:g} s"
            raise SweepError(f"{address} sent the start of a Dask handshake ({len(data)} of its {need} bytes), then "
                             f"{then}: it is not a working Dask scheduler (first bytes: {data[:48]!r})")
        body = data[8:need]
        nframes = struct.unpack_from("<Q", body)[0]
        lengths = struct.unpack_from(f"<{nframes}Q", body, 8)
        first = 8 + 8 * nframes
        if first + lengths[0] <= len(body):
            try:
                import msgpack
            except ImportError:  # dask.distributed brings msgpack; without it the layout is all there is to check
                return
            try:
                header = msgpack.loads(body[first:first + lengths[0]], raw=False, strict_map_key=False)
            except Exception:  # noqa: BLE001 - any decoding error: not a greeting
                header = None
            if isinstance(header, dict):
                return
    if not data:
        what = "closed the connection" if closed else f"sent nothing within {timeout:g} s"
        raise SweepError(f"{address} accepted a connection but {what}: it is not a Dask scheduler "
                         "(a scheduler greets every client at once)")
    raise SweepError(f"{address} answered but is not a Dask scheduler (first bytes: {data[:48]!r})")


class _Executor:
    """Local process pool, Dask cluster, or in-process; each yields (point, result) as they finish."""

    def __init__(self, workers: int, scheduler: str | None, connect_timeout: float,
                 no_workers_timeout: float = NO_WORKERS_TIMEOUT):
        self.client = self.pool = None
        self.scheduler = scheduler
        self.no_workers_timeout = no_workers_timeout
        if scheduler:
            try:
                from distributed import Client
            except ImportError:
                raise SweepError("--scheduler needs dask.distributed: pip install 'hwsim[distributed]'") from None
            import threading

            start = time.monotonic()
            _probe_scheduler(scheduler, connect_timeout)
            left = max(connect_timeout - (time.monotonic() - start), 1.0)
            # dask's own timeout does not cover every read of the handshake (a server that greets and then
            # stalls hangs Client() for ever): it is made in a daemon thread, waited for at most ``left`` s,
            # and abandoned after that (a client it still makes later is closed there)
            box: dict = {}
            guard, made = threading.Lock(), threading.Event()

            def connect():
                try:
                    client = Client(scheduler, timeout=left, set_as_default=False)
                except BaseException as exc:  # noqa: BLE001 - reported below, in the sweep's thread
                    box["error"] = exc
                else:
                    with guard:
                        late = "abandoned" in box
                        if not late:
                            box["client"] = client
                    if late:
                        with contextlib.suppress(Exception):
                            client.close(timeout=1)
                finally:
                    made.set()

            threading.Thread(target=connect, name="hwsim-dask-connect", daemon=True).start()
            made.wait(left)
            with guard:
                if not made.is_set():
                    box["abandoned"] = True
            exc = box.get("error")
            if "abandoned" in box:
                raise SweepError(f"the Dask scheduler at {scheduler} did not finish the handshake within "
                                 f"{connect_timeout:g} s (--connect-timeout): it answers like a Dask server, then "
                                 "stalls (overloaded, or not a scheduler)")
            if isinstance(exc, (OSError, TimeoutError)):
                raise SweepError(f"cannot reach the Dask scheduler at {scheduler} within {connect_timeout:g} s: "
                                 f"{exc}") from None
            if exc is not None:
                if not isinstance(exc, Exception):
                    raise exc
                raise SweepError(f"the Dask scheduler at {scheduler} answered the handshake with something a Dask "
                                 f"client cannot use ({type(exc).__name__}: {exc})") from None
            self.client = box["client"]
            self.executor = self.client.get_executor(pure=False)
        elif workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = self.executor = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                initargs=(os.getpid(),))
        else:
            self.executor = None

    def _check_workers(self, since: float | None) -> float | None:
        """Time since when the Dask cluster has had no worker (None: it has some); raises past the timeout."""
        if self.client is None or not self.no_workers_timeout:
            return None
        if self.client.ncores():
            return None
        now = time.monotonic()
        if since is None:
            return now
        if now - since > self.no_workers_timeout:
            raise SweepError(f"the Dask cluster at {self.scheduler} has had no workers for "
                             f"{self.no_workers_timeout:g} s (--no-workers-timeout); finished points are kept: "
                             "start workers and rerun with --resume")
        return since

    def run(self, cfg: SweepConfig, points: list[Point], shared: dict | None = None, out=None, say: bool = False):
        """Yield ``(point, result)`` as points finish; ``result`` is the exception of a point that failed.
        ``shared``: set-ups computed once for all points (:func:`run_point`), sent with every point. ``out``:
        the run folder, where in-process and local-worker points keep their trainings' checkpoints
        (:func:`hwsim.engine.folder.point_checkpoint`; ``say``: they tell when they resume). Points on a Dask
        cluster keep none: a worker may run on another machine, which cannot reach the run folder, so a
        training there that is interrupted starts again from its first epoch."""
        def stem(p):
            return None if out is None or self.client is not None else str(point_checkpoint(out, p.key))

        args = [(cfg.study, cfg.system, p.params, cfg.stopping, cfg.point_seed(p), shared, cfg.files, cfg.plugins,
                 stem(p), say) for p in points]
        if self.executor is None:
            for p, a in zip(points, args):
                try:
                    yield p, run_point(*a)
                except Exception as exc:  # noqa: BLE001 - reported with the point, the sweep goes on
                    yield p, exc
            return
        with _sigint_blocked() if self.pool is not None else contextlib.nullcontext():  # workers start here
            pending = {self.executor.submit(run_point, *a): p for p, a in zip(points, args)}
        poll = min(1.0, self.no_workers_timeout / 4) if self.client is not None and self.no_workers_timeout else None
        idle_since = None
        while pending:
            finished, _ = wait(pending, timeout=poll, return_when=FIRST_COMPLETED)
            if not finished:
                idle_since = self._check_workers(idle_since)
                continue
            idle_since = None
            for fut in finished:
                exc = fut.exception()
                yield pending.pop(fut), exc if exc is not None else fut.result()

    def close(self, cancel: bool = False):
        """Shut the executor down; ``cancel`` (an interrupt or an error): drop queued points and stop
        the local workers at once (their running points are lost; the journal never held them)."""
        if self.pool is not None:
            procs = list((getattr(self.pool, "_processes", None) or {}).values()) if cancel else []
            for proc in procs:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    proc.terminate()
            self.pool.shutdown(wait=not cancel, cancel_futures=cancel)
            deadline = time.monotonic() + 1.0
            for proc in procs:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    proc.join(max(deadline - time.monotonic(), 0.0))
                    if proc.is_alive():
                        proc.kill()
        if self.client is not None:
            self.client.close()
