"""Codebook blobs in .fnn files: crafted files (checksums resealed, as an attacker would) with
a codebook reference or blob that lies are refused with a FormatError naming what is wrong."""
import struct

import numpy as np
import pytest

import frugalnn
from frugalnn import _core
from frugalnn.compress import codebook
from frugalnn.graph import Dense, Flatten, Sequential, Session, compile
from frugalnn.io.fnn import info


@pytest.fixture
def saved(tmp_path):
    """A one-layer 2-bit per-layer codebook program (K = 12, N = 5) as file bytes."""
    rng = np.random.default_rng(0)
    g = Sequential([Flatten(), Dense(rng.standard_normal((5, 12)).astype(np.float32),
                                     rng.standard_normal(5).astype(np.float32), name="d")], input_shape=(12,))
    path = tmp_path / "cb.fnn"
    frugalnn.save(compile(codebook(g, 2)), path)
    data = path.read_bytes()
    ref = struct.pack("<IBBBBQQ", 0, 4, 1, 2, 0, 12, 5)  # blob 0, codebook, bias, 2 bits, per layer
    assert data.count(ref) == 1
    return path, data, data.index(ref), info(path)["blobs"][0]


def _load(path, data):
    path.write_bytes(_core.fnn_reseal(bytes(data)))
    return frugalnn.load(path)


def test_the_file_loads_and_runs(saved):
    path, data, _, blob = saved
    assert blob["kind"] == "codebook_weights"
    program = _load(path, data)
    x = np.ones((1, 12), np.float32)
    assert Session(program, max_batch=1).run(x).shape == (1, 5)


@pytest.mark.parametrize("bits", [0, 1, 9, 255])
def test_bits_outside_2_to_8(saved, bits):
    path, data, at, _ = saved
    d = bytearray(data)
    d[at + 6] = bits
    with pytest.raises(frugalnn.FormatError, match=f"codebook bits {bits}, expected 2..8"):
        _load(path, d)


def test_bits_that_do_not_match_the_blob_size(saved):
    path, data, at, _ = saved
    d = bytearray(data)
    d[at + 6] = 5  # 16-byte index rows: a larger layout than the blob holds
    with pytest.raises(frugalnn.FormatError, match="codebook weights of K = 12, N = 5 take"):
        _load(path, d)


def test_per_channel_flag_that_does_not_match_the_blob_size(saved):
    path, data, at, _ = saved
    d = bytearray(data)
    d[at + 7] = 1
    with pytest.raises(frugalnn.FormatError, match="take .* bytes, the blob has"):
        _load(path, d)
    d[at + 7] = 2
    with pytest.raises(frugalnn.FormatError, match="a flag is 2"):
        _load(path, d)


def test_an_index_beyond_the_table(saved):
    path, data, _, blob = saved
    d = bytearray(data)
    d[blob["offset"] + 3] |= 0x40  # a high nibble of 4 or more with 2 bits
    with pytest.raises(frugalnn.FormatError, match=r"holds an index >= 2\^2"):
        _load(path, d)


def test_a_codebook_reference_to_a_packed_weights_blob(saved):
    path, data, at, _ = saved
    d = bytearray(data)
    d[at + 4] = 0  # kind f32 with a nonzero reserved field
    with pytest.raises(frugalnn.FormatError, match="reserved field"):
        _load(path, d)
    d[at + 6:at + 8] = b"\0\0"  # f32 reference to the codebook blob
    with pytest.raises(frugalnn.FormatError, match="holds the other kind of weights"):
        _load(path, d)
