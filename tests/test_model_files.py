"""``receiver.model`` files are checked whole when the config loads (issue 29, item 13).

A malicious pickle, a tampered sidecar or a model of a newer hwsim, given as ``receiver.model`` to any
receiver that loads one (``hil``, ``learned``, ``task_hybrid``), is refused by
:func:`hwsim.engine.sweep.parse_config` with hwsim's own message naming ``receiver.model`` and the file,
and by ``hwsim sweep`` in one line before the sweep's folder gets a manifest. Nothing in the file runs.
The models here are untrained networks of a few weights, saved by hwsim's own writers (no training).

One model-file format (issue 26, item 5): every learned model that saves (``SAVING``) writes
:mod:`hwsim.model_files`'s payload and sidecar, files written before still load, and a truncated, oversized or
foreign file is refused by each kind's loader in one line naming the file.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hwsim.engine.sweep import parse_config
from hwsim.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]

LINKS = {
    "hil": {"source": {"type": "users", "users": 2, "constellation": "bpsk"},
            "channel": {"type": "exponential", "antennas": 4, "frame_len": 10},
            "adc": {"type": "none"}, "receiver": {"type": "hil", "rate": 1.0}},
    "learned": {"source": {"type": "users", "users": 2, "constellation": "qpsk"},
                "channel": {"type": "rayleigh", "antennas": 4, "frame_len": 10},
                "adc": {"type": "uniform", "bits": 1, "agc": "ideal"},
                "receiver": {"type": "learned", "layers": 2, "search": 1}},
    "task_hybrid": {"source": {"type": "users", "users": 2, "constellation": "qpsk"},
                    "channel": {"type": "rayleigh", "antennas": 4, "frame_len": 10},
                    "adc": {"type": "none"}, "receiver": {"type": "task_hybrid", "outputs": 2, "bits": 1}},
}


def _save(kind: str, path: Path) -> None:
    """An untrained model of receiver ``kind`` for the link ``LINKS[kind]``, saved as hwsim saves one."""
    torch.manual_seed(0)
    link = Pipeline.from_tables({k: dict(v) for k, v in LINKS[kind].items()})
    if kind == "hil":
        from hwsim.receivers.hybrid import HybridReceiver, TrainedReceiver

        b = link.receiver.budget(link)
        model = HybridReceiver(link.channel.antennas, b.p, b.levels, 2**link.source.users, hidden=4)
        TrainedReceiver(model=model, config={"channel": link.channel.params}, seed=0).save(path)
    elif kind == "learned":
        from hwsim.receivers import learned_detector as ld

        arch = ld.Arch.for_link(link, 2, 1).check()
        ld.save_detector(ld.TrainedDetector(net=ld._network(arch), arch=arch, link=ld.link_spec(link), training={},
                                            seed=0), path)
    else:
        from hwsim.receivers import task_hybrid as th

        _, network = th._torch()
        arch = {"users": 2, "outputs": 2, "bits": 1, "levels": 2, "mode": "soft_to_hard", "gamma": 1.0,
                "sharpness": 6.0}
        net = network(2, 2, 2, "soft_to_hard", 1.0, 6.0)
        th.TrainedTaskHybrid(net=net, arch=arch, link=th.link_spec(link), training={}, seed=0).save(path)


def _config(kind: str, model: Path) -> dict:
    tables = {k: dict(v) for k, v in LINKS[kind].items()}
    tables["receiver"]["model"] = str(model)
    return {"study": "link", "seed": 1, **tables, "metric": {"type": "ber"}, "grid": {"snr_db": [4.0, 8.0]},
            "curves": [{"name": "rx"}],
            "stopping": {"target_errors": 1, "min_samples": 200, "max_samples": 200, "batch": 100}}


def _toml(cfg: dict) -> str:
    def value(v):
        return json.dumps(v)  # strings, numbers, booleans and lists of them read the same in TOML

    lines = [f"{k} = {value(v)}" for k, v in cfg.items() if not isinstance(v, (dict, list))]
    for name, table in cfg.items():
        if isinstance(table, dict):
            lines += [f"[{name}]", *(f"{k} = {value(v)}" for k, v in table.items())]
    for curve in cfg["curves"]:
        lines += ["[[curves]]", *(f"{k} = {value(v)}" for k, v in curve.items())]
    return "\n".join(lines) + "\n"


class Planted:
    """Unpickled, it would run code that writes the file ``marker`` (what an ordinary pickle load does)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('the model file ran code')",)


def _malicious(path: Path, marker: Path) -> None:
    """Replace the weights with a torch file whose state holds a planted object; the sidecar stays intact."""
    blob = torch.load(path, weights_only=True)
    blob["state_dict"] = {"weight": Planted(marker)}
    torch.save(blob, path)


def _tampered(kind: str, path: Path) -> None:
    """Edit the sidecar so that it no longer describes the weights (a plausible, in-bounds lie)."""
    side = Path(f"{path}.json")
    doc = json.loads(side.read_text())
    if kind == "hil":
        doc["adc_table"]["thresholds"] = [t + 0.25 for t in doc["adc_table"]["thresholds"]]
    elif kind == "learned":
        doc["arch"]["layers"] += 1
    else:
        doc["arch"]["outputs"] += 1
    side.write_text(json.dumps(doc))


def _newer(path: Path) -> None:
    """A model written by a newer hwsim: both files carry the next format version."""
    side = Path(f"{path}.json")
    doc = json.loads(side.read_text())
    doc["version"] += 1
    side.write_text(json.dumps(doc))
    blob = torch.load(path, weights_only=True)
    blob["version"] += 1
    torch.save(blob, path)


ATTACKS = {"malicious pickle": r"is refused: .*could run code \(it asks for exec\)",
           "tampered sidecar": r"(does not match its sidecar|weights and the sidecar's ADC table disagree)",
           "newer hwsim": r"format version 2; this hwsim reads version 1 \(the file comes from a newer hwsim"}


def _attacked(kind, attack, tmp_path):
    model, marker = tmp_path / f"{kind}.pt", tmp_path / "marker.txt"
    _save(kind, model)
    parse_config(_config(kind, model))  # the intact model loads
    if attack == "malicious pickle":
        _malicious(model, marker)
    elif attack == "tampered sidecar":
        _tampered(kind, model)
    else:
        _newer(model)
    return model, marker


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("kind", list(LINKS))
def test_a_bad_model_file_is_refused_when_the_config_loads(tmp_path, kind, attack):
    model, marker = _attacked(kind, attack, tmp_path)
    with pytest.raises(ValueError) as info:
        parse_config(_config(kind, model))
    msg = str(info.value)
    assert f"receiver.model = {str(model)!r}: " in msg, msg
    assert re.search(ATTACKS[attack], msg), msg
    assert "\n" not in msg and "weights_only" not in msg, msg  # hwsim's words, not torch's advice
    assert not marker.exists()


def test_every_point_checks_one_file_once(tmp_path, monkeypatch):
    """The whole file is read once per version of it, not once per point; a changed file is read again."""
    from hwsim.receivers import learned_detector as ld

    model = tmp_path / "learned.pt"
    _save("learned", model)
    calls = []
    real = ld.load_detector
    monkeypatch.setattr(ld, "load_detector", lambda path, link=None: calls.append(path) or real(path, link))
    cfg = _config("learned", model)
    cfg["grid"]["snr_db"] = [0.0, 2.0, 4.0, 6.0]
    parse_config(cfg)
    assert len(calls) == 1
    _save("learned", model)  # rewritten: another inode and change time
    parse_config(cfg)
    assert len(calls) == 2


@pytest.mark.parametrize("kind, attack", [("hil", "malicious pickle"), ("learned", "malicious pickle"),
                                          ("task_hybrid", "malicious pickle"), ("hil", "newer hwsim"),
                                          ("task_hybrid", "tampered sidecar")])
def test_hwsim_sweep_refuses_a_bad_model_in_one_line_before_making_the_folder(tmp_path, kind, attack):
    model, marker = _attacked(kind, attack, tmp_path)
    config, out = tmp_path / "sweep.toml", tmp_path / "run"
    config.write_text(_toml(_config(kind, model)))
    # no wall-clock bound of interest: the timeout only stops a hung process (the run takes seconds)
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "sweep", str(config), "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    said = (r.stdout + r.stderr).strip()
    assert r.returncode == 2, said
    assert len(said.splitlines()) == 1 and "Traceback" not in said, said
    assert said.startswith("hwsim sweep: error: ") and f"receiver.model = {str(model)!r}" in said, said
    assert not (out / "manifest.json").exists()
    assert not marker.exists()


# ---- one model-file format (issue 26, item 5) ------------------------------------------------------------------

#: Every learned model that saves to a file, by the receiver that loads it: (module, loader). The hybrid
#: receiver (``hwsim train --snr``) and ``hil`` share TrainedReceiver. The other learned models (the channel
#: estimator, DeepQCS, learned VQ and lattices, the learned ADC inside the hybrids) save no model file: they
#: train inside a point (checkpointed by hwsim.checkpoint) or export a hard table (hwsim.quantizers.files).
SAVING = {"hil": ("hwsim.receivers.hybrid", lambda p: __import__("hwsim.receivers.hybrid", fromlist=["_"])
                  .TrainedReceiver.load(p)),
          "learned": ("hwsim.receivers.detector_files", lambda p: __import__(
              "hwsim.receivers.detector_files", fromlist=["_"]).load_detector(p)),
          "task_hybrid": ("hwsim.receivers.task_hybrid", lambda p: __import__(
              "hwsim.receivers.task_hybrid", fromlist=["_"]).load(p))}


def _format_of(kind: str):
    import importlib

    return importlib.import_module(SAVING[kind][0]).MODEL_FILE


def test_the_list_of_saving_models_is_complete():
    """Every ModelFormat in the tree is one listed in SAVING, and only hwsim.model_files writes a model file
    (torch.save elsewhere only in hwsim.checkpoint, a training's state) and only hwsim._weights loads one."""
    from hwsim.model_files import ModelFormat

    sources = [p for folder in ("hwsim", "receivers", "channels", "designs") for p in (ROOT / folder).rglob("*.py")]
    declaring = sorted(str(p.relative_to(ROOT)) for p in sources if "= ModelFormat(" in p.read_text())
    assert declaring == ["receivers/detector_files.py", "receivers/hybrid.py", "receivers/task_hybrid.py"]
    assert len({_format_of(k).name for k in SAVING}) == len(SAVING)
    assert all(isinstance(_format_of(k), ModelFormat) for k in SAVING)
    assert _calling(sources, "save") == ["hwsim/checkpoint.py", "hwsim/model_files.py"]
    assert _calling(sources, "load") == ["hwsim/_weights.py"]


def _calling(sources, name: str) -> list[str]:
    """The files among ``sources`` that call ``torch.NAME(...)``."""
    import ast

    def calls(path):
        return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == name
                   and isinstance(n.func.value, ast.Name) and n.func.value.id == "torch"
                   for n in ast.walk(ast.parse(path.read_text())))

    return sorted(str(p.relative_to(ROOT)) for p in sources if calls(p))


@pytest.mark.parametrize("kind", list(SAVING))
def test_every_learned_model_that_saves_writes_the_one_format(tmp_path, kind):
    from hwsim.model_files import PAYLOAD_KEYS

    fmt, path = _format_of(kind), tmp_path / f"{kind}.pt"
    _save(kind, path)
    blob = torch.load(path, weights_only=True)
    assert tuple(blob) == PAYLOAD_KEYS and (blob["format"], blob["version"]) == (fmt.name, fmt.version)
    side = json.loads(Path(f"{path}.json").read_text())
    assert list(side)[:3] == ["format", "version", "arch"] and list(side)[-1] == "versions"
    assert (side["format"], side["version"]) == (fmt.name, fmt.version) and "torch" in side["versions"]
    assert not list(tmp_path.glob(".*"))  # written through temporary names, none left behind
    SAVING[kind][1](path)


def _legacy_hybrid(path: Path) -> None:
    """The hybrid receiver's files as its own writer wrote them before the one format: the sidecar indented
    by two, and (a reader's leniency it always had) a payload without its format tag."""
    side = Path(f"{path}.json")
    side.write_text(json.dumps(json.loads(side.read_text()), indent=2))
    blob = torch.load(path, weights_only=True)
    torch.save({"version": blob["version"], "state_dict": blob["state_dict"]}, path)


def test_files_written_before_the_one_format_still_load(tmp_path):
    path = tmp_path / "hil.pt"
    _save("hil", path)
    _legacy_hybrid(path)
    assert SAVING["hil"][1](path).seed == 0
    parse_config(_config("hil", path))


def _truncated(kind, path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _oversized(kind, path):
    with open(path, "r+b") as f:  # sparse: no disk used; far more than the network needs, within a sweep's inputs
        f.truncate(64 * 2**20)


def _oversized_sidecar(kind, path):
    with open(f"{path}.json", "r+b") as f:
        f.truncate(_format_of(kind).max_sidecar_bytes + 1)


def _truncated_sidecar(kind, path):
    side = Path(f"{path}.json")
    side.write_text(side.read_text()[:40])


def _wrong_format(kind, path):
    other = next(_format_of(k).name for k in SAVING if k != kind)
    blob = torch.load(path, weights_only=True)
    blob["format"] = other
    torch.save(blob, path)


def _wrong_format_sidecar(kind, path):
    side = Path(f"{path}.json")
    doc = json.loads(side.read_text())
    doc["format"] = next(_format_of(k).name for k in SAVING if k != kind)
    side.write_text(json.dumps(doc))


DAMAGE = {"truncated": (_truncated, "", r"is not a readable (receiver )?weight file \("),
          "oversized": (_oversized, "", r"holds 67108864 bytes, but the network its sidecar describes needs at most"),
          "oversized sidecar": (_oversized_sidecar, ".json", r"holds \d+ bytes; a .* sidecar may hold at most \d+"),
          "truncated sidecar": (_truncated_sidecar, ".json", r"not valid JSON"),
          "wrong format": (_wrong_format, "", r"is not an hwsim .*'s weight file \(format 'hwsim-"),
          "wrong-format sidecar": (_wrong_format_sidecar, ".json", r"is not an hwsim .* \(format 'hwsim-")}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("kind", list(SAVING))
def test_a_damaged_model_file_is_refused_in_one_line_naming_it(tmp_path, kind, damage):
    spoil, suffix, message = DAMAGE[damage]
    path = tmp_path / f"{kind}.pt"
    _save(kind, path)
    spoil(kind, path)
    for load in (SAVING[kind][1], lambda p: parse_config(_config(kind, p))):
        with pytest.raises(ValueError) as info:
            load(path)
        msg = str(info.value)
        assert re.search(message, msg) and f"{path}{suffix}" in msg and "\n" not in msg, msg
