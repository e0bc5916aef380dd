"""Parameters that would silently do nothing are refused, naming the key (issue 29, item 7), and a quantizer
file is bounded before it is parsed (item 8): the vector bank's ``rate``, ``scale`` and ``train_seed``, a
quantizer file whose declared rate is not its codewords', an unbounded lattice as a converter, the receivers
that need per-axis cells on a vector bank, and the TDL channel's ``carrier_frequency``."""

import json

import numpy as np
import pytest

from hwsim.pipeline import Pipeline
from hwsim.quantizers import Codebook
from hwsim.quantizers.base import MAX_CODEWORDS
from hwsim.quantizers.files import (MAX_JSON_CONTAINERS, MAX_JSON_ENTRIES, export_quantizer, import_quantizer,
                                    quantizer_document)
from hwsim.quantizers.lattices import lattice

BASE = {"source": {"type": "users", "users": 2, "constellation": "qpsk"},
        "channel": {"type": "rayleigh", "antennas": 8, "frame_len": 20}, "receiver": {"type": "lmmse"}}


def build(adc=None, receiver=None):
    tables = {**BASE, "adc": adc or {"type": "none"}}
    if receiver is not None:
        tables["receiver"] = receiver
    link = Pipeline.from_tables(tables)
    link.check()
    return link


@pytest.fixture
def pair_file(tmp_path):
    """A 2-D codebook of 12 codewords (rate log2(12) / 2 = 1.79 bits per dimension)."""
    return export_quantizer(Codebook(np.random.default_rng(0).normal(size=(12, 2))), tmp_path / "pair12.json")


# ------------------------------------------------------------------ the vector bank
def test_the_vector_bank_refuses_a_scale_that_ideal_agc_would_ignore():
    with pytest.raises(ValueError, match=r"adc.scale .*agc = 'ideal'.*adc.scale = 0.5 would do nothing"):
        build({"type": "vector", "scale": 0.5})
    fixed = build({"type": "vector", "agc": "fixed", "scale": 0.5})   # with a fixed full scale it acts
    assert np.all(fixed.adc.agc_scale(np.ones((1, 8, 2), complex), np.ones((1, 2))) == 0.5)


def test_a_quantizer_file_fixes_the_rate_so_a_different_adc_rate_is_refused(pair_file):
    with pytest.raises(ValueError, match=r"adc.rate = 2.0 asks for 16 codewords .* holds 12 .*adc.rate = 1.79248"):
        build({"type": "vector", "quantizer": str(pair_file)})              # the default rate is no exception
    with pytest.raises(ValueError, match=r"adc.rate = 1.0 asks for 4 codewords"):
        build({"type": "vector", "quantizer": str(pair_file), "rate": 1.0})
    link = build({"type": "vector", "quantizer": str(pair_file), "rate": 1.79})   # 2^3.58 rounds to 12: the file's
    assert link.adc.quantizer.size == 12


def test_a_rate_axis_over_a_quantizer_file_is_refused_when_the_config_loads(pair_file):
    from hwsim.engine.sweep import parse_config

    config = {"study": "link", "seed": 1, **BASE, "adc": {"type": "vector", "quantizer": str(pair_file)},
              "grid": {"snr_db": [0.0], "rate": [1.0, 1.79]}, "curves": [{"name": "file"}]}
    with pytest.raises(ValueError, match=r"adc.rate = 1.0 asks for 4 codewords"):
        parse_config(config)


def test_a_quantizer_file_refuses_a_training_seed(pair_file):
    with pytest.raises(ValueError, match=r"adc.train_seed = 3 .* would do nothing"):
        build({"type": "vector", "quantizer": str(pair_file), "rate": 1.79, "train_seed": 3})
    a = build({"type": "vector", "quantizer": "lbg", "rate": 1.0, "train_seed": 3}).adc.quantizer.codewords
    b = build({"type": "vector", "quantizer": "lbg", "rate": 1.0, "train_seed": 4}).adc.quantizer.codewords
    assert not np.array_equal(a, b)                                          # where it is used it acts


def test_a_rate_below_two_codewords_is_refused():
    with pytest.raises(ValueError, match=r"adc.rate = 0.2 gives 1 codeword .* at least 2"):
        build({"type": "vector", "quantizer": "A2", "rate": 0.2})


def test_an_unbounded_lattice_is_refused_as_a_converter(tmp_path):
    path = export_quantizer(lattice("A2"), tmp_path / "a2.json")
    assert json.loads(path.read_text())["shaping"] is None
    with pytest.raises(ValueError, match=r"adc.quantizer: .*a2.json is an unbounded lattice .*finitely many outputs"):
        build({"type": "vector", "quantizer": str(path)})
    bounded = export_quantizer(lattice("A2").bounded(codewords=16), tmp_path / "a2_16.json")
    assert build({"type": "vector", "quantizer": str(bounded)}).adc.quantizer.size == 16


# ------------------------------------------------------------------ receivers that need per-axis cells
@pytest.mark.parametrize("receiver", ["blmmse", "nml", "qmap"])
def test_receivers_that_need_cells_refuse_a_vector_bank(receiver):
    with pytest.raises(ValueError, match=rf"receiver.type = '{receiver}' needs converters .* adc.type = 'vector'"):
        build({"type": "vector", "agc": "fixed"}, {"type": receiver})


def test_the_scalar_banks_still_serve_them():
    assert build({"type": "uniform", "bits": 2}, {"type": "blmmse"}).adc.scalar_cells
    assert build({"type": "lloyd_max", "bits": 1}, {"type": "nml"}).adc.scalar_cells
    assert not build({"type": "none"}, {"type": "blmmse"}).adc.quantizes        # BLMMSE is LMMSE there, by design
    link = build({"type": "uniform", "bits": 2, "agc": "fixed"}, {"type": "qmap"})
    assert link.adc.scalar_cells


# ------------------------------------------------------------------ quantizer files
def test_a_declared_rate_that_is_not_the_codewords_rate_is_refused(tmp_path):
    doc = quantizer_document(Codebook(np.random.default_rng(1).normal(size=(16, 2))))
    assert doc["rate"] == 2.0
    doc["rate"] = 3.0
    path = tmp_path / "lies.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"lies.json: rate = 3.0 bits per dimension, but its 16 codewords of "
                                         r"dimension 2 give log2\(16\) / 2 = 2.0"):
        import_quantizer(path)
    doc["rate"] = None
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"lies.json: rate = None"):
        import_quantizer(path)
    bounded = quantizer_document(lattice("A2").bounded(codewords=16))
    bounded["rate"] = 1.5
    path.write_text(json.dumps(bounded))
    with pytest.raises(ValueError, match=r"rate = 1.5 bits per dimension, but its 16 codewords"):
        import_quantizer(path)
    unbounded = quantizer_document(lattice("A2"))
    unbounded["rate"] = 2.0
    path.write_text(json.dumps(unbounded))
    with pytest.raises(ValueError, match=r"rate = 2.0 bits per dimension, but the file describes an unbounded"):
        import_quantizer(path)


def _no_parsing(monkeypatch):
    import hwsim.quantizers.files as files

    def refuse(*args, **kwargs):
        raise AssertionError("the file was parsed")

    monkeypatch.setattr(files.json, "loads", refuse)


@pytest.mark.parametrize("item, count", [("[]", MAX_JSON_CONTAINERS + 1), ("0", MAX_JSON_ENTRIES + 2)])
def test_a_quantizer_file_of_too_many_entries_is_refused_before_it_is_parsed(tmp_path, monkeypatch, item, count):
    """A 60 MB file of empty lists took 1.7 GB to parse before it was refused; now the entries are counted
    first. (A small file here: the bound is on entries, not only bytes.)"""
    path = tmp_path / "many.json"
    path.write_text('{"format": "hwsim-vector-quantizer", "version": 1, "kind": "codebook", "dim": 2, '
                    '"codewords": [' + ",".join([item] * count) + "]}")
    size = path.stat().st_size
    _no_parsing(monkeypatch)
    with pytest.raises(ValueError, match=rf"many.json \({size} bytes\) holds about \d+ .*, more than the \d+ that the "
                                         "largest vector-quantizer file needs"):
        import_quantizer(path)


def test_the_largest_codebook_fits_the_entry_bounds():
    text = json.dumps(quantizer_document(Codebook(np.arange(2 * MAX_CODEWORDS, dtype=float).reshape(-1, 2) / 7),
                                         provenance={"trained": "lbg", "seed": 1}), indent=1)
    assert text.count(",") <= MAX_JSON_ENTRIES
    assert text.count("[") + text.count("{") <= MAX_JSON_CONTAINERS


# ------------------------------------------------------------------ the TDL channel
def test_the_tdl_carrier_frequency_is_refused_where_it_would_change_nothing():
    with pytest.raises(ValueError, match=r"channel.carrier_frequency = 28000000000.0 would change nothing.*no "
                                         r"mobility.*3.5e\+09 Hz"):
        Pipeline.from_tables({"source": {"type": "ofdm"}, "channel": {"type": "tdl", "carrier_frequency": 28e9},
                              "receiver": {"type": "ofdm_lmmse"}, "metric": {"type": "bler"}})
    link = Pipeline.from_tables({"source": {"type": "ofdm"}, "channel": {"type": "tdl", "carrier_frequency": 3.5e9},
                                 "receiver": {"type": "ofdm_lmmse"}, "metric": {"type": "bler"}})
    assert link.channel.params["carrier_frequency"] == 3.5e9
