"""Version 1.0 .fnn files (tests/io/data/fnn_v1, written by the last v1 writer) still load,
run and give the outputs they gave then; saving one writes the current version."""
from pathlib import Path

import numpy as np
import pytest

import frugalnn
from frugalnn.graph import Session
from frugalnn.io.fnn import info

DATA = Path(__file__).parent / "data" / "fnn_v1"
FILES = sorted(p.stem for p in DATA.glob("*.fnn"))
EXPECTED = dict(np.load(DATA / "expected.npz"))
V1_KINDS = {"to_nhwc", "to_nchw", "dense", "sparse_dense", "conv2d", "depthwise_conv2d", "maxpool2d",
            "avgpool2d", "global_avgpool", "add", "clamp", "sigmoid", "softmax", "scale_shift",
            "concat", "quantize"}


def _arrays(name: str, which: str) -> dict:
    prefix = f"{name}/{which}/"
    return {k[len(prefix):]: v for k, v in EXPECTED.items() if k.startswith(prefix)}


def _run(program, x):
    y = Session(program, max_batch=3, num_threads=1).run(x)
    return y if isinstance(y, dict) else {"y": y}


def _check(name: str, got: dict):
    want = _arrays(name, "out")
    assert got.keys() == want.keys()
    for k in want:
        if name.endswith("int8"):
            # Integer kernels are bit-exact at every ISA level; the float functions after them
            # (a sigmoid head) are within an ulp or two (their vectorized exp, FMA contraction).
            np.testing.assert_allclose(got[k], want[k], rtol=3e-7, atol=0, err_msg=k)
        else:
            # Float sums in another order at another ISA level: a few ulps.
            np.testing.assert_allclose(got[k], want[k], rtol=2e-5, atol=2e-6, err_msg=k)


def test_the_corpus_holds_every_v1_step_kind_and_precision():
    kinds, precisions = set(), set()
    for name in FILES:
        p = frugalnn.load(DATA / f"{name}.fnn")
        assert info(DATA / f"{name}.fnn")["version"] == (1, 0)
        kinds |= {s.kind.split("+")[0] for s in p.steps}
        precisions |= {s.precision for s in p.steps}
    assert kinds == V1_KINDS
    assert precisions == {"f32", "f16", "bf16", "int8", "sparse"}


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("name", FILES)
def test_v1_file_runs_as_it_did(name, mmap):
    p = frugalnn.load(DATA / f"{name}.fnn", mmap=mmap)
    _check(name, _run(p, _arrays(name, "in")))


@pytest.mark.parametrize("name", FILES)
def test_saving_a_v1_program_writes_the_current_version(name, tmp_path):
    p = frugalnn.load(DATA / f"{name}.fnn")
    path = tmp_path / f"{name}.fnn"
    frugalnn.save(p, path)
    assert info(path)["version"][0] == frugalnn.io.fnn.FORMAT_VERSION[0]
    x = _arrays(name, "in")
    want = _run(p, x)
    got = _run(frugalnn.load(path), x)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
