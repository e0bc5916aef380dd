"""Reference ADC backend: emulates a converter bank over stdin/stdout (hwsim external backend protocol v2).

    python -m hwsim.converters.emulator --table TABLE.json      # or: python scripts/adc_emulator.py ... [--offset-lsb S] [--noise-lsb S]
                                   [--gain-error E] [--offset-error S] [--mismatch-lsb S] [--seed N]
                                   [--misbehave {crash,hang,short,out-of-range}]

It loads the table with ``hwsim.converters.tables.import_table`` (json, csv or mat), answers the
handshake (refusing a client whose level count differs from the table's), and converts
each request with ``hwsim.converters.impairments.ImpairedADC`` built for the client's ``p``
converters: static offsets and mismatch drawn once from ``numpy.random.default_rng(seed)``,
then thermal noise from the same generator, request after request. With no impairment
the codes are exactly the table's. The protocol is described in ``hwsim/backends.py``.

``--misbehave`` makes it fail on purpose, to test error handling:
``crash`` exits with status 3 right after the handshake (message on stderr); ``hang``
sleeps forever on the first request; ``short`` sends fewer bytes than asked for in its
first reply, then exits; ``out-of-range`` replies with code M in place of the first code.

stdout carries protocol bytes only; every message goes to stderr. The emulator exits when
its input closes, and a watchdog thread ends it (status 1) when its parent process ends
(it is re-parented), even in the middle of a request.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import threading
import time

MAGIC = b"HWSIMADC"
VERSION = 2
REQUEST_MAGIC, REPLY_MAGIC, END_MAGIC = b"HWRQ", b"HWRP", b"HWND"
REQUEST = struct.Struct("<4sII")     # magic, seq, n
REPLY = struct.Struct("<4sII")       # magic, seq, n
END = struct.Struct("<4sI")          # magic, seq
WATCHDOG_PERIOD = 0.2                # seconds between checks that the parent is still there
STATUS_OK, STATUS_FAILURE, STATUS_BAD_VERSION, STATUS_BAD_LEVELS, STATUS_BAD_CONVERTERS = 0, 1, 2, 3, 4
MAX_CONVERTERS = 1 << 16


def _say(msg: str) -> None:
    print(f"adc_emulator: {msg}", file=sys.stderr, flush=True)


def _read_exact(stream, n: int) -> bytes | None:
    """n bytes, or None at end of input (a partial read at the end is an error)."""
    data = stream.read(n)
    if not data:
        return None
    while len(data) < n:
        more = stream.read(n - len(data))
        if not more:
            _say(f"input ended after {len(data)} of {n} bytes")
            sys.exit(1)
        data += more
    return data


def _reply_handshake(out, status: int) -> None:
    out.write(struct.pack("<8sII", MAGIC, VERSION, status))
    out.flush()


def _watch_parent(parent: int) -> None:
    """End the process as soon as it has another parent than ``parent`` (its client has died)."""
    while True:
        time.sleep(WATCHDOG_PERIOD)
        if os.getppid() != parent:
            _say(f"parent process {parent} has ended; exiting")
            os._exit(1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", required=True, help="table file (json, csv or mat)")
    parser.add_argument("--offset-lsb", type=float, default=0.0, help="static comparator offset std, LSB")
    parser.add_argument("--noise-lsb", type=float, default=0.0, help="input-referred thermal noise std, LSB")
    parser.add_argument("--gain-error", type=float, default=0.0, help="relative gain error")
    parser.add_argument("--offset-error", type=float, default=0.0, help="offset error, LSB")
    parser.add_argument("--mismatch-lsb", type=float, default=0.0, help="per-converter threshold shift std, LSB")
    parser.add_argument("--seed", type=int, default=0, help="seed of the impairment draws (default 0)")
    parser.add_argument("--misbehave", choices=("crash", "hang", "short", "out-of-range"))
    args = parser.parse_args(argv)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), name="parent watchdog", daemon=True).start()

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    hello = _read_exact(stdin, 20)
    if hello is None:
        _say("no handshake received")
        return 1
    magic, version, p, m = struct.unpack("<8sIII", hello)
    if magic != MAGIC:
        _say(f"bad handshake magic {magic!r}")
        return 1
    if version != VERSION:
        _reply_handshake(stdout, STATUS_BAD_VERSION)
        _say(f"client speaks protocol version {version}; this emulator speaks {VERSION} (use an hwsim that "
             f"speaks version {VERSION}, or the emulator that came with your hwsim)")
        return 1
    try:
        import numpy as np

        from hwsim.converters.impairments import ImpairedADC
        from hwsim.converters.tables import import_table

        table, _ = import_table(args.table)
    except (ValueError, TypeError, OSError) as exc:
        _reply_handshake(stdout, STATUS_FAILURE)
        _say(f"cannot load the table: {exc}")
        return 1
    if m != table.n_levels:
        _reply_handshake(stdout, STATUS_BAD_LEVELS)
        _say(f"client asks for {m} levels; the table {args.table} has {table.n_levels}")
        return 1
    if not 1 <= p <= MAX_CONVERTERS:
        _reply_handshake(stdout, STATUS_BAD_CONVERTERS)
        _say(f"client asks for {p} converters; this emulator handles 1..{MAX_CONVERTERS}")
        return 1
    rng = np.random.default_rng(args.seed)
    try:
        adc = ImpairedADC(table, p, offset_lsb=args.offset_lsb, noise_lsb=args.noise_lsb, gain_error=args.gain_error,
                          offset_error=args.offset_error, mismatch_lsb=args.mismatch_lsb, rng=rng)
    except (ValueError, TypeError) as exc:
        _reply_handshake(stdout, STATUS_FAILURE)
        _say(f"bad impairment settings: {exc}")
        return 1
    _reply_handshake(stdout, STATUS_OK)

    if args.misbehave == "crash":
        _say("crashing on purpose (--misbehave crash)")
        return 3
    first = True
    while True:
        head = _read_exact(stdin, REQUEST.size)
        if head is None:
            _say("input closed without the end-of-session request")
            return 1
        magic, seq, n = REQUEST.unpack(head)
        if magic != REQUEST_MAGIC:
            _say(f"request out of step: expected magic {REQUEST_MAGIC!r}, got {magic!r} (bytes {head!r})")
            return 1
        if n == 0:
            return 0
        if first and args.misbehave == "hang":
            _say("hanging on purpose (--misbehave hang)")
            while True:
                time.sleep(3600)
        body = _read_exact(stdin, 8 * n * p)
        if body is None:
            _say("input ended inside a request")
            return 1
        z = np.frombuffer(body, dtype="<f8").reshape(n, p)
        try:
            codes = adc.encode(z, rng).astype("<i4")
        except ValueError as exc:
            _say(f"cannot convert the request: {exc}")
            return 1
        if first and args.misbehave == "out-of-range":
            codes.reshape(-1)[0] = table.n_levels
        reply = REPLY.pack(REPLY_MAGIC, seq, n) + codes.tobytes() + END.pack(END_MAGIC, seq)
        if first and args.misbehave == "short":
            stdout.write(reply[:len(reply) // 2 - 1])
            stdout.flush()
            _say("sent a short reply on purpose (--misbehave short)")
            return 0
        stdout.write(reply)
        stdout.flush()
        first = False


if __name__ == "__main__":
    sys.exit(main())
