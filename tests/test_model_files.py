"""``receiver.model`` files are checked whole when the config loads (issue 29, item 13).

A malicious pickle, a tampered sidecar or a model of a newer hwsim, given as ``receiver.model`` to any
receiver that loads one (``hil``, ``learned``, ``task_hybrid``), is refused by
:func:`hwsim.engine.sweep.parse_config` with hwsim's own message naming ``receiver.model`` and the file,
and by ``hwsim sweep`` in one line before the sweep's folder gets a manifest. Nothing in the file runs.
The models here are untrained networks of a few weights, saved by hwsim's own writers (no training).
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
