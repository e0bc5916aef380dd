"""ADC backends over real pipes: scripts/adc_emulator.py behind ExternalBackend (hwsim.converters.backends)."""

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hwsim.converters.adc import ThresholdADC, UniformADC
from hwsim.converters.backends import MAX_REQUEST_BYTES, BackendError, ExternalBackend, SimulatedBackend
from hwsim.converters.impairments import ImpairedADC
from hwsim.converters.tables import export_table

pytestmark = pytest.mark.skipif(os.name != "posix", reason="ExternalBackend needs POSIX pipes and poll")

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261126
P = 4


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)   # the emulator is started as scripts/adc_emulator.py


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(SEED)
    adc = ThresholdADC(np.sort(rng.uniform(-2, 2, size=15)), rng.normal(size=16))
    path = tmp_path_factory.mktemp("table") / "table.json"
    export_table(adc, path, "json")
    return adc, path


def _emulator(path, *extra):
    return [sys.executable, "scripts/adc_emulator.py", "--table", str(path), *map(str, extra)]


def _zombie_children():
    """Our child processes that have exited but were never reaped."""
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] == "Z":
            found.append(int(entry))
    return found


def _inputs(adc, b, seed=SEED):
    z = np.random.default_rng(seed).normal(scale=1.5, size=(b, P))
    z[: adc.n_levels - 1, 0] = adc.thresholds
    z[: adc.n_levels - 1, 1] = np.nextafter(adc.thresholds, -np.inf)
    z[0, 2], z[1, 2] = -np.inf, np.inf
    return z


def test_external_codes_equal_simulated_codes(table):
    adc, path = table
    b = 3 * MAX_REQUEST_BYTES // (8 * P) + 123    # several requests
    z = _inputs(adc, b)
    sim = SimulatedBackend(adc, P)
    with ExternalBackend(_emulator(path), P, adc.n_levels, timeout=20.0, name="emulator") as ext:
        assert ext.n_converters == P and ext.n_levels == adc.n_levels and ext.name == "emulator"
        codes = ext.convert(z)
        assert codes.dtype == np.int32 and codes.shape == (b, P)
        np.testing.assert_array_equal(codes, sim.convert(z))
        np.testing.assert_array_equal(codes, adc.encode(z))
        np.testing.assert_array_equal(ext.convert(z[:1]), adc.encode(z[:1]))   # one row
        assert ext.convert(np.empty((0, P))).shape == (0, P)                     # nothing to send
        pid = ext.pid
    assert ext.returncode == 0      # n = 0 ended the session and the server exited cleanly
    assert pid not in _zombie_children()
    with pytest.raises(BackendError, match="emulator"):
        ext.convert(z[:2])
    ext.close()                     # idempotent


def test_impaired_emulator_matches_the_simulated_impaired_adc(table):
    adc, path = table
    z = _inputs(adc, 2 * MAX_REQUEST_BYTES // (8 * P) + 7, seed=SEED + 1)
    rng = np.random.default_rng(7)
    sim = SimulatedBackend(ImpairedADC(adc, P, offset_lsb=0.3, noise_lsb=0.5, mismatch_lsb=0.2, rng=rng), P, rng=rng)
    cmd = _emulator(path, "--offset-lsb", 0.3, "--noise-lsb", 0.5, "--mismatch-lsb", 0.2, "--seed", 7)
    with ExternalBackend(cmd, P, adc.n_levels, timeout=20.0) as ext:
        first = ext.convert(z)
        np.testing.assert_array_equal(first, sim.convert(z))
        assert (first != adc.encode(z)).mean() > 0.05     # the impairments did something
        np.testing.assert_array_equal(ext.convert(z[:100]), sim.convert(z[:100]))   # the noise stream goes on


@pytest.mark.parametrize("mode, match", [
    ("crash", r"(?s)exit status 3.*crashing on purpose"),
    ("hang", r"(?s)timed out after 2 s.*hanging on purpose"),
    ("short", r"(?s)closed its output after \d+ of the \d+ bytes.*short reply on purpose"),
    ("out-of-range", r"returned code 16 outside \[0, 15\]"),
])
@pytest.mark.parametrize("rows", [20, 100_000])   # a small request, and one larger than a pipe buffer
def test_misbehaving_backend_raises_backend_error(table, mode, match, rows):
    adc, path = table
    z = _inputs(adc, rows)
    name = f"bench-{mode}"
    ext = ExternalBackend(_emulator(path, "--misbehave", mode), P, adc.n_levels, timeout=2.0, name=name)
    start = time.monotonic()
    with pytest.raises(BackendError, match=match) as info:
        ext.convert(z)
    elapsed = time.monotonic() - start
    assert isinstance(info.value, RuntimeError)
    assert str(info.value).startswith(f"ADC backend {name!r}:")
    # bounds that catch a hang (forever without the 2 s timeout) with room for a loaded machine
    assert elapsed < (30.0 if mode == "hang" else 60.0)
    # the program is gone and reaped; the backend refuses further work; no partial result
    assert ext.returncode is not None
    with pytest.raises(BackendError, match=name):
        ext.convert(z[:1])
    ext.close()
    assert _zombie_children() == []


def test_handshake_refusals_and_bad_programs(table):
    adc, path = table
    with pytest.raises(BackendError, match=r"refused the handshake with status 3 \(different number of levels\)"):
        ExternalBackend(_emulator(path), P, 8)
    with pytest.raises(BackendError, match=r"(?s)status 1 .*cannot load the table"):
        ExternalBackend(_emulator(path.with_name("missing.json")), P, 16)
    with pytest.raises(BackendError, match="'no-such-program' could not start"):
        ExternalBackend(["/nonexistent/adc-server"], P, 16, name="no-such-program")
    with pytest.raises(BackendError, match=r"instead of b'HWSIMADC'"):
        ExternalBackend([sys.executable, "-c", "import sys; sys.stdin.buffer.read(20); print('hello there, world')"],
                        P, 16, name="chatty")
    with pytest.raises(BackendError, match=r"closed its output after 0 of the 16 bytes.*exit status 5"):
        ExternalBackend([sys.executable, "-c", "import sys; sys.exit(5)"], P, 16)
    with pytest.raises(BackendError, match=r"timed out after 1 s waiting for the handshake reply"):
        ExternalBackend([sys.executable, "-c", "import time; time.sleep(60)"], P, 16, start_timeout=1.0)
    assert _zombie_children() == []


def test_bad_input_is_a_value_error_and_the_backend_stays_usable(table):
    adc, path = table
    with ExternalBackend(_emulator(path), P, adc.n_levels) as ext:
        with pytest.raises(ValueError, match=r"shape \[B, 4\]"):
            ext.convert(np.zeros((3, 2)))
        with pytest.raises(ValueError, match="NaN"):
            ext.convert(np.full((2, P), np.nan))
        np.testing.assert_array_equal(ext.convert(np.zeros((2, P))), adc.encode(np.zeros((2, P))))
    with pytest.raises(TypeError, match="command must be a non-empty list"):
        ExternalBackend("python scripts/adc_emulator.py", P, 16)
    with pytest.raises(ValueError, match="n_levels must be <= 65536"):
        ExternalBackend(_emulator(path), P, 2**31)
    with pytest.raises(ValueError, match="timeout must be > 0"):
        ExternalBackend(_emulator(path), P, 16, timeout=0)


def test_simulated_backend():
    table = UniformADC(8, 2.0)
    z = np.random.default_rng(SEED).normal(size=(1000, 3))
    with SimulatedBackend(table, 3) as sim:
        np.testing.assert_array_equal(sim.convert(z), table.encode(z))
        assert sim.n_levels == 8 and sim.n_converters == 3
        with pytest.raises(ValueError, match=r"shape \[B, 3\]"):
            sim.convert(z[:, :2])
    noisy = ImpairedADC(table, 3, noise_lsb=1.0)
    a = SimulatedBackend(noisy, 3, rng=np.random.default_rng(1)).convert(z)
    b = SimulatedBackend(noisy, 3, rng=np.random.default_rng(1)).convert(z)
    np.testing.assert_array_equal(a, b)
    assert (a != table.encode(z)).any()
    with pytest.raises(TypeError, match="rng must be"):
        SimulatedBackend(noisy, 3)
    with pytest.raises(ValueError, match="must equal the ImpairedADC's n_converters"):
        SimulatedBackend(noisy, 2, rng=np.random.default_rng(1))
    with pytest.raises(TypeError, match="adc must be"):
        SimulatedBackend([0.0], 3)


# ---------------------------------------------------------------------- hostile backends (protocol framing)
# A small backend written for these tests. It answers the handshake with the client's own version (so it
# runs against any client) and frames its replies when that version is >= 2; MODE adds one fault.
HOSTILE_SERVER = r'''
import struct, sys
MODE = sys.argv[1]
inp, out = sys.stdin.buffer, sys.stdout.buffer

def read(n):
    data = b""
    while len(data) < n:
        more = inp.read(n - len(data))
        if not more:
            sys.exit(0)
        data += more
    return data

magic, version, p, m = struct.unpack("<8sIII", read(20))
speak = 1 if MODE.startswith("v1") else version
if MODE == "v1" and version != 1:           # what the version-1 emulator did: refuse, status 2
    out.write(struct.pack("<8sII", magic, 1, 2))
    out.flush()
    print(f"client speaks protocol version {version}; this server speaks 1", file=sys.stderr)
    sys.exit(1)
out.write(struct.pack("<8sII", magic, speak, 0))
out.flush()
while True:
    if speak >= 2:
        _, seq, n = struct.unpack("<4sII", read(12))
    else:
        (n,), seq = struct.unpack("<I", read(4)), 0
    if n == 0:
        sys.exit(0)
    z = struct.unpack(f"<{n * p}d", read(8 * n * p))
    codes = struct.pack(f"<{n * p}i", *(min(m - 1, max(0, int(v // 1) + m // 2)) for v in z))
    head = tail = b""
    if speak >= 2:
        rseq = (seq + 1) & 0xFFFFFFFF if MODE == "wrong-seq" else seq
        head = struct.pack("<4sII", b"HWRP", rseq, n - 1 if MODE == "wrong-rows" else n)
        tail = struct.pack("<4sI", b"HWND", rseq)
    if MODE == "stray-before":
        print(f"debug: converting {n} rows", flush=True)
    out.write(head)
    out.flush()
    if MODE == "stray-middle":
        print("debug", flush=True)
    out.write(codes + tail)
    out.flush()
    if MODE == "stray-after":
        print("debug: done", flush=True)
    if MODE == "stray-newline":
        print(flush=True)
    if MODE == "double":
        out.write(head + codes + tail)
        out.flush()
'''


def _hostile(tmp_path, mode):
    script = tmp_path / "hostile_server.py"
    script.write_text(HOSTILE_SERVER)
    return [sys.executable, str(script), mode]


_OUT_OF_STEP = r"(out of step|more than reply \d+ holds|before request \d+ was sent)"


@pytest.mark.parametrize("mode, match", [
    ("stray-before", r"reply 0 is out of step: expected a header with magic b'HWRP', seq 0, rows 20; "
                     r"got magic b'debu'.*the bytes received begin b'debug: conve"),
    ("stray-middle", r"reply 0 is out of step: expected the end marker b'HWND' with seq 0 after 20 rows"),
    ("stray-after", _OUT_OF_STEP + r".*debug: done"),
    ("stray-newline", _OUT_OF_STEP + r".*b'\\n"),
    ("double", _OUT_OF_STEP),
    ("wrong-seq", r"reply 0 is out of step: expected a header with magic b'HWRP', seq 0, rows 20; "
                  r"got magic b'HWRP', seq 1, rows 20"),
    ("wrong-rows", r"reply 0 is out of step: .* seq 0, rows 20; got magic b'HWRP', seq 0, rows 19"),
])
def test_backend_out_of_step_is_refused_and_never_returns_wrong_codes(tmp_path, mode, match):
    rng = np.random.default_rng(SEED)
    name = f"hostile-{mode}"
    ext = ExternalBackend(_hostile(tmp_path, mode), P, 16, timeout=5.0, name=name)
    try:
        with pytest.raises(BackendError, match=match) as info:
            for _ in range(3):      # a fault may be seen on the request after the one that caused it ...
                z = rng.uniform(-8.0, 8.0, size=(20, P))
                expected = np.clip(np.floor(z).astype(np.int64) + 8, 0, 15)
                np.testing.assert_array_equal(ext.convert(z), expected)   # ... but no wrong code gets out
        assert str(info.value).startswith(f"ADC backend {name!r}: ")
        assert ext.returncode is not None
        with pytest.raises(BackendError, match=name):
            ext.convert(np.zeros((1, P)))
    finally:
        ext.close()
    assert _zombie_children() == []


@pytest.mark.parametrize("mode", ["v1", "v1-lax"])
def test_version_1_server_is_refused_with_upgrade_advice(tmp_path, mode):
    with pytest.raises(BackendError, match=r"speaks protocol version 1 .*upgrade to protocol 2: .*HWRP") as info:
        ExternalBackend(_hostile(tmp_path, mode), P, 16, name="old-bench")
    assert str(info.value).startswith("ADC backend 'old-bench': ")
    assert _zombie_children() == []


def test_sequence_numbers_wrap_around(table):
    adc, path = table
    z = _inputs(adc, 50)
    with ExternalBackend(_emulator(path), P, adc.n_levels) as ext:
        ext._next_seq = 2**32 - 2      # white box: start just below the wrap
        for _ in range(4):
            np.testing.assert_array_equal(ext.convert(z), adc.encode(z))
        assert ext._next_seq == 2
    assert ext.returncode == 0


# ---------------------------------------------------------------------- the program dies with its client
CLIENT = r'''
import json, sys, threading, time
import numpy as np
from hwsim.converters.backends import ExternalBackend

command, where, busy_text = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
made = {}

def make():
    made["ext"] = ExternalBackend(command, 4, 16, timeout=600.0, name="orphan candidate")

if where == "main":
    make()
else:                              # made in a thread that has ended before the backend is used
    worker = threading.Thread(target=make)
    worker.start()
    worker.join()
ext = made["ext"]
if busy_text:                      # a request in flight that the program never answers
    threading.Thread(target=ext.convert, args=(np.zeros((5, 4)),), daemon=True).start()
    while busy_text not in ext._stderr_tail():
        time.sleep(0.01)
print(ext.pid, flush=True)
time.sleep(600)
'''

DEAF_SERVER = r'''
import struct, sys, time
magic, version, p, m = struct.unpack("<8sIII", sys.stdin.buffer.read(20))
sys.stdout.buffer.write(struct.pack("<8sII", magic, version, 0))
sys.stdout.buffer.flush()
print("deaf: ignoring my input", file=sys.stderr, flush=True)
time.sleep(600)
'''


def _gone(pid):
    """True once ``pid`` has exited (no such process, or a zombie left to its new parent)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("program, where, busy_text", [
    ("emulator", "main", ""),                        # idle: it sees its input close
    ("emulator", "main", "hanging on purpose"),      # busy on a request when the client dies
    ("emulator", "thread", "hanging on purpose"),    # ... and made in a thread that has ended
    ("deaf", "main", "ignoring my input"),           # a program that never reads its input again
])
def test_backend_program_dies_with_its_killed_client(table, tmp_path, program, where, busy_text):
    import json
    import signal
    import subprocess

    _, path = table
    if program == "emulator":
        command = [sys.executable, "-m", "hwsim.converters.emulator", "--table", str(path)]
        if busy_text:
            command += ["--misbehave", "hang"]
    else:
        (tmp_path / "deaf.py").write_text(DEAF_SERVER)
        command = [sys.executable, str(tmp_path / "deaf.py")]
    client = subprocess.Popen([sys.executable, "-c", CLIENT, json.dumps(command), where, busy_text],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = None
    try:
        line = client.stdout.readline()
        assert line.strip().isdigit(), f"client failed: {line!r} {client.stderr.read() if client.poll() else ''}"
        pid = int(line)
        assert not _gone(pid)
        client.send_signal(signal.SIGKILL)
        client.wait(10)
        deadline = time.monotonic() + 5.0
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _gone(pid), f"the backend program {pid} outlived its SIGKILLed client"
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(10)
        client.stdout.close()
        client.stderr.close()
        if pid is not None and not _gone(pid):
            os.kill(pid, signal.SIGKILL)   # leave nothing behind when the test fails


def test_die_with_parent_arguments():
    import signal

    from hwsim._process import die_with_parent, parent_death_preexec

    with pytest.raises(ValueError, match="sig must be a signal number"):
        die_with_parent(sig=0)
    with pytest.raises(ValueError, match="parent_pid must be a process id"):
        die_with_parent(parent_pid=-3)
    with pytest.raises(ValueError, match="sig must be a signal number"):
        parent_death_preexec(sig="KILL")
    if sys.platform.startswith("linux"):
        assert callable(parent_death_preexec(signal.SIGTERM))


# ------------------------------------------------------------------ issue 29 item 5: code of the working folder
def test_the_reference_emulator_of_a_link_never_imports_code_from_the_working_folder(tmp_path, monkeypatch):
    """A hil link's external converters start the reference emulator as a module; a ``hwsim`` package in the
    working folder (planted) must not be what runs there."""
    from hwsim.engine.results import read_results
    from hwsim.engine.sweep import parse_config, run_sweep

    planted, marker = tmp_path / "cwd", tmp_path / "planted-code-ran"
    (planted / "hwsim" / "converters").mkdir(parents=True)
    (planted / "hwsim" / "__init__.py").write_text("")
    (planted / "hwsim" / "converters" / "__init__.py").write_text("")
    (planted / "hwsim" / "converters" / "emulator.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit(3)\n")
    cfg = {"study": "link", "seed": 3,
           "source": {"type": "users", "users": 2, "constellation": "bpsk"},
           "channel": {"type": "exponential", "antennas": 4, "frame_len": 20},
           "adc": {"type": "none"},
           "receiver": {"type": "hil", "converters": "external", "rate": 1.0, "train_samples": 400,
                        "epochs": 2, "hidden": 8, "train_snr_db": 8.0},
           "metric": {"type": "ber"},
           "grid": {"snr_db": [8.0]},
           "curves": [{"name": "external emulator"}],
           "stopping": {"target_errors": 10, "min_samples": 2000, "max_samples": 2000, "batch": 1000}}
    monkeypatch.chdir(planted)
    run_sweep(parse_config(cfg), tmp_path / "run", workers=1, quiet=True, plot=False)
    assert not marker.exists(), "the planted hwsim/converters/emulator.py ran"
    (row,) = read_results(tmp_path / "run" / "results.csv")
    assert row["curve"] == "external emulator" and 0 <= float(row["ber"]) < 0.5
