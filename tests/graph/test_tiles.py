"""Fast or compact conv tiles, a planned choice: the same results either way (int8 bit for
bit), compact ones only where they shrink the arena under ``tiles="auto"`` (max_batch 1, or
a budget the fast plan passes), the choice visible in ``memory_report()``, and the document's
CNN at batch 1 in less memory than TensorFlow Lite Micro's arena."""
from pathlib import Path

import numpy as np
import pytest

from frugalnn.graph import Conv2d, GlobalAvgPool, MaxPool2d, ReLU, Sequential, Session, compile
from frugalnn.io import load_tflite

from ..tflm_arena import tflm_arena
from .models import he, residual_cnn, small

PEERS = Path(__file__).resolve().parent.parent / "io" / "data" / "peers"


def _conv(cin, cout, h, w, k, stride, padding, groups, pool):
    rng = np.random.default_rng(cin * 31 + h)
    wt = (rng.standard_normal((cout, cin // groups, k, k)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    layers = [Conv2d(wt, b, stride=stride, padding=padding, groups=groups), ReLU()]
    return Sequential(layers + ([MaxPool2d(pool)] if pool else []), input_shape=(cin, h, w))


GEOMETRIES = [  # im2col convs, with and without a fused pool; tiles of one row to many
    dict(cin=1, cout=32, h=28, w=28, k=3, stride=1, padding="same", groups=1, pool=2),
    dict(cin=32, cout=64, h=14, w=14, k=3, stride=1, padding="same", groups=1, pool=2),
    dict(cin=3, cout=17, h=13, w=11, k=3, stride=1, padding=1, groups=1, pool=0),
    dict(cin=4, cout=8, h=23, w=19, k=5, stride=2, padding=2, groups=2, pool=0),
    dict(cin=2, cout=5, h=64, w=40, k=3, stride=1, padding=1, groups=1, pool=(2, 4)),
    dict(cin=2, cout=3, h=1, w=1, k=3, stride=1, padding=1, groups=1, pool=0),
]


def _same(got, want, precision):
    if precision == "int8":  # integer sums: tiling cannot change a bit
        np.testing.assert_array_equal(got, want)
    else:  # a row's float sum may differ in the last bit with the GEMM tile it falls in
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("geo", GEOMETRIES, ids=lambda d: f"{d['cin']}x{d['h']}x{d['w']}k{d['k']}p{d['pool']}")
@pytest.mark.parametrize("precision", ["f32", "int8"])
def test_compact_tiles_compute_what_fast_ones_do(geo, precision):
    g = _conv(**geo)
    x = np.random.default_rng(1).standard_normal((3, geo["cin"], geo["h"], geo["w"])).astype(np.float32)
    program = compile(g, precision=precision, calibration=x)
    for threads in (1, 2):
        fast = Session(program, max_batch=3, num_threads=threads, tiles="fast")
        compact = Session(program, max_batch=3, num_threads=threads, tiles="compact")
        for batch in (1, 3):
            _same(compact.run(x[:batch]), fast.run(x[:batch]), precision)
        assert compact.memory_report().arena_bytes <= fast.memory_report().arena_bytes


def _seed_cnn(precision):
    g = load_tflite(PEERS / f"seed_cnn_keras_{precision}.tflite")
    return compile(g, precision="int8") if precision == "int8" else compile(g)


@pytest.mark.parametrize("precision", ["f32", "int8"])
def test_auto_takes_compact_tiles_at_batch_1_where_they_shrink_the_arena(precision):
    program = _seed_cnn(precision)
    auto = Session(program, max_batch=1)
    fast = Session(program, max_batch=1, tiles="fast")
    report = auto.memory_report()
    # Only the second conv's tiles sit at the arena's peak: the first conv keeps fast ones.
    convs = [s.name for s in program.steps if s.kind.startswith("conv2d")]
    assert report.compact_steps == convs[1:]
    assert report.arena_bytes < fast.memory_report().arena_bytes == report.fast_tiles_arena_bytes
    assert fast.memory_report().compact_steps == []
    assert "compact tiles in 1 step(s)" in str(report)
    assert [line.endswith(" *") for line in str(report).splitlines()].count(True) == 1
    x = np.random.default_rng(0).random((1,) + tuple(program.inputs[0].shape[1:])).astype(np.float32)
    _same(auto.run(x), fast.run(x), precision)
    # Above batch 1 with no budget: fast tiles everywhere.
    assert Session(program, max_batch=2).memory_report().compact_steps == []


def test_auto_keeps_fast_tiles_where_compact_ones_save_nothing():
    # The peak is the pointwise conv's wide output, which has no tiles: the 3x3 conv's
    # tiles come and go below it.
    rng = np.random.default_rng(3)
    g = Sequential([Conv2d(he(rng, 8, 3, 3, 3), small(rng, 8), padding=1), ReLU(),
                    Conv2d(he(rng, 256, 8, 1, 1), small(rng, 256)), GlobalAvgPool()], input_shape=(3, 16, 16))
    report = Session(compile(g), max_batch=1).memory_report()
    assert report.arena_bytes == report.fast_tiles_arena_bytes
    assert report.compact_steps == [] and "compact tiles" not in str(report)


def test_auto_compact_tiles_shrink_a_residual_cnn():
    program = compile(residual_cnn())
    report = Session(program, max_batch=1).memory_report()
    assert report.compact_steps and report.arena_bytes < report.fast_tiles_arena_bytes


def test_a_budget_only_compact_tiles_fit_picks_them():
    program = _seed_cnn("f32")
    fast = Session(program, max_batch=2, tiles="fast").memory_report().arena_bytes
    compact = Session(program, max_batch=2, tiles="compact").memory_report().arena_bytes
    assert compact < fast
    s = Session(program, max_batch=2, budget=compact)
    assert s.memory_report().arena_bytes <= compact and s.memory_report().compact_steps
    assert s.clone().memory_report().arena_bytes == s.memory_report().arena_bytes
    with pytest.raises(MemoryError, match="over the budget"):
        Session(program, max_batch=2, budget=compact, tiles="fast")


def test_tiles_is_checked():
    program = _seed_cnn("f32")
    with pytest.raises(ValueError, match="tiles must be 'auto', 'fast' or 'compact'"):
        Session(program, max_batch=1, tiles="small")


@pytest.mark.parametrize("precision, ratio", [("int8", 0.9), ("f32", 1.0)])
def test_batch_1_arena_below_tensorflow_lite_micro(precision, ratio):
    """Issue 18's memory goal: the int8 plan <= 0.9x TFLM's arena, the f32 plan <= 1.0x (TFLM's
    arena includes its bookkeeping; ours is activations and scratch, weights apart as theirs)."""
    tflm = tflm_arena(PEERS / f"seed_cnn_keras_{precision}.tflite")
    if tflm is None:
        pytest.skip("tflite-micro is not installed")
    ours = Session(_seed_cnn(precision), max_batch=1).memory_report().arena_bytes
    assert ours <= ratio * tflm, (ours, tflm)
