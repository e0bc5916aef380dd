"""The component pipeline: registry, config tables and dotted keys, --set, I/Q converter banks, link draws."""

import json

import numpy as np
import pytest

from hwsim.components import build, check_params, lookup, names, register
from hwsim.pipeline import Pipeline, resolve_tables
from hwsim.engine.sweep import load_config, parse_config, parse_override, run_sweep

MASSIVE = {"source": {"type": "users", "users": 4, "constellation": "qam16"},
           "channel": {"type": "rayleigh", "antennas": 16, "frame_len": 10},
           "adc": {"type": "uniform", "bits": 3}, "receiver": {"type": "blmmse"}}


def test_every_kind_has_its_components_registered():
    assert {"users"} <= set(names("source"))
    assert {"rayleigh", "awgn"} <= set(names("channel"))
    assert {"none", "uniform", "lloyd_max", "table"} <= set(names("adc"))
    assert {"mrc", "zf", "lmmse", "blmmse", "nml", "kbest", "ep", "mmse_pic"} <= set(names("receiver"))
    assert {"ber", "ser"} <= set(names("metric"))


def test_unknown_types_and_parameters_name_what_is_allowed():
    with pytest.raises(ValueError, match=r"receiver.type must be one of .*blmmse.*zf"):
        lookup("receiver", "viterbi")
    with pytest.raises(ValueError, match=r"adc.nbits is not a parameter of adc 'uniform' \(its parameters: agc, bits, scale\)"):
        build("adc", {"type": "uniform", "nbits": 3})
    with pytest.raises(ValueError, match="adc.bits must be an integer"):
        build("adc", {"type": "uniform", "bits": "3"})
    with pytest.raises(ValueError, match="adc.agc must be one of ideal, measured, fixed"):
        build("adc", {"type": "uniform", "agc": "slow"})
    with pytest.raises(ValueError, match="adc.bits must be"):
        build("adc", {"type": "lloyd_max", "bits": 40})
    with pytest.raises(ValueError, match="kind must be one of"):
        register("antenna", "x")


def test_a_new_component_is_one_class_and_its_registration():
    from hwsim.metrics import Metric

    @register("metric", "test_user_errors")
    class UserErrors(Metric):
        def __init__(self, *, user: int = 0):
            pass

    assert lookup("metric", "test_user_errors") is UserErrors
    assert repr(build("metric", {"type": "test_user_errors", "user": 2})) == "UserErrors(user=2)"
    assert check_params(UserErrors, {}) == {"user": 0}


def test_a_point_that_changes_a_type_drops_the_old_types_parameters_but_not_its_own():
    t = resolve_tables(MASSIVE, {"adc": "none"})
    assert t["adc"] == {"type": "none"}
    t = resolve_tables(MASSIVE, {"adc.bits": 1, "receiver": "zf"})
    assert t["adc"]["bits"] == 1 and t["receiver"] == {"type": "zf"}
    with pytest.raises(ValueError, match="adc.bits is not a parameter of adc 'none'"):
        Pipeline.from_tables(resolve_tables(MASSIVE, {"adc": "none", "adc.bits": 2}))


def test_every_component_has_a_repr_with_its_parameters():
    p = Pipeline.from_tables(MASSIVE)
    text = repr(p)
    for part in ("Users(users=4, constellation='qam16')", "IIDRayleigh(antennas=16, frame_len=10)",
                 "UniformBank(bits=3, agc='ideal', scale=1.0)", "BER()"):
        assert part in text


def test_ideal_agc_follows_each_antennas_level_and_complex_goes_to_i_and_q():
    p = Pipeline.from_tables(MASSIVE)
    rng = np.random.default_rng(5)
    idx, obs = p.observe(400, 10.0, rng)
    # the AGC scale is the std of Re y given H; so y / alpha has unit variance per axis
    H = obs.H
    alpha = np.sqrt((np.sum(np.abs(H) ** 2, axis=2) + obs.noise_var) / 2)
    assert np.allclose(obs.scale, alpha)
    # the reconstructions take the table's levels (times alpha) on I and Q separately
    table = obs.adc
    u = obs.r.real / obs.scale[:, None, :]
    assert np.allclose(np.sort(np.unique(np.round(u, 9))), np.round(table.levels, 9))
    # every reconstruction lies inside the cell recorded for it (a uniform table's levels do)
    for part, lo, hi in ((obs.r.real, obs.lower_re, obs.upper_re), (obs.r.imag, obs.lower_im, obs.upper_im)):
        assert lo.shape == obs.r.shape and np.all(lo < part) and np.all(part < hi)
    # and the cells are the table's, scaled by alpha
    edges = set(np.round(table.cell_edges[1:-1], 9))
    inner = np.isfinite(obs.lower_re)
    assert set(np.round((obs.lower_re / obs.scale[:, None, :])[inner], 9)) <= edges


def test_fixed_agc_uses_one_scale():
    tables = {**MASSIVE, "adc": {"type": "uniform", "bits": 2, "agc": "fixed", "scale": 3.0}}
    _, obs = Pipeline.from_tables(tables).observe(2, 0.0, np.random.default_rng(0))
    assert np.all(obs.scale == 3.0)


def test_link_draws_repeat_with_the_seed_and_count_frames_as_clusters():
    link = Pipeline.from_tables(MASSIVE).link(5.0)
    a = link(np.random.default_rng(9), 95)
    b = link(np.random.default_rng(9), 95)
    assert a == b
    assert a.clusters == 10 and a.trials == 10 * 10 * 4 * 4  # 95 uses -> 10 frames of 10, 4 users x 4 bits


def test_massive_mimo_config_parses_and_sets_every_detector():
    cfg = load_config("massive_mimo", quick=True)
    assert [c["name"] for c in cfg.curves][:5] == ["LMMSE, unquantized", "BLMMSE, 1-bit", "BLMMSE, 2-bit",
                                                   "BLMMSE, 3-bit", "BLMMSE, 4-bit"]
    receivers = {resolve_tables(cfg.system, p.params)["receiver"]["type"] for p in cfg.points()}
    assert receivers == {"lmmse", "blmmse", "mrc", "zf", "nml", "ep", "mmse_pic", "kbest"}


def test_dotted_keys_and_set_are_validated_like_the_file():
    with pytest.raises(ValueError, match="adc.nbits is not a parameter"):
        load_config("massive_mimo", quick=True, overrides=["adc.nbits=2"])
    with pytest.raises(ValueError, match=r"unknown key 'adc.nbits' in \[\[curves\]\] entry 1"):
        parse_config({"study": "link", "seed": 1, "grid": {"snr_db": [0.0]},
                      "curves": [{"name": "a", "adc.nbits": 1}]})
    with pytest.raises(ValueError, match="adc.bitz is not a parameter of adc 'uniform'"):  # even if no curve uses it
        parse_config({"study": "link", "seed": 1, "adc": {"type": "uniform", "bitz": 3}, "grid": {"snr_db": [0.0]},
                      "curves": [{"name": "a", "adc": "lloyd_max"}]})
    cfg = load_config("massive_mimo", quick=True, overrides=["adc.bits=2", "grid.snr_db=[1.5]",
                                                              "stopping.max_samples=5e4"])
    assert cfg.system["adc"]["bits"] == 2 and cfg.grid == {"snr_db": [1.5]} and cfg.stopping.max_samples == 50_000
    assert cfg.raw["overrides"] == ["adc.bits=2", "grid.snr_db=[1.5]", "stopping.max_samples=5e4"]
    # a dotted grid axis, quoted as in TOML
    assert parse_override('grid."adc.bits"=[1, 2]')[1] == {"grid": {"adc.bits": [1, 2]}}
    # a grid axis over adc.bits skips the unquantized curve (adc = "none" has no bits): one point per SNR
    grid_bits = load_config("massive_mimo", quick=True, overrides=['grid."adc.bits"=[1, 2]'])
    unquantized = [p for p in grid_bits.points() if p.params.get("adc") == "none"]
    assert unquantized and all("adc.bits" not in p.params for p in unquantized)
    for bad, message in (("study='estimation'", "'study' cannot be set"), ("adc.path=1979-05-27", "date or time"),
                         ("adc.bits", "dotted.key=TOML_VALUE"), ("adc.bits=two", "not a dotted key and a TOML value"),
                         ("seed.x=1", "seed is a value in the config, not a table"),
                         ("adc.scale=4.0", "adc.scale sets the full scale of agc = 'fixed'")):
        with pytest.raises(ValueError, match=message):
            load_config("massive_mimo", quick=True, overrides=[bad])


def test_zf_with_fewer_antennas_than_users_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="ZF"):
        load_config("massive_mimo", quick=True, overrides=["channel.antennas=4"])
    assert not any(tmp_path.iterdir())


def test_a_small_link_sweep_writes_ber_with_the_receiver_column(tmp_path):
    cfg = parse_config({
        "study": "link", "seed": 3, "common_random_numbers": True,
        "source": {"type": "users", "users": 2, "constellation": "qpsk"},
        "channel": {"type": "rayleigh", "antennas": 8, "frame_len": 20},
        "adc": {"type": "uniform", "bits": 2},
        "grid": {"snr_db": [0.0, 10.0]},
        "curves": [{"name": "ZF, 2-bit", "receiver": "zf"}, {"name": "MRC, unquantized", "receiver": "mrc", "adc": "none"}],
        "stopping": {"max_samples": 20_000, "min_samples": 20_000, "batch": 200},
    }, overrides=[parse_override('metric.type="ser"')])
    out = run_sweep(cfg, tmp_path / "run", workers=1, quiet=True, plot=False)
    rows = (out / "results.csv").read_text().splitlines()
    head = rows[0].split(",")
    assert head[:5] == ["curve", "receiver", "adc", "snr_db", "ser"] and "symbols" in head
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["overrides"] == ['metric.type="ser"']


def test_massive_mimo_quick_runs_and_resolution_orders_the_curves(tmp_path):
    """The shipped study's [quick] section end to end; intervals (not point values) are compared."""
    from hwsim.engine.results import read_results

    cfg = load_config("massive_mimo", quick=True, overrides=["grid.snr_db=[5.0]"])
    out = run_sweep(cfg, tmp_path / "mm", workers=1, quiet=True, plot=False)
    rows = {r["curve"]: r for r in read_results(out / "results.csv")}
    assert len(rows) == len(cfg.curves)

    def below(a, b):  # curve a's BER interval lies below curve b's
        return float(rows[a]["ci_high"]) < float(rows[b]["ci_low"])

    assert below("BLMMSE, 3-bit", "BLMMSE, 2-bit") and below("BLMMSE, 2-bit", "BLMMSE, 1-bit")
    assert below("nML, 1-bit", "BLMMSE, 1-bit")          # the quantization-aware detector gains at 1 bit
    assert below("BLMMSE, 1-bit", "MRC, 1-bit")          # interference-limited MRC is worst
    assert rows["BLMMSE, 2-bit"]["interval"] == "wilson (clustered)"


@pytest.mark.parametrize("change,message", [
    ({"channel": {"type": "awgn", "antennas": 2}}, "awgn channel needs channel.antennas >= source.users, got 2 < 4"),
    ({"channel": {"type": "rayleigh", "antennas": 4096, "frame_len": 1_000_000}}, "samples per frame, more than the limit"),
    ({"curves": [{"name": "a", "metric": "ser"}]}, "unknown key 'metric'"),
])
def test_links_that_cannot_run_are_refused_before_the_sweep(change, message):
    config = {"study": "link", "seed": 1, "source": {"type": "users", "users": 4}, "grid": {"snr_db": [0.0]},
              "curves": [{"name": "a"}], **change}
    with pytest.raises(ValueError, match=message):
        parse_config(config)


def test_config_hash_covers_component_defaults(monkeypatch):
    """A changed component default changes the sweep's hash, so a resume never mixes the two."""
    from hwsim.components import lookup
    from hwsim.engine.sweep import load_config

    before = load_config("massive_mimo", quick=True).hash
    cls = lookup("receiver", "blmmse")
    monkeypatch.setattr(cls, "PARAMS", {**cls.PARAMS, "llr": not cls.PARAMS["llr"]})
    assert load_config("massive_mimo", quick=True).hash != before
