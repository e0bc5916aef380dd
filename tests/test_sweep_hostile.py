"""Hostile tests of the sweep engine: concurrent sweeps, bad schedulers, lost workers, killed parents,
operating-system errors, damaged journals and resource bombs. Real processes, sockets and clusters."""

import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hwsim.engine.results import read_journal
from hwsim.engine.sweep import SweepError, load_config, parse_config, run_sweep

from test_sweep import _rows, _toml, tiny

ROOT = Path(__file__).resolve().parents[1]
HWSIM = [sys.executable, "-m", "hwsim.cli"]


def _slow(seed=7, **stopping):
    """``tiny`` with points of a few tenths of a second each (fixed sample counts)."""
    cfg = tiny(**{"target_errors": 10**9, "max_samples": 2_000_000, "min_samples": 0, "batch": 20_000, **stopping})
    cfg["seed"] = seed
    return cfg


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# --------------------------------------------------------------------------- item 3 / 12: one folder, two sweeps
def _race(tmp_path, configs):
    """Start one `hwsim sweep` per config into one folder at the same moment.

    The points are long (seconds each), so the sweep that gets the folder is still running when
    the other has given up; it is then killed (the journal is what must stay consistent).
    Returns (folder, winner's config, loser's pid, loser's stderr, winner's pid).
    """
    out = tmp_path / "run"
    procs = []
    for i, cfg in enumerate(configs):
        path = tmp_path / f"c{i}.toml"
        path.write_text(_toml(cfg))
        procs.append(subprocess.Popen(HWSIM + ["sweep", str(path), "--out", str(out), "--workers", "1", "--quiet"],
                                      cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    try:
        _wait_for(lambda: any(p.poll() is not None for p in procs), 120, "one sweep to give up")
        loser = next(i for i, p in enumerate(procs) if p.poll() is not None)
        winner = 1 - loser
        assert procs[winner].poll() is None, "both sweeps ended"
        _wait_for(lambda: (out / "points.jsonl").exists(), 60, "the running sweep's first point")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    err = procs[loser].communicate(timeout=60)[1]
    procs[winner].communicate(timeout=60)
    assert procs[loser].returncode != 0
    return out, configs[winner], procs[winner].pid, err


def _check_one_ran(out, winner_cfg, winner_pid, loser_err):
    assert f"in use by another sweep (pid {winner_pid}" in loser_err, loser_err
    assert len(loser_err.strip().splitlines()) == 1 and "Traceback" not in loser_err
    winner = parse_config(winner_cfg)
    assert json.loads((out / "manifest.json").read_text())["config_hash"] == winner.hash
    lines = [json.loads(line) for line in (out / "points.jsonl").read_text().splitlines()]
    assert lines and {entry["config"] for entry in lines} == {winner.hash}
    keys = [entry["key"] for entry in lines]
    assert len(keys) == len(set(keys))  # no point computed twice
    assert len(read_journal(out / "points.jsonl", winner.hash)) == len(keys)


def test_two_sweeps_of_different_configs_into_one_folder_one_is_refused_naming_the_holder(tmp_path):
    out, winner, pid, err = _race(tmp_path, [_slow(seed=7, max_samples=10**7), _slow(seed=8, max_samples=10**7)])
    _check_one_ran(out, winner, pid, err)


def test_two_sweeps_of_the_same_config_into_one_folder_do_not_duplicate_work(tmp_path):
    out, winner, pid, err = _race(tmp_path, [_slow(max_samples=10**7), _slow(max_samples=10**7)])
    _check_one_ran(out, winner, pid, err)


def test_a_lock_left_by_a_killed_sweep_does_not_block_the_next(tmp_path):
    (tmp_path / "sweep.lock").write_text("999999\n")  # stale: nobody holds the flock
    run_sweep(parse_config(tiny()), tmp_path, workers=1, quiet=True, plot=False)
    assert len(_rows(tmp_path)) == 9


def test_journal_lines_of_another_config_are_refused(tmp_path):
    cfg = parse_config(tiny())
    run_sweep(cfg, tmp_path, workers=1, quiet=True, plot=False)
    journal = tmp_path / "points.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    entry = json.loads(lines[3])
    entry["config"] = "0123456789abcdef"
    journal.write_text("".join(lines[:3] + [json.dumps(entry) + "\n"]))
    with pytest.raises(SweepError, match=r"points.jsonl line 4 belongs to another sweep \(config hash 0123"):
        run_sweep(cfg, tmp_path, workers=1, quiet=True, plot=False, resume=True)
    assert read_journal(journal)  # without a hash to check against, it reads


# --------------------------------------------------------------------------- item 4: not a Dask scheduler
class _FakeServer:
    """A TCP server on 127.0.0.1 in a thread; ``respond(conn)`` handles each connection."""

    def __init__(self, respond):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.respond, self.stop = respond, threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    self.respond(conn)
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def _http(conn):
    conn.recv(4096)  # waits for a request, like any HTTP server
    conn.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nnot here\r\n")


def _random_bytes(conn):
    conn.sendall(bytes(random.Random(7).randrange(256) for _ in range(64)) + b"\xff" * 8)  # at once, nonsense
    time.sleep(1)


@pytest.mark.parametrize("respond, answer", [
    (_http, r"answered but is not a Dask scheduler \(first bytes: b'HTTP/1.0 400 Bad Request"),
    (_random_bytes, r"answered but is not a Dask scheduler \(first bytes: b['\"]"),
], ids=["http", "random-bytes"])
def test_a_scheduler_address_that_is_not_dask_fails_fast_and_says_what_answered(tmp_path, respond, answer):
    pytest.importorskip("distributed")
    with _FakeServer(respond) as server:
        t0 = time.monotonic()
        with pytest.raises(SweepError, match=f"tcp://127.0.0.1:{server.port} {answer}"):
            run_sweep(parse_config(tiny()), tmp_path, scheduler=f"tcp://127.0.0.1:{server.port}", quiet=True,
                      connect_timeout=2)
        assert time.monotonic() - t0 < 2 * 10 + 10  # a hang, not a slow machine


def test_a_silent_server_is_not_taken_for_a_scheduler(tmp_path):
    pytest.importorskip("distributed")
    with _FakeServer(lambda conn: time.sleep(2.5)) as server:
        t0 = time.monotonic()
        with pytest.raises(SweepError, match="accepted a connection but sent nothing within 2 s"):
            run_sweep(parse_config(tiny()), tmp_path, scheduler=f"tcp://127.0.0.1:{server.port}", quiet=True,
                      connect_timeout=2)
        assert time.monotonic() - t0 < 2 * 10 + 10  # a hang, not a slow machine


# --------------------------------------------------------------------------- item 7: a cluster with no workers
def test_a_cluster_with_no_workers_times_out_with_a_clear_error(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=None) as cluster:
        t0 = time.monotonic()
        with pytest.raises(SweepError, match=r"has had no workers for 1 s \(--no-workers-timeout\); finished "
                                             r"points are kept"):
            run_sweep(parse_config(tiny()), tmp_path, scheduler=cluster.scheduler_address, quiet=True,
                      no_workers_timeout=1)
        assert time.monotonic() - t0 < 60  # a hang, not a slow machine


def test_a_cluster_that_loses_its_workers_mid_sweep_stops_and_resume_finishes(tmp_path):
    distributed = pytest.importorskip("distributed")
    cfg = parse_config(_slow())
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        journal = tmp_path / "points.jsonl"

        def kill_workers():
            _wait_for(lambda: journal.exists() and journal.read_text().count("\n") >= 1, 60, "a finished point")
            for worker in list(cluster.workers.values()):
                cluster.sync(worker.close)

        killer = threading.Thread(target=kill_workers, daemon=True)
        killer.start()
        with pytest.raises(SweepError, match="has had no workers for 1 s"):
            run_sweep(cfg, tmp_path, scheduler=cluster.scheduler_address, quiet=True, plot=False,
                      no_workers_timeout=1)
        killer.join(10)
    kept = len(read_journal(journal))
    assert 1 <= kept < 9
    run_sweep(cfg, tmp_path, workers=1, quiet=True, plot=False, resume=True)
    assert len(journal.read_text().splitlines()) == 9 and len(_rows(tmp_path)) == 9


# --------------------------------------------------------------------------- item 6a: workers die with the sweep
from _procs import alive as _alive, children as _children, workers as _workers  # noqa: E402


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_sigkill_of_the_sweep_kills_its_worker_processes(tmp_path):
    path = tmp_path / "slow.toml"
    path.write_text(_toml(_slow()))
    proc = subprocess.Popen(HWSIM + ["sweep", str(path), "--out", str(tmp_path / "run"), "--workers", "2",
                                     "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(_workers(proc.pid)) >= 2, 120, "the sweep's two workers")
        children = _children(proc.pid)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # the kernel signals them at once (PR_SET_PDEATHSIG); the wait only has to outlast a loaded machine's
    # teardown of processes that hold torch (10 s was once too short with the suite and a sweep running)
    _wait_for(lambda: not any(map(_alive, children)), 60, f"the workers {sorted(children)} to die")


# --------------------------------------------------------------------------- item 8: operating-system errors
def _cli_error(capsys, args):
    from hwsim.cli import main

    code = main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_output_folders_the_os_refuses_give_one_clear_line(tmp_path, capsys):
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    line = _cli_error(capsys, ["sweep", "ber_snr", "--quick", "--out", str(loop)])
    assert f"cannot use {loop} as the output folder: Too many levels of symbolic links" in line
    line = _cli_error(capsys, ["sweep", "ber_snr", "--quick", "--out", "/dev/null"])
    assert "cannot use /dev/null as the output folder: it exists and is not a folder" in line
    # root may write through chmod 0555, so a read-only file system is /proc (and /sys)
    line = _cli_error(capsys, ["sweep", "ber_snr", "--quick", "--out", "/proc/hwsim-run"])
    assert "cannot create the output folder /proc/hwsim-run" in line
    line = _cli_error(capsys, ["sweep", "ber_snr", "--quick", "--out", "/sys/hwsim-run/x"])
    assert "cannot create the output folder /sys/hwsim-run/x" in line
    assert not any(tmp_path.iterdir()) or [p.name for p in tmp_path.iterdir()] == ["loop"]


def _can_mount_tmpfs() -> bool:
    if not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k none /mnt"], capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs a private mount namespace to make a full disk")
def test_a_full_disk_gives_one_clear_line_and_leaves_nothing_half_written(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    cfg = tmp_path / "c.toml"
    cfg.write_text(_toml(tiny()))
    script = (f"mount -t tmpfs -o size=64k none {disk} && "
              f"head -c 61440 /dev/zero > {disk}/filler && "  # one 4 KiB page left: the lock file takes it
              f"{sys.executable} -m hwsim.cli sweep {cfg} --out {disk}/run --workers 1 --quiet; "
              f"echo rc=$? >&2; ls -A {disk}/run >&2")
    r = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    lines = r.stderr.strip().splitlines()
    assert "Traceback" not in r.stderr, r.stderr
    assert lines[0] == f"hwsim sweep: error: cannot write the sweep's files in {disk}/run: No space left on " \
                       "device; finished points are kept (free the cause and rerun with --resume)", r.stderr
    assert lines[1] == "rc=2", r.stderr
    assert lines[2:] == ["sweep.lock"], r.stderr  # no temporary or half-written file


# --------------------------------------------------------------------------- item 9: damaged journals
def test_a_journal_with_a_binary_tail_resumes(tmp_path):
    cfg = parse_config(tiny())
    run_sweep(cfg, tmp_path, workers=1, quiet=True, plot=False)
    journal = tmp_path / "points.jsonl"
    good = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(good[:6]) + b"\x00" * 300 + b"\xff\xfe\n\x80garbage\n\x00\x00")
    assert len(read_journal(journal, cfg.hash)) == 6
    run_sweep(cfg, tmp_path, workers=1, quiet=True, resume=True, plot=False)
    lines = journal.read_bytes().splitlines()
    assert len(lines) == 9 and all(json.loads(line)["config"] == cfg.hash for line in lines)


def test_a_damaged_line_inside_the_journal_is_an_error_naming_the_line(tmp_path):
    cfg = parse_config(tiny())
    run_sweep(cfg, tmp_path, workers=1, quiet=True, plot=False)
    journal = tmp_path / "points.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    entry = json.loads(lines[2])
    del entry["result"]["ci_low"]
    journal.write_text("".join(lines[:2] + [json.dumps(entry) + "\n"] + lines[3:]))
    with pytest.raises(SweepError, match=r"points.jsonl line 3 is damaged but later lines are whole"):
        run_sweep(cfg, tmp_path, workers=1, quiet=True, resume=True, plot=False)
    config = tmp_path.parent / f"{tmp_path.name}.toml"
    config.write_text(_toml(tiny()))
    r = subprocess.run(HWSIM + ["sweep", str(config), "--out", str(tmp_path), "--resume"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and "line 3 is damaged" in r.stderr and "Traceback" not in r.stderr, r.stderr
    # the same damage on the last line is a torn tail: dropped and recomputed
    journal.write_text("".join(lines[:-1]) + json.dumps(entry) + "\n")
    run_sweep(cfg, tmp_path, workers=1, quiet=True, resume=True, plot=False)
    assert len(read_journal(journal, cfg.hash)) == 9 and len(journal.read_text().splitlines()) == 9


# --------------------------------------------------------------------------- item 5: resource bombs
@pytest.mark.parametrize("mutate, match", [
    (lambda c: c["grid"].update(snr_db={"start": 0, "stop": 1, "step": 1e-12}),
     r"grid.snr_db: the range .* has 1000000000001 values, more than the limit of 10000 per axis "
     r"\(hwsim.engine.config.MAX_AXIS_VALUES"),
    (lambda c: c.update(grid={"snr_db": {"start": 0, "stop": 999, "step": 1}, "rate": [float(r) for r in range(1, 101)]},
                        curves=[{"name": f"Q{i}", "receiver": "qmap", "adc": "uniform_range"} for i in range(100)]),
     r"the sweep has 10000000 points \(100 curves over the grid\), more than the limit of 100000 "
     r"\(hwsim.engine.config.MAX_POINTS"),
    (lambda c: c["curves"][1].update({"adc.rate": 1e9}), r"curve 'QMAP R=2': rate \* n = 6000000000 bits is more than "
                                                         r"the limit of 4096 \(hwsim.converters.budget.MAX_TOTAL_BITS"),
    (lambda c: c["curves"][1].update({"adc.rate": 40.0}), r"curve 'QMAP R=2': adc: 1099511627776 levels per converter "
                                                          r"is more than the limit of 65536 "
                                                          r"\(hwsim.converters.adc.MAX_LEVELS"),
    (lambda c: c["channel"].update(antennas=100_000), r"channel.antennas must be <= 4096, got 100000"),
    (lambda c: c["channel"].update(frame_len=10**9), r"channel.frame_len must be <= 1000000, got 1000000000"),
    (lambda c: c["channel"].update(antennas=4096, frame_len=10**6),
     r"channel.frame_len x channel.antennas = 4096000000 samples per frame, more than the limit of 4194304 "
     r"\(hwsim.study.MAX_FRAME_VALUES"),
    (lambda c: c["source"].update(users=100_000), r"source.users must be <= 1024, got 100000"),
    (lambda c: c["source"].update(users=13), r"exhaustive detection over 2\*\*13 = 8192 symbol vectors exceeds the "
                                             r"limit of 4096"),
    (lambda c: c.update(receiver={"type": "hybrid", "train_samples": 10**10})  # in the [receiver] table
     or c["curves"].append({"name": "learned"}),
     r"curve 'learned': receiver.train_samples must be <= 10000000, got 10000000000"),
    (lambda c: c["curves"].append({"name": "learned", "receiver": "hybrid", "receiver.hidden": 10**7}),
     r"curve 'learned': receiver.hidden must be <= 8192, got 10000000"),
], ids=["range-step-1e-12", "1e7-points", "rate-1e9", "rate-40", "antennas-1e5", "frame_len", "frame-values",
        "users-1e5", "users-13", "train_samples", "hidden"])
def test_config_resource_bombs_are_refused_quickly(mutate, match):
    cfg = tiny()
    mutate(cfg)
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=match):
        parse_config(cfg)
    assert time.monotonic() - t0 < 30  # refused before allocating (building them takes minutes)


@pytest.mark.parametrize("source, receiver, match", [
    ({"antennas": 100_000}, {}, r"source.antennas must be <= 1024, got 100000"),
    ({"tau_p": 10**6}, {}, r"source.tau_p must be <= 1024, got 1000000"),
    ({"antennas": 1000, "tau_p": 1000}, {}, r"source: 2000000 real measurements is more than the limit of 4096"),
    ({}, {"type": "learned_estimator", "train_samples": 10**9},
     r"receiver.train_samples x measurements = 240000000000 values is more than the limit"),
], ids=["antennas", "tau_p", "measurements", "train_samples"])
def test_estimation_resource_bombs_are_refused_quickly(source, receiver, match):
    cfg = {"study": "link", "seed": 1, "source": {"type": "pilots", **source},
           "receiver": {"type": "thm3", **receiver}, "metric": {"type": "mse"}, "grid": {"rate": [1.0]},
           "curves": [{"name": "estimator"}]}
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=match):
        parse_config(cfg)
    assert time.monotonic() - t0 < 30  # refused before allocating (building them takes minutes)


# --------------------------------------------------------------------------- issue 29 item 14: names on the terminal
FORGED = "a\x1b[2J\nsweep: [9/9] forged"


@pytest.mark.parametrize("target", [None, 0.5], ids=["overview", "summary-table"])
def test_curve_names_with_escape_sequences_and_newlines_reach_the_terminal_escaped(tmp_path, target):
    cfg = tiny(target_errors=10, min_samples=2000, max_samples=2000)
    cfg["grid"] = {"snr_db": [2.0, 8.0]}
    cfg["curves"] = [{"name": FORGED, "receiver": "map"}]
    text = _toml(cfg)
    if target is not None:  # the table of the SNR at the target BER, with the paper's value beside it
        text += f"[summary]\ntarget = {target}\nreference = {{ {json.dumps(FORGED)} = {json.dumps(FORGED)} }}\n"
    path = tmp_path / "c.toml"
    path.write_text(text)
    assert load_config(path).curves[0]["name"] == FORGED
    # without a terminal (pipes): one progress line per point on stderr, the summary on stdout
    r = subprocess.run(HWSIM + ["sweep", str(path), "--out", str(tmp_path / "run"), "--workers", "1"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for stream in (r.stderr, r.stdout):
        assert "\x1b" not in stream, stream
        assert not any(line.startswith("sweep: [9/9] forged") for line in stream.splitlines()), stream
    progress = [line for line in r.stderr.splitlines() if line.startswith("sweep: [")]
    assert len(progress) == 2 and all(line.startswith(r"sweep: [") and r"a\x1b[2J\nsweep: [9/9] forged | snr_db="
                                      in line for line in progress), r.stderr
    assert r"a\x1b[2J\nsweep: [9/9] forged" in r.stdout, r.stdout  # the summary names the curve, escaped


# --------------------------------------------------------------------------- issue 29 item 6: Dask handshakes
def _greeting():
    """The greeting a Dask server sends every new connection: one msgpack frame, framed."""
    import msgpack

    head = msgpack.dumps({"compression": None, "python": [3, 11, 7], "pickle-protocol": 5})
    return struct.pack("<QQQ", 8 + 8 + len(head), 1, len(head)) + head


def _stall(conn):
    """Hold the connection, sending nothing, until the client closes it (at most a minute)."""
    conn.settimeout(60)
    while conn.recv(4096):
        pass


def _greets_then_stalls(conn):
    conn.sendall(struct.pack("<QQ", 16, 1))  # 16 bytes that look like a greeting's start, then nothing
    _stall(conn)


def _garbage_frame(conn):
    conn.sendall(struct.pack("<QQQ", 8 + 8 + 40, 1, 40) + b"\xc1" * 40)  # framed, but no msgpack
    _stall(conn)


def _two_faced():
    """A whole greeting on the first connection (what the sweep's probe reads), then 16 bytes and nothing on
    the next ones (the Dask client's own)."""
    seen = []

    def respond(conn):
        seen.append(1)
        if len(seen) == 1:
            conn.sendall(_greeting())
            return
        _greets_then_stalls(conn)

    return respond


@pytest.mark.parametrize("make, answer", [
    (lambda: _greets_then_stalls, r"sent the start of a Dask handshake \(16 of its 24 bytes\), then sent nothing "
                                  r"more within 2 s: it is not a working Dask scheduler"),
    (lambda: _garbage_frame, r"answered but is not a Dask scheduler \(first bytes: b'8\\x00"),
    (_two_faced, r"did not finish the handshake within 2 s \(--connect-timeout\)"),
], ids=["greeting-then-nothing", "garbage-frame", "good-probe-then-stall"])
def test_a_scheduler_that_stalls_in_the_handshake_fails_within_the_connect_timeout(tmp_path, make, answer):
    """Every phase of connecting honours --connect-timeout: the sweep ends with one line (it hung for ever)."""
    pytest.importorskip("distributed")
    cfg = tmp_path / "c.toml"
    cfg.write_text(_toml(tiny()))
    with _FakeServer(make()) as server:
        address = f"tcp://127.0.0.1:{server.port}"
        proc = subprocess.Popen(HWSIM + ["sweep", str(cfg), "--out", str(tmp_path / "run"), "--scheduler", address,
                                         "--connect-timeout", "2"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            _, err = proc.communicate(timeout=50)  # 3 x the timeout, and the start-up of a loaded machine
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 2 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and re.match(rf"hwsim sweep: error: (the Dask scheduler at )?{re.escape(address)} {answer}",
                                        lines[0]), err
    assert not (tmp_path / "run" / "points.jsonl").exists()


def test_a_real_greeting_passes_the_probe():
    pytest.importorskip("distributed")
    from hwsim.engine.sweep import _probe_scheduler

    def greet(conn):
        conn.sendall(_greeting())

    with _FakeServer(greet) as server:
        _probe_scheduler(f"tcp://127.0.0.1:{server.port}", 5)


@pytest.mark.parametrize("address, answer", [
    ("tls://127.0.0.1:8786", r"a sweep connects to a Dask scheduler over tcp:// only \(no tls://"),
    ("inproc://127.0.0.1/1/2", r"a sweep connects to a Dask scheduler over tcp:// only \(no inproc://"),
    ("ucx://127.0.0.1:8786", r"a sweep connects to a Dask scheduler over tcp:// only \(no ucx://"),
    ("tcp://127.0.0.1:99999", r"--scheduler must look like tcp://HOST:PORT \(PORT in 1..65535\), got "
                              r"'tcp://127.0.0.1:99999'"),
], ids=["tls", "inproc", "ucx", "port-out-of-range"])
def test_scheduler_addresses_a_sweep_cannot_use_give_one_line(tmp_path, capsys, address, answer):
    pytest.importorskip("distributed")
    cfg = tmp_path / "c.toml"
    cfg.write_text(_toml(tiny()))
    t0 = time.monotonic()
    line = _cli_error(capsys, ["sweep", str(cfg), "--out", str(tmp_path / "run"), "--scheduler", address,
                               "--connect-timeout", "2"])
    assert re.search(answer, line), line
    assert time.monotonic() - t0 < 2 * 10 + 10
