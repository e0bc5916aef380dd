r"""ADC backends: where the converter codes of a simulation come from.

Every backend converts the analog values of ``p`` converters into integer codes behind one
interface::

    codes = backend.convert(z)      # z: float64 [B, p] -> int32 codes [B, p] in [0, M-1]
    backend.n_converters, backend.n_levels, backend.name
    backend.close()                 # also: ``with backend: ...``

:class:`SimulatedBackend` (the default) applies a :class:`~hwsim.converters.adc.ThresholdADC` or an
:class:`~hwsim.converters.impairments.ImpairedADC` in process. :class:`ExternalBackend` hands the
samples to another program (a bench instrument driver, an FPGA link, an RTL simulation,
or the reference emulator ``scripts/adc_emulator.py``) over its stdin/stdout.

External backend protocol, version 2
------------------------------------
All integers and floats are **little-endian**; ``u32`` is an unsigned 32-bit integer,
``f64`` an IEEE 754 double and ``i32`` a signed 32-bit integer. The client (hwsim) writes
to the program's stdin and reads its stdout; **stdout carries protocol bytes only** (debug
output belongs on stderr, which is free text, kept, and quoted in error messages).

1. Handshake. The client sends 20 bytes::

       b"HWSIMADC"  u32 version (= 2)  u32 p (converters, >= 1)  u32 M (levels, 2..65536)

   The server answers 16 bytes, with its own protocol version::

       b"HWSIMADC"  u32 version (= 2)  u32 status

   ``status`` 0 means ready; any other value is a refusal (1: server failure, e.g. its
   table could not be loaded; 2: unsupported version; 3: the server's converter has a
   different number of levels than M; 4: unsupported p), after which the server exits
   with a non-zero status and explains on stderr. Version 1 had the same handshake, so
   a version-1 server is recognised by the version it answers (whatever its status) and
   refused with a message on how to upgrade: version 1 replies carry no framing, and a
   stray print or a second reply silently shifted every later code.

2. Requests, any number, each answered before the next is sent::

       b"HWRQ"  u32 seq  u32 n (rows, >= 1)   then n*p f64 samples, row-major ([n, p], converter fastest)

   Reply, framed by a header and an end marker that both repeat the request's ``seq``::

       b"HWRP"  u32 seq  u32 n   then n*p i32 codes, row-major, each in [0, M-1]   then b"HWND"  u32 seq

   The client numbers its requests 0, 1, 2, ... modulo 2**32 (after 2**32 - 1 comes 0);
   the server copies ``seq`` and ``n`` from the request into its reply (it need not check
   them). The server reads the whole request before it replies and writes nothing else.

3. End. The client sends ``b"HWRQ" u32 seq u32 0``; the server exits with status 0
   without replying.

The client writes requests of at most :data:`MAX_REQUEST_BYTES` bytes of samples (it
splits larger batches); a server must accept any ``n >= 1``.

What the framing catches. The client checks the header (magic, ``seq``, ``n``) and the end
marker (magic, ``seq``) of every reply, and that the program has written nothing more:
right after each reply and again before each request it polls stdout with a zero timeout,
and any byte waiting there is an error. Extra bytes before a reply (a debug print) break
its header; extra bytes inside a reply move the end marker, which cannot be mistaken for
code bytes (a code is below 2**16, so two of its four bytes are zero; the marker has
none); extra bytes after a reply (a print, a second reply) are found by the polls or, if
they arrive later, by the next header. A repeated or stale reply carries the wrong
``seq``. Bytes written after the last reply of a session are not looked for.

Failures: :class:`ExternalBackend` raises :class:`BackendError` (a RuntimeError) naming the
backend when the program cannot start, refuses the handshake or speaks another version,
exits or closes its output (with its exit status and the tail of its stderr), sends a
short reply, a reply out of step (header or end marker not as expected: the message gives
the expected and received magic, seq and rows and the first bytes received) or bytes
beyond a reply, sends a code outside ``[0, M-1]`` or makes no progress for ``timeout``
seconds on a request (``start_timeout`` for the handshake). The failed program is killed,
no partial result is returned, and the backend refuses further conversions. Waiting uses
``select.poll``, so ``ExternalBackend`` needs a POSIX system.

Lifetime. On Linux the program is started with a parent-death signal
(:func:`hwsim._process.die_with_parent`): if the process that owns the backend dies, even by
SIGKILL, the program gets SIGKILL too. The kernel ties that signal to the creating *thread*,
so it is armed only when the backend is created in the main thread; a backend created in
another thread relies on the program noticing that its input closed or its parent changed
(the reference emulator watches both).
"""

from __future__ import annotations

import os
import select
import shlex
import struct
import subprocess
import tempfile
import threading
import time

import numpy as np

from .. import _checks, _process
from .adc import MAX_LEVELS, ThresholdADC

MAGIC = b"HWSIMADC"
PROTOCOL_VERSION = 2
REQUEST_MAGIC, REPLY_MAGIC, END_MAGIC = b"HWRQ", b"HWRP", b"HWND"
#: Handshake status words.
STATUS_OK, STATUS_FAILURE, STATUS_BAD_VERSION, STATUS_BAD_LEVELS, STATUS_BAD_CONVERTERS = 0, 1, 2, 3, 4
STATUS_TEXT = {STATUS_OK: "ok", STATUS_FAILURE: "server failure", STATUS_BAD_VERSION: "unsupported version",
               STATUS_BAD_LEVELS: "different number of levels",
               STATUS_BAD_CONVERTERS: "unsupported number of converters"}

#: Largest request body (samples) the client sends at once; bigger batches are split.
MAX_REQUEST_BYTES = 1 << 20

HANDSHAKE = struct.Struct("<8sIII")
HANDSHAKE_REPLY = struct.Struct("<8sII")
REQUEST = struct.Struct("<4sII")     # magic, seq, n
REPLY = struct.Struct("<4sII")       # magic, seq, n
END = struct.Struct("<4sI")          # magic, seq
SEQ_MODULUS = 1 << 32

UPGRADE_ADVICE = ("upgrade to protocol 2: answer the handshake with version 2, read each request as "
                  "b'HWRQ' u32 seq u32 n and its samples, frame each reply as b'HWRP' u32 seq u32 n, the codes, "
                  "b'HWND' u32 seq, and write nothing else to stdout (see the docstring of hwsim.converters.backends)")
_OUT_OF_STEP_HINT = ("; the program writes something other than protocol replies to its stdout "
                     "(a debug print, a second reply?) -- messages belong on stderr")
_STALE_HINT = ("; a repeated or stale reply, or a program that does not copy seq and n from the request "
               "into its reply")
_SHOWN_BYTES = 80

_STDERR_TAIL = 2000


class BackendError(RuntimeError):
    """A backend failed (crashed, hung, broke the protocol); the message names it."""


class ADCBackend:
    """Interface: ``convert(z [B, p]) -> int32 codes [B, p]``, ``n_converters``, ``n_levels``, ``name``, ``close()``."""

    name: str = "backend"
    n_converters: int
    n_levels: int

    def convert(self, z) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Release the backend (idempotent)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_input(self, z) -> np.ndarray:
        z = np.ascontiguousarray(z, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != self.n_converters:
            raise ValueError(f"z must have shape [B, {self.n_converters}] (one column per converter), got {z.shape}")
        if np.isnan(z).any():
            raise ValueError("z must not contain NaN (an ADC has no code for it)")
        return z


class SimulatedBackend(ADCBackend):
    """In-process converters: a :class:`~hwsim.converters.adc.ThresholdADC` or an :class:`~hwsim.converters.impairments.ImpairedADC`.

    Parameters
    ----------
    adc : ThresholdADC or ImpairedADC
        The converter (an ImpairedADC must have ``n_converters`` converters).
    n_converters : int
        p.
    rng : numpy.random.Generator or None
        Thermal-noise source of an ImpairedADC with ``noise_lsb > 0``.
    """

    def __init__(self, adc, n_converters: int, rng=None, *, name: str = "simulated"):
        from .impairments import ImpairedADC

        self.n_converters = _checks.integer("n_converters", n_converters, minimum=1)
        if isinstance(adc, ImpairedADC):
            if adc.n_converters != self.n_converters:
                raise ValueError(f"n_converters ({self.n_converters}) must equal the ImpairedADC's "
                                 f"n_converters ({adc.n_converters})")
            if adc.noise_lsb > 0 and rng is None:
                raise TypeError("rng must be a numpy.random.Generator for an ImpairedADC with thermal noise")
        elif not isinstance(adc, ThresholdADC):
            raise TypeError(f"adc must be a ThresholdADC or an ImpairedADC, got {type(adc).__name__}")
        if rng is not None:
            _checks.generator("rng", rng)
        self.adc = adc
        self.rng = rng
        self.n_levels = adc.n_levels
        self.name = name

    def convert(self, z) -> np.ndarray:
        """Codes (int32 [B, p]) of ``z`` (float64 [B, p])."""
        z = self._check_input(z)
        if isinstance(self.adc, ThresholdADC):
            return self.adc.encode(z)
        return self.adc.encode(z, self.rng)

    def __repr__(self) -> str:
        return f"SimulatedBackend({self.adc!r}, n_converters={self.n_converters})"


class ExternalBackend(ADCBackend):
    """Converters in another program, spoken to over its stdin/stdout (protocol in the module docstring).

    Parameters
    ----------
    command : list[str]
        Program and arguments (no shell).
    n_converters : int
        p (>= 1).
    n_levels : int
        M (2..MAX_LEVELS); the program must agree in the handshake.
    timeout : float
        Seconds a request (one chunk of at most MAX_REQUEST_BYTES) may take before the
        program is declared hung.
    name : str or None
        Name used in messages (default: the command line).
    start_timeout : float or None
        Seconds for the program to start and answer the handshake (default ``max(timeout, 30)``).
    """

    def __init__(self, command, n_converters: int, n_levels: int, timeout: float = 10.0, name: str | None = None,
                 *, start_timeout: float | None = None, cwd=None, env=None):
        if isinstance(command, (str, bytes)) or not command or not all(isinstance(c, str) for c in command):
            raise TypeError(f"command must be a non-empty list of strings (no shell), got {command!r}")
        self.command = list(command)
        self.n_converters = _checks.integer("n_converters", n_converters, minimum=1, maximum=2**31)
        self.n_levels = _checks.integer("n_levels", n_levels, minimum=2, maximum=MAX_LEVELS)
        self.timeout = _checks.real("timeout", timeout, positive=True)
        self.start_timeout = max(self.timeout, 30.0) if start_timeout is None else \
            _checks.real("start_timeout", start_timeout, positive=True)
        if name is None:
            name = shlex.join(self.command)
            name = name if len(name) <= 100 else name[:97] + "..."
        elif not isinstance(name, str):
            raise TypeError(f"name must be a string, got {name!r}")
        self.name = name
        self._broken: str | None = None
        self._proc = None
        self._next_seq = 0
        self._stderr = tempfile.TemporaryFile()
        # the parent-death signal follows the creating thread: arm it only from the main thread
        preexec = _process.parent_death_preexec() if threading.current_thread() is threading.main_thread() else None
        try:
            self._proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=self._stderr, cwd=cwd, env=env, bufsize=0, preexec_fn=preexec)
        except OSError as exc:
            self._stderr.close()
            raise BackendError(f"ADC backend {self.name!r} could not start: {exc}") from None
        self._in = self._proc.stdin.fileno()
        self._out = self._proc.stdout.fileno()
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)
        try:
            self._handshake()
        except BaseException:
            self._kill()
            self._stderr.close()
            raise

    # ------------------------------------------------------------------ low level
    def _stderr_tail(self) -> str:
        try:
            self._stderr.flush()
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, size - _STDERR_TAIL))
            tail = self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return tail

    def _fail(self, what: str, grace: float = 0.5) -> BackendError:
        """Kill the program (after ``grace`` s), mark the backend broken and build the error (exit status, stderr)."""
        status = self._kill(grace=grace)
        detail = f"ADC backend {self.name!r}: {what}"
        if status is not None:
            detail += f" (exit status {status})"
        tail = self._stderr_tail()
        if tail:
            detail += f"; its stderr ends with:\n{tail}"
        self._broken = detail
        return BackendError(detail)

    def _write_all(self, data: bytes, deadline: float, what: str) -> None:
        view = memoryview(data)
        poller = select.poll()
        poller.register(self._in, select.POLLOUT)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._fail(f"timed out after {self.timeout if what != 'handshake' else self.start_timeout:g} s "
                                 f"writing the {what} (the program does not read its input)", grace=0.0)
            events = poller.poll(max(1, int(left * 1000)))
            if not events:
                continue
            if any(ev & (select.POLLERR | select.POLLHUP) and not ev & select.POLLOUT for _, ev in events):
                raise self._fail(f"closed its input (exited or crashed) while the {what} was being sent")
            try:
                n = os.write(self._in, view)
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                raise self._fail(f"closed its input (exited or crashed) while the {what} was being sent") from None
            view = view[n:]

    def _read_exact(self, n: int, deadline: float, what: str) -> bytes:
        buf = bytearray()
        poller = select.poll()
        poller.register(self._out, select.POLLIN)
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                limit = self.start_timeout if what == "handshake reply" else self.timeout
                raise self._fail(f"timed out after {limit:g} s waiting for the {what} "
                                 f"({len(buf)} of {n} bytes received): the program hangs", grace=0.0)
            if not poller.poll(max(1, int(left * 1000))):
                continue
            try:
                chunk = os.read(self._out, min(n - len(buf), 1 << 20))
            except BlockingIOError:
                continue
            if not chunk:
                raise self._fail(f"closed its output after {len(buf)} of the {n} bytes of the {what} "
                                 "(crashed or sent a short reply)")
            buf += chunk
        return bytes(buf)

    def _waiting_bytes(self, limit: int = 4096) -> bytes:
        """Whatever the program has already written to stdout (up to ``limit`` bytes), without waiting."""
        poller = select.poll()
        poller.register(self._out, select.POLLIN)
        if not poller.poll(0):
            return b""
        try:
            return os.read(self._out, limit)
        except (BlockingIOError, OSError):
            return b""

    def _check_nothing_waiting(self, when: str) -> None:
        """Fail if the program has written bytes that no request asked for."""
        extra = self._waiting_bytes()
        if extra:
            more = "at least " if len(extra) == 4096 else ""
            raise self._fail(f"wrote {more}{len(extra)} byte{'s' if len(extra) != 1 else ''} {when}{_OUT_OF_STEP_HINT}; they begin "
                             f"{extra[:_SHOWN_BYTES]!r}")

    def _out_of_step(self, what: str, received: bytes, hint: str = _OUT_OF_STEP_HINT) -> BackendError:
        shown = (received + self._waiting_bytes(_SHOWN_BYTES))[:_SHOWN_BYTES]
        return self._fail(f"{what}{hint}; the bytes received begin {shown!r}")

    def _handshake(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        self._write_all(HANDSHAKE.pack(MAGIC, PROTOCOL_VERSION, self.n_converters, self.n_levels), deadline,
                        "handshake")
        magic, version, status = HANDSHAKE_REPLY.unpack(self._read_exact(HANDSHAKE_REPLY.size, deadline,
                                                                         "handshake reply"))
        if magic != MAGIC:
            raise self._fail(f"answered the handshake with {magic!r} instead of {MAGIC!r} "
                             "(not an hwsim ADC backend, or it writes text to stdout)")
        if version == 1:
            raise self._fail("speaks protocol version 1 (replies without framing: a stray print or a second reply "
                             "would shift every later code unnoticed); hwsim speaks version 2 only; "
                             + UPGRADE_ADVICE)
        if version != PROTOCOL_VERSION:
            raise self._fail(f"speaks protocol version {version}; hwsim speaks version {PROTOCOL_VERSION} only")
        if status != STATUS_OK:
            raise self._fail(f"refused the handshake with status {status} "
                             f"({STATUS_TEXT.get(status, 'unknown')}) for p = {self.n_converters}, "
                             f"M = {self.n_levels}")

    def _kill(self, grace: float = 0.0):
        """Stop the program (if running), reap it, close the pipes; returns its exit status or None."""
        proc = self._proc
        if proc is None:
            return None
        for f in (proc.stdin, proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        if proc.poll() is None and grace > 0:
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:  # pragma: no cover - unkillable
            pass
        self._broken = self._broken or f"ADC backend {self.name!r} is closed"
        return proc.returncode

    # ------------------------------------------------------------------ interface
    @property
    def pid(self) -> int | None:
        """Process id of the program."""
        return None if self._proc is None else self._proc.pid

    @property
    def returncode(self) -> int | None:
        """Exit status of the program once it has ended (None while it runs)."""
        return None if self._proc is None else self._proc.returncode

    def convert(self, z) -> np.ndarray:
        """Codes (int32 [B, p]) of ``z`` (float64 [B, p]) from the program; raises BackendError on any failure."""
        if self._broken:
            raise BackendError(self._broken)
        z = self._check_input(z)
        b, p = z.shape
        out = np.empty((b, p), dtype=np.int32)
        rows = max(1, MAX_REQUEST_BYTES // (8 * p))
        for start in range(0, b, rows):
            chunk = z[start:start + rows]
            n = chunk.shape[0]
            seq = self._next_seq
            self._check_nothing_waiting(f"before request {seq} was sent")
            deadline = time.monotonic() + self.timeout
            self._write_all(REQUEST.pack(REQUEST_MAGIC, seq, n) + chunk.astype("<f8", copy=False).tobytes(),
                            deadline, "request")
            self._next_seq = (seq + 1) % SEQ_MODULUS
            head = self._read_exact(REPLY.size, deadline, "reply")
            magic, got_seq, got_rows = REPLY.unpack(head)
            if magic != REPLY_MAGIC or got_seq != seq or got_rows != n:
                raise self._out_of_step(f"reply {seq} is out of step: expected a header with magic {REPLY_MAGIC!r}, "
                                        f"seq {seq}, rows {n}; got magic {magic!r}, seq {got_seq}, rows {got_rows}",
                                        head, _OUT_OF_STEP_HINT if magic != REPLY_MAGIC else _STALE_HINT)
            raw = self._read_exact(4 * n * p + END.size, deadline, "reply")
            end_magic, end_seq = END.unpack_from(raw, 4 * n * p)
            if end_magic != END_MAGIC or end_seq != seq:
                raise self._out_of_step(f"reply {seq} is out of step: expected the end marker {END_MAGIC!r} with "
                                        f"seq {seq} after {n} rows; got {end_magic!r} with seq {end_seq} (the reply "
                                        "holds more bytes than its rows)", raw[4 * n * p:])
            codes = np.frombuffer(raw, dtype="<i4", count=n * p).reshape(n, p)
            if codes.size and (codes.min() < 0 or codes.max() >= self.n_levels):
                bad = codes[(codes < 0) | (codes >= self.n_levels)][0]
                raise self._fail(f"returned code {int(bad)} outside [0, {self.n_levels - 1}] "
                                 f"(protocol violation)")
            out[start:start + n] = codes
            self._check_nothing_waiting(f"more than reply {seq} holds")
        return out

    def close(self) -> None:
        """End the session (n = 0), wait briefly for the program to exit, then kill it if needed."""
        if self._proc is None:
            return
        if self._proc.poll() is None and not self._broken:
            try:
                self._write_all(REQUEST.pack(REQUEST_MAGIC, self._next_seq, 0),
                                time.monotonic() + min(self.timeout, 2.0), "end of session")
            except BackendError:
                pass
        self._kill(grace=min(self.timeout, 2.0))
        try:
            self._stderr.close()
        except OSError:  # pragma: no cover
            pass

    def __del__(self):
        try:
            if self._proc is not None and self._proc.returncode is None:
                self._proc.kill()
                self._proc.wait(1.0)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        state = "broken" if self._broken else "open"
        return f"ExternalBackend({self.name!r}, n_converters={self.n_converters}, n_levels={self.n_levels}, {state})"
