"""The Python API (issue 26 item 2): hwsim.Link composed in Python, hwsim.simulate giving the numbers of the
sweep's point for the same stream, hwsim.sweep returning its table, config round trips."""

import dataclasses

import pytest

import hwsim
from hwsim.channels import IIDRayleigh, Users
from hwsim.converters import UniformBank
from hwsim.engine.sweep import load_config, parse_config, run_sweep, shipped_configs
from hwsim.receivers import BLMMSE, LMMSE
from hwsim.study import point_tables

from test_sweep import _rows, tiny


def _complex_sweep() -> dict:
    return {
        "study": "link", "seed": 11,
        "source": {"type": "users", "users": 2, "constellation": "qpsk"},
        "channel": {"type": "rayleigh", "antennas": 4, "frame_len": 20},
        "adc": {"type": "uniform", "bits": 2},
        "receiver": {"type": "blmmse"},
        "grid": {"snr_db": [0.0, 5.0]},
        "curves": [{"name": "BLMMSE"}, {"name": "LMMSE", "receiver": "lmmse", "adc.bits": 3}],
        "stopping": {"target_errors": 300, "min_samples": 2000, "max_samples": 100_000, "batch": 2000},
    }


@pytest.mark.parametrize("make", [_complex_sweep, tiny], ids=["complex-blmmse", "seed001-map-qmap"])
def test_simulate_gives_the_sweeps_numbers_for_the_points_stream(tmp_path, make):
    cfg = parse_config(make())
    run_sweep(cfg, tmp_path / "run", workers=1, quiet=True, plot=False)
    rows = {(r["curve"], r["snr_db"]): r for r in _rows(tmp_path / "run")}
    for p in cfg.points():
        link = hwsim.Link.from_config(point_tables(cfg.system, p.params))
        est = hwsim.simulate(link, snr_db=p.params["snr_db"], stopping=cfg.stopping, seed=cfg.point_seed(p))
        row = rows[(p.curve, str(p.params["snr_db"]))]
        y = "ber"
        # the same computation (the sweep's run_point on the same stream): equal to the last digit written
        assert (f"{est.estimate!r}", f"{est.ci_low!r}", f"{est.ci_high!r}") == (row[y], row["ci_low"], row["ci_high"])
        assert str(int(est.errors)) == row["errors"] and str(est.samples) == row["bits"]


def test_simulate_is_repeatable_and_the_seed_is_not_consumed():
    link = hwsim.Link(source=Users(users=2), channel=IIDRayleigh(antennas=4, frame_len=20), adc=UniformBank(bits=2),
                      receiver=BLMMSE())
    rule = hwsim.Stopping(target_errors=None, max_samples=20_000, batch=4_000)
    import numpy as np

    seq = np.random.SeedSequence(5)
    a = hwsim.simulate(link, snr_db=3.0, stopping=rule, seed=seq)
    b = hwsim.simulate(link, snr_db=3.0, stopping=rule, seed=seq)
    c = hwsim.simulate(link, snr_db=3.0, stopping=rule, seed=5)
    assert (a.estimate, a.errors, a.samples) == (b.estimate, b.errors, b.samples) == (c.estimate, c.errors, c.samples)
    assert a.ci_low <= a.estimate <= a.ci_high and a.stop == "max_samples" and a.samples >= 20_000  # bits


def test_link_takes_components_tables_type_names_or_the_defaults():
    link = hwsim.Link(source=Users(users=2), channel={"type": "rayleigh", "antennas": 4}, receiver="zf")
    config = link.to_config()
    assert config["source"] == {"type": "users", "users": 2, "constellation": "qpsk"}
    assert config["receiver"]["type"] == "zf" and config["adc"] == {"type": "none"}
    assert config["metric"] == {"type": "ber"} and config["frontend"] == {"type": "identity"}
    again = hwsim.Link.from_config(config)
    assert isinstance(again, hwsim.Link) and again.to_config() == config
    assert hwsim.Link().to_config()["receiver"]["type"] == "lmmse"  # the defaults a sweep file's missing tables take


def test_link_refuses_a_component_of_another_kind_naming_the_stage():
    with pytest.raises(TypeError, match=r"receiver: Users is a source component, not a receiver \(registered "
                                        r"receiver types: .*blmmse"):
        hwsim.Link(receiver=Users())
    with pytest.raises(ValueError, match=r"adc.type must be one of .*uniform.*, got 'fancy'"):
        hwsim.Link(adc="fancy")
    with pytest.raises(TypeError, match="adc must be a adc component, a config table or a type name, got int"):
        hwsim.Link(adc=3)


def test_simulate_checks_the_point_as_a_sweep_does():
    link = hwsim.Link(source=Users(users=2), channel=IIDRayleigh(antennas=4), receiver=LMMSE())
    with pytest.raises(ValueError, match="a detection link needs snr_db"):
        hwsim.simulate(link)
    with pytest.raises(ValueError, match="estimator must be one of plain, importance"):
        hwsim.simulate(link, 3.0, estimator="lucky")
    with pytest.raises(TypeError, match="stopping must be a hwsim.Stopping"):
        hwsim.simulate(link, 3.0, stopping={"max_samples": 10})
    with pytest.raises(TypeError, match="link must be a hwsim.Link"):
        hwsim.simulate({"source": {}}, 3.0)


@pytest.mark.parametrize("name", shipped_configs())
def test_every_shipped_configs_links_round_trip_through_to_config(name):
    cfg = load_config(name, quick=True)
    for p in cfg.points()[:3]:
        tables = point_tables(cfg.system, p.params)
        config = hwsim.Link.from_config(tables).to_config()
        assert hwsim.Link.from_config(config).to_config() == config
        assert config.keys() == tables.keys()
        for kind, table in tables.items():
            assert all(config[kind][k] == v for k, v in table.items()), (kind, table, config[kind])


def test_sweep_from_python_returns_the_table_the_cli_folder_holds(tmp_path):
    rows = hwsim.sweep(tiny(), out=tmp_path / "run")
    records = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    written = _rows(tmp_path / "run")
    assert [r["curve"] for r in records] == [r["curve"] for r in written]
    assert [r["ber"] for r in records] == [float(r["ber"]) for r in written]
    assert (tmp_path / "run" / "manifest.json").is_file() and list((tmp_path / "run").glob("plot*.png"))
    again = hwsim.sweep(tiny())  # in a temporary folder: the same numbers
    again = again.to_dict("records") if hasattr(again, "to_dict") else again
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in again] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_an_unknown_api_name_is_an_attribute_error():
    """(import hwsim staying light while serving the API: tests/test_layout.py)"""
    with pytest.raises(AttributeError, match="module 'hwsim' has no attribute 'simulat'"):
        hwsim.simulat  # noqa: B018


def test_a_point_leaves_its_seed_as_it_was_so_a_reused_seed_gives_the_same_set_up():
    """run_replicas spawns the set-up streams from a copy: a SeedSequence used twice (hwsim.simulate's
    seed argument) gives the same set-up draws both times, and the same numbers."""
    import numpy as np

    from hwsim.engine.montecarlo import StoppingRule, Tally, run_replicas

    setups = []

    def make_link(rng):
        bias = rng.random()  # what a training would draw
        setups.append(bias)
        return lambda rng, batch: Tally(float((rng.random(batch) < 0.1 + 0.01 * bias).sum()), batch, batch, 0.0)

    seq = np.random.SeedSequence(9)
    rule = StoppingRule(target_errors=None, min_samples=0, max_samples=5000, batch=1000)
    a = run_replicas(make_link, seq, rule, replicas=2)
    b = run_replicas(make_link, seq, rule, replicas=2)
    assert seq.n_children_spawned == 0
    assert setups[:2] == setups[2:] and dataclasses.replace(a, seconds=0.0) == dataclasses.replace(b, seconds=0.0)
