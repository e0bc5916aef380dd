"""Vector-quantizer files (:mod:`hwsim.quantizers.files`): round trips, the C header, hostile files."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from hwsim.quantizers import Codebook
from hwsim.quantizers.base import MAX_CODEWORDS, codewords_for
from hwsim.quantizers.files import SCHEMA, export_quantizer, import_quantizer, quantizer_document


@pytest.fixture
def codebook():
    return Codebook(np.random.default_rng(0).normal(size=(16, 2)))


def test_an_exported_codebook_reimported_gives_identical_indices(codebook, tmp_path):
    path = export_quantizer(codebook, tmp_path / "cb.json", provenance={"trained": "lbg", "seed": 3})
    back, doc = import_quantizer(path)
    x = np.random.default_rng(1).normal(size=(2000, 2))
    assert np.array_equal(back.quantize(x)[0], codebook.quantize(x)[0])
    assert np.array_equal(back.codewords, codebook.codewords)  # exact decimal round trip
    assert doc["rate"] == 2.0 and doc["provenance"]["seed"] == 3
    assert set(doc) <= set(SCHEMA["properties"]) and set(SCHEMA["required"]) <= set(doc)


def test_the_c_header_holds_the_same_numbers_and_an_escaped_comment(codebook, tmp_path):
    path = export_quantizer(codebook, tmp_path / "cb.h", provenance={"note": "*/ int evil; /*\n#include <x>"})
    text = path.read_text()
    assert "*/ int evil" not in text and "\n#include <x>" not in text
    assert "#define HWSIM_VQ_SIZE 16" in text and "#define HWSIM_VQ_DIM 2" in text
    numbers = [float(v) for line in text.splitlines() if line.startswith("    {")
               for v in line.strip(" {},").split(", ")]
    assert np.array_equal(np.reshape(numbers, (16, 2)), codebook.codewords)
    if shutil.which("gcc"):
        r = subprocess.run(["gcc", "-x", "c", "-fsyntax-only", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def _write(tmp_path, doc):
    path = tmp_path / "vq.json"
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(format="other"), "is not an hwsim vector quantizer"),
    (lambda d: d.update(version=2), "newer hwsim"),
    (lambda d: d.update(kind="magic"), "kind must be one of"),
    (lambda d: d.update(dim=0), "dim must be a whole number"),
    (lambda d: d["codewords"][0].append(1.0), "every row of codewords must hold dim = 2"),
    (lambda d: d["codewords"].__setitem__(1, list(d["codewords"][0])), "repeats a codeword"),
    (lambda d: d["codewords"].__setitem__(0, ["x", 1.0]), "numbers only"),
    (lambda d: d.update(codewords=[]), "must be a list of 1 to"),
])
def test_damaged_documents_are_refused(codebook, tmp_path, edit, message):
    doc = quantizer_document(codebook)
    edit(doc)
    with pytest.raises(ValueError, match=message):
        import_quantizer(_write(tmp_path, doc))


def test_hostile_files_are_refused_before_they_are_built(codebook, tmp_path):
    doc = quantizer_document(codebook)
    text = json.dumps(doc).replace(json.dumps(doc["codewords"][0][0]), "NaN", 1)
    with pytest.raises(ValueError, match="not finite"):
        import_quantizer(_write(tmp_path, text))
    with pytest.raises(ValueError, match="not a JSON vector-quantizer file"):
        import_quantizer(_write(tmp_path, "[1, 2]"))
    with pytest.raises(ValueError, match="not valid JSON"):
        import_quantizer(_write(tmp_path, '{"format": ' + "1" * 5000 + "}"))  # an integer too long to convert
    path = export_quantizer(codebook, tmp_path / "cb.json")
    with pytest.raises(ValueError, match="more than the limit of 100"):
        import_quantizer(path, max_bytes=100)
    with pytest.raises(ValueError, match="no such file"):
        import_quantizer(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="codewords, more than the limit"):
        codewords_for(21.0, 1)
    assert codewords_for(20.0, 1) == MAX_CODEWORDS


def test_the_codebook_refuses_bad_codewords_and_batches():
    with pytest.raises(ValueError, match="not finite"):
        Codebook([[0.0, np.nan]])
    with pytest.raises(ValueError, match="repeats a codeword"):
        Codebook([[0.0, 1.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"must be \[M, n\]"):
        Codebook([1.0, 2.0])
    cb = Codebook([[0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="dimension 3, this quantizer takes dimension 2"):
        cb.quantize(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="not finite"):
        cb.quantize([[np.inf, 0.0]])
    idx, x_hat = cb.quantize([0.9, 0.8])
    assert idx.tolist() == [1] and x_hat.tolist() == [[1.0, 1.0]]


def test_a_vector_quantizer_stands_where_an_iq_bank_stands(tmp_path):
    """adc.type = "vector": each antenna's (I, Q) pair quantized by a 2-D quantizer (a lattice, LBG, or a
    file), behind the ideal AGC; the receiver sees the reconstructions."""
    from hwsim.pipeline import Pipeline
    from hwsim.quantizers import lbg

    base = {"source": {"type": "users", "users": 2, "constellation": "qpsk"},
            "channel": {"type": "rayleigh", "antennas": 8, "frame_len": 20}, "receiver": {"type": "lmmse"}}
    link = Pipeline.from_tables({**base, "adc": {"type": "vector", "quantizer": "A2", "rate": 2.0}})
    link.check()
    idx, obs = link.observe(5, 10.0, np.random.default_rng(0))
    z = obs.r / obs.scale[:, None, :]
    book = link.adc.quantizer.codewords
    pairs = np.stack([z.real.ravel(), z.imag.ravel()], axis=1)
    assert np.abs(pairs[:, None, :] - book[None]).sum(-1).min(axis=1).max() < 1e-9  # every sample is a codeword
    assert len(book) == 16 and obs.adc is None
    errors = np.mean(link.receiver.detect(obs).indices != idx)
    assert errors < 0.05
    # a trained codebook from a file
    path = export_quantizer(lbg(np.random.default_rng(1).normal(size=(4000, 2)), 16, np.random.default_rng(2))[0],
                            tmp_path / "pair.json")
    from_file = Pipeline.from_tables({**base, "adc": {"type": "vector", "quantizer": str(path)}})
    _, obs = from_file.observe(2, 10.0, np.random.default_rng(0))
    assert np.all(np.isfinite(obs.r))
    path = export_quantizer(Codebook(np.eye(3)), tmp_path / "three.json")
    with pytest.raises(ValueError, match="a vector bank needs 2"):
        Pipeline.from_tables({**base, "adc": {"type": "vector", "quantizer": str(path)}})
    with pytest.raises(ValueError, match="more than the limit"):
        Pipeline.from_tables({**base, "adc": {"type": "vector", "rate": 11.0}})
