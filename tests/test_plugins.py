"""User components registered outside hwsim's tree (issue 26, item 2): a plugin module named by
``--plugin`` or ``plugins = [...]``, imported by the sweep and by every worker process; hwsim.simulate and
hwsim.sweep on links of its components; its converter bank served by hwsim's own receivers; entry points
of installed packages; clear one-line errors. Real subprocesses throughout, no mocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hwsim

#: The plugin: a 2-bit uniform I/Q converter bank of its own (the cells interface hwsim's receivers use:
#: ``scalar_cells``, the table, the AGC scale and each sample's cell) and a matched-filter receiver.
PLUGIN = '''
"""A plugin: a 2-bit uniform I/Q converter bank and a matched-filter receiver, registered outside hwsim."""

from typing import Literal

import numpy as np

from hwsim.components import register
from hwsim.converters import ConverterBank, ThresholdADC
from hwsim.receivers.base import Decision, Detector


@register("adc", "plugin_uniform2")
class Uniform2(ConverterBank):
    """Two-bit mid-rise uniform I/Q converters (step ``step``) behind an automatic gain control."""

    scalar_cells = True  # every I and Q sample comes from one real table: the observation carries its cell

    def __init__(self, *, step: float = 0.9956866779702631, agc: Literal["ideal", "measured", "fixed"] = "ideal",
                 scale: float = 1.0):
        if not step > 0 or not scale > 0:
            raise ValueError("adc.step and adc.scale must be positive")
        self.table = ThresholdADC(step * np.array([-1.0, 0.0, 1.0]), step * np.array([-1.5, -0.5, 0.5, 1.5]))

    @property
    def fixed_scale(self):  # what a receiver that needs a fixed full scale asks (QMAP)
        return self.params["scale"] if self.params["agc"] == "fixed" else None

    def check_link(self, link):
        if link.channel.real:
            raise ValueError("adc.type = 'plugin_uniform2' quantizes complex links")

    def convert(self, y, power=None, rng=None):
        if self.params["agc"] == "fixed":
            alpha = np.full((y.shape[0], y.shape[-1]), self.params["scale"])
        else:  # the standard deviation of each input's real part: the power the link states, or measured
            if self.params["agc"] == "measured":
                power = np.mean(np.abs(y) ** 2, axis=1)
            alpha = np.sqrt(power / 2)
        a = alpha[:, None, :]
        edges, levels = self.table.cell_edges, self.table.levels
        out = {"adc": self.table, "scale": alpha}
        parts = []
        for axis, part in (("re", y.real), ("im", y.imag)):
            codes = self.table.encode(np.ascontiguousarray(part / a))
            parts.append(levels[codes] * a)
            out[f"lower_{axis}"], out[f"upper_{axis}"] = edges[codes] * a, edges[codes + 1] * a
        out["r"] = parts[0] + 1j * parts[1]
        return out


@register("adc", "plugin_uniform2_plain")
class Uniform2Plain(Uniform2):
    """The same converters, handing the receiver their reconstructions only (no cells)."""

    scalar_cells = False

    def convert(self, y, power=None, rng=None):
        return {"r": super().convert(y, power, rng)["r"]}


@register("receiver", "plugin_matched")
class Matched(Detector):
    """Matched filter: each user's matched-filter output, normalised by its channel gain, sliced."""

    def __init__(self, *, normalize: bool = True):
        pass

    def detect(self, obs):
        z = np.einsum("fnk,fln->flk", obs.H.conj(), obs.r)
        if self.params["normalize"]:
            z = z / np.sum(np.abs(obs.H) ** 2, axis=1)[:, None, :]
        return Decision(np.asarray(obs.constellation.hard_decision(z), dtype=np.int64))
'''

CONFIG = '''
study = "link"
seed = 3
{plugins}
[source]
type = "users"
users = 2
constellation = "qpsk"

[channel]
type = "rayleigh"
antennas = 4
frame_len = 20

[adc]
type = "plugin_uniform2"

[receiver]
type = "plugin_matched"
normalize = true

[grid]
snr_db = [0.0, 6.0]

[[curves]]
name = "matched"

[[curves]]
name = "blmmse"
receiver = "blmmse"

[stopping]
target_errors = 100
min_samples = 2000
max_samples = 40000
batch = 2000

[quick]
stopping = {{max_samples = 6000}}
'''


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    """A folder holding the plugin module ``mymod`` and two configs of its components (``cfg.toml`` names
    no plugin, ``own.toml`` has ``plugins = ["mymod"]``)."""
    folder = tmp_path_factory.mktemp("plugin")
    (folder / "mymod.py").write_text(PLUGIN)
    (folder / "cfg.toml").write_text(CONFIG.format(plugins=""))
    (folder / "own.toml").write_text(CONFIG.format(plugins='plugins = ["mymod"]\n'))
    return folder


@pytest.fixture()
def mymod(plugin_dir, monkeypatch):
    """The plugin imported in this process (as a user's script would)."""
    monkeypatch.syspath_prepend(str(plugin_dir))
    import importlib

    return importlib.import_module("mymod")


def _hwsim(*args, cwd, pythonpath=None, timeout=180):
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, "-m", "hwsim.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _rows(folder: Path) -> list[dict]:
    import csv

    with open(folder / "results.csv") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@pytest.fixture(scope="module")
def cli_run(plugin_dir) -> Path:
    """``hwsim sweep cfg.toml --plugin mymod --quick --workers 2``: spawned workers, which must import the plugin."""
    r = _hwsim("sweep", "cfg.toml", "--plugin", "mymod", "--quick", "--workers", "2", "--out", "run-cli", "--quiet",
               cwd=plugin_dir, pythonpath=plugin_dir)
    assert r.returncode == 0, r.stderr
    return plugin_dir / "run-cli"


def test_a_sweep_with_plugin_on_the_command_line_runs_in_worker_processes(cli_run):
    rows = _rows(cli_run)
    assert [(r["curve"], r["receiver"], r["adc"]) for r in rows] == [
        ("matched", "plugin_matched", "plugin_uniform2")] * 2 + [("blmmse", "blmmse", "plugin_uniform2")] * 2
    assert all(0 < float(r["ber"]) < 0.5 and r["stop"] for r in rows)
    manifest = json.loads((cli_run / "manifest.json").read_text())
    assert manifest["plugins"] == ["mymod"] and manifest["settings"]["plugins"] == ["mymod"]
    assert manifest["workers"] == min(2, _cores()) and not manifest["failed"]


def test_plugins_in_the_config_do_the_same_and_are_the_same_sweep(plugin_dir, cli_run):
    r = _hwsim("sweep", "own.toml", "--quick", "--workers", "2", "--out", "run-own", "--quiet", cwd=plugin_dir,
               pythonpath=plugin_dir)
    assert r.returncode == 0, r.stderr
    own = json.loads((plugin_dir / "run-own" / "manifest.json").read_text())
    cli = json.loads((cli_run / "manifest.json").read_text())
    assert own["plugins"] == ["mymod"] and own["config"]["plugins"] == ["mymod"]
    assert own["config_hash"] == cli["config_hash"]  # the same modules: the same sweep, the same numbers
    assert _rows(plugin_dir / "run-own") == _rows(cli_run)
    # --plugin and the file's list together: each module once, the same sweep again (it resumes: nothing to do)
    r = _hwsim("sweep", "own.toml", "--plugin", "mymod", "--quick", "--out", "run-own", "--quiet", cwd=plugin_dir,
               pythonpath=plugin_dir)
    assert r.returncode == 0, r.stderr


def test_simulate_on_a_link_of_the_plugins_components_gives_the_sweeps_numbers(plugin_dir, cli_run, mymod):
    from hwsim.channels import IIDRayleigh, Users
    from hwsim.engine.sweep import load_config
    from hwsim.receivers import BLMMSE
    from hwsim.study import point_tables

    cfg = load_config(plugin_dir / "cfg.toml", quick=True, plugins=["mymod"])
    assert cfg.plugins == ["mymod"] and cfg.numbers()["plugins"] == ["mymod"]
    rows = {(r["curve"], r["snr_db"]): r for r in _rows(cli_run)}
    for p in cfg.points():
        receiver = mymod.Matched(normalize=True) if p.curve == "matched" else BLMMSE()
        link = hwsim.Link(source=Users(users=2, constellation="qpsk"), channel=IIDRayleigh(antennas=4, frame_len=20),
                          adc=mymod.Uniform2(), receiver=receiver)
        assert link.to_config() == hwsim.Link.from_config(point_tables(cfg.system, p.params)).to_config()
        est = hwsim.simulate(link, snr_db=p.params["snr_db"], stopping=cfg.stopping, seed=cfg.point_seed(p))
        row = rows[(p.curve, str(p.params["snr_db"]))]
        assert (f"{est.estimate!r}", f"{est.ci_low!r}", f"{est.ci_high!r}") == (row["ber"], row["ci_low"], row["ci_high"])
        assert str(int(est.errors)) == row["errors"] and str(est.samples) == row["bits"]
    # the registered type names work as well as the instances, once the module is imported
    named = hwsim.Link(source=Users(users=2), channel=IIDRayleigh(antennas=4, frame_len=20), adc="plugin_uniform2",
                       receiver={"type": "plugin_matched", "normalize": False})
    assert isinstance(named.adc, mymod.Uniform2) and named.receiver.params == {"normalize": False}


def test_hwsim_sweep_from_python_takes_plugins(plugin_dir, cli_run, monkeypatch):
    import tomllib

    monkeypatch.syspath_prepend(str(plugin_dir))
    data = tomllib.loads((plugin_dir / "cfg.toml").read_text())
    rows = hwsim.sweep(data, quick=True, plugins=["mymod"])
    records = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    assert [r["ber"] for r in records] == [float(r["ber"]) for r in _rows(cli_run)]


@pytest.mark.parametrize("receiver", ["blmmse", "lmmse", "zf", "nml", "qmap"])
def test_hwsims_receivers_serve_the_plugins_bank_by_what_it_declares(mymod, receiver):
    """The bank declares scalar cells and gives the table, scale and cells: the linear, Bussgang, likelihood
    (nml) and exhaustive (qmap, at a fixed full scale) receivers all take it, and since its table is the
    2-bit uniform one, give the built-in ``uniform`` bank's numbers draw for draw."""
    from hwsim.channels import IIDRayleigh, Users
    from hwsim.converters import UniformBank

    agc = {"agc": "fixed", "scale": 1.5} if receiver == "qmap" else {}
    rule = hwsim.Stopping(target_errors=None, min_samples=0, max_samples=2000, batch=2000)
    est = {}
    for name, bank in (("plugin", mymod.Uniform2(**agc)), ("builtin", UniformBank(bits=2, **agc))):
        link = hwsim.Link(source=Users(users=2), channel=IIDRayleigh(antennas=4, frame_len=20), adc=bank,
                          receiver=receiver)
        est[name] = hwsim.simulate(link, snr_db=4.0, stopping=rule, seed=7)
    assert 0 < est["plugin"].estimate < 0.5
    assert (est["plugin"].estimate, est["plugin"].errors, est["plugin"].samples) == \
        (est["builtin"].estimate, est["builtin"].errors, est["builtin"].samples)


def test_a_bank_without_cells_is_refused_by_the_receivers_that_need_them(mymod):
    from hwsim.channels import IIDRayleigh, Users

    def link(receiver):
        return hwsim.Link(source=Users(users=2), channel=IIDRayleigh(antennas=4, frame_len=20),
                          adc=mymod.Uniform2Plain(), receiver=receiver)

    for receiver in ("blmmse", "nml"):
        with pytest.raises(ValueError, match="plugin_uniform2_plain.*does not give them"):
            hwsim.simulate(link(receiver), snr_db=4.0)
    rule = hwsim.Stopping(target_errors=None, min_samples=0, max_samples=2000, batch=2000)
    assert 0 < hwsim.simulate(link("lmmse"), snr_db=4.0, stopping=rule, seed=1).estimate < 0.5


def _one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for needle in needles:
        assert needle in r.stderr, r.stderr
    return r.stderr


@pytest.mark.parametrize("args, said", [
    (["--plugin", "my-mod"], "hwsim sweep: error: --plugin 'my-mod' is not a module's import name (a dotted Python "
                             "identifier"),
    (["--plugin", "mymod", "--plugin", "./mymod.py"], "--plugin './mymod.py' is not a module's import name"),
    (["--plugin", "nosuchmod"], "--plugin 'nosuchmod': cannot import the module (No module named 'nosuchmod'); it "
                                "must be importable"),
    ([], "adc.type must be one of"),  # no plugin: the types are unknown, and the error says how to load them
])
def test_a_bad_or_missing_plugin_is_one_clear_line(plugin_dir, args, said):
    r = _hwsim("sweep", "cfg.toml", "--quick", *args, "--out", "never", cwd=plugin_dir, pythonpath=plugin_dir)
    text = _one_line_error(r, said)
    if not args:
        assert "got 'plugin_uniform2'" in text and "--plugin MODULE" in text
    assert not (plugin_dir / "never").exists()


def test_plugin_modules_that_fail_are_named_with_their_error(tmp_path, plugin_dir):
    (tmp_path / "needs_more.py").write_text("import numpyy_not_installed\n")
    (tmp_path / "clash.py").write_text(textwrap.dedent("""
        from hwsim.components import register
        from hwsim.receivers.base import Detector

        @register("receiver", "zf")
        class MyZF(Detector):
            pass
    """))
    (tmp_path / "cfg.toml").write_text((plugin_dir / "cfg.toml").read_text().replace(
        'seed = 3', 'seed = 3\nplugins = ["mymod", "needs_more"]'))
    (tmp_path / "bad.toml").write_text((plugin_dir / "cfg.toml").read_text().replace(
        'seed = 3', 'seed = 3\nplugins = ["mymod", "my mod"]'))
    path = os.pathsep.join([str(tmp_path), str(plugin_dir)])
    r = _hwsim("sweep", "cfg.toml", "--quick", cwd=tmp_path, pythonpath=path)
    _one_line_error(r, "plugins entry 'needs_more': importing the module failed (ModuleNotFoundError: No module named "
                       "'numpyy_not_installed')")
    _one_line_error(_hwsim("sweep", "bad.toml", cwd=tmp_path, pythonpath=path),
                    "plugins entry 'my mod' is not a module's import name")
    # a name hwsim's own components hold: the registry's error, naming the component it collides with
    _one_line_error(_hwsim("train", "cfg.toml", "--plugin", "clash", "--out", "x.pt", cwd=tmp_path, pythonpath=path),
                    "hwsim train: error: a receiver called 'zf' is already registered (hwsim.receivers.linear.ZF)")


def test_the_plugin_names_are_part_of_the_configs_identity_only_when_there_are_some(plugin_dir, mymod):
    import tomllib

    from hwsim.engine.sweep import parse_config, shipped_configs, load_config

    plain = load_config(shipped_configs()[0], quick=True)
    assert plain.plugins == [] and "plugins" not in plain.numbers()  # every existing config keeps its hash
    data = tomllib.loads((plugin_dir / "cfg.toml").read_text())
    one = parse_config(data, plugins=["mymod"])
    assert parse_config({**data, "plugins": ["mymod"]}).hash == one.hash
    assert parse_config({**data, "plugins": ["mymod"]}, plugins=["mymod", "mymod"]).plugins == ["mymod"]
    both = parse_config(data, plugins=["mymod", "json"])
    assert both.plugins == ["mymod", "json"] and both.hash != one.hash
    for bad in (["a/b"], ["1abc"], ["class"], [""], [3], "x y"):
        with pytest.raises(ValueError, match="is not a module's import name"):
            parse_config(data, plugins=bad)
    with pytest.raises(ValueError, match="plugins must be a list"):
        parse_config({**data, "plugins": "mymod"})


def _distribution(site: Path, name: str, entry_points: str) -> None:
    """An installed package as importlib.metadata finds it: a ``NAME-0.1.dist-info`` folder on the path."""
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[hwsim.components]\n{entry_points}\n")


MATCHED = """
import numpy as np
from hwsim.components import register
from hwsim.receivers.base import Decision, Detector

def define(name):
    @register("receiver", name)
    class Matched(Detector):
        def __init__(self, *, normalize: bool = True):
            pass

        def detect(self, obs):
            z = np.einsum("fnk,fln->flk", obs.H.conj(), obs.r)
            return Decision(np.asarray(obs.constellation.hard_decision(z), dtype=np.int64))
    return Matched
"""


def test_entry_points_of_installed_packages_register_on_the_first_lookup(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "ep_common.py").write_text(MATCHED)
    (site / "ep_by_module.py").write_text("from ep_common import define\ndefine('ep_module_matched')\n")
    (site / "ep_by_call.py").write_text("from ep_common import define\n\ndef register_all():\n"
                                        "    define('ep_called_matched')\n")
    _distribution(site, "hwsim_ep_demo", "bymodule = ep_by_module\nbycall = ep_by_call:register_all")
    code = ("import sys; from hwsim.components import names, lookup; n = names('receiver'); "
            "assert 'ep_module_matched' in n and 'ep_called_matched' in n, n; "
            "assert lookup('receiver', 'ep_called_matched').__module__ == 'ep_common'; print('ok')")
    env = {**os.environ, "PYTHONPATH": str(site)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    # a sweep names them with no --plugin
    (tmp_path / "cfg.toml").write_text(CONFIG.format(plugins="").replace('"plugin_matched"', '"ep_called_matched"')
                                       .replace('"plugin_uniform2"', '"uniform"').replace("normalize = true", ""))
    r = _hwsim("sweep", "cfg.toml", "--quick", "--workers", "1", "--out", "run", "--quiet", cwd=tmp_path,
               pythonpath=site)
    assert r.returncode == 0, r.stderr
    assert {row["receiver"] for row in _rows(tmp_path / "run")} == {"ep_called_matched", "blmmse"}


def test_a_broken_entry_point_is_named_in_one_line(tmp_path, plugin_dir):
    site = tmp_path / "site"
    _distribution(site, "hwsim_broken_demo", "broken = no_such_module_here")
    r = _hwsim("sweep", str(plugin_dir / "cfg.toml"), "--quick", "--plugin", "mymod", cwd=tmp_path,
               pythonpath=os.pathsep.join([str(site), str(plugin_dir)]))
    _one_line_error(r, "cannot load the hwsim.components entry point broken = 'no_such_module_here' of the package "
                       "hwsim_broken_demo (ModuleNotFoundError: No module named 'no_such_module_here')")
