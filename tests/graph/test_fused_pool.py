"""Conv + activation + max-pool as one step: same results as two steps and as the
references (float64 for f32, an integer emulation for int8, bit for bit), at every ISA
level, on less memory."""
import numpy as np
import pytest

from frugalnn import reference
from frugalnn.graph import Conv2d, MaxPool2d, ReLU, Sequential, Session, compile

from .int8_emulation import conv_sums, dequant_f32, max_pool_nhwc, quantize
from .models import mnist_cnn


def _conv_pool(cin, cout, h, w, k, stride, padding, groups, pool, pool_stride=None):
    rng = np.random.default_rng(cin * 100 + h)
    wt = (rng.standard_normal((cout, cin // groups, k, k)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    return Sequential([Conv2d(wt, b, stride=stride, padding=padding, groups=groups), ReLU(),
                       MaxPool2d(pool, pool_stride)], input_shape=(cin, h, w))


GEOMETRIES = [
    dict(cin=1, cout=32, h=28, w=28, k=3, stride=1, padding="same", groups=1, pool=2),
    dict(cin=3, cout=17, h=13, w=11, k=3, stride=1, padding=1, groups=1, pool=2),   # odd: last row/col dropped
    dict(cin=4, cout=8, h=15, w=15, k=3, stride=2, padding=0, groups=1, pool=3),
    dict(cin=6, cout=12, h=10, w=9, k=1, stride=1, padding=0, groups=3, pool=2),    # grouped, pointwise
    dict(cin=2, cout=5, h=64, w=40, k=5, stride=1, padding=2, groups=1, pool=(2, 4)),  # unit > one tile
    dict(cin=2, cout=3, h=7, w=7, k=3, stride=1, padding=1, groups=1, pool=7),      # pooled to 1x1
    # Odd pool rows at batch 1 on 2 threads: units cut into column parts (uneven ones too).
    dict(cin=8, cout=20, h=14, w=14, k=3, stride=1, padding=1, groups=1, pool=2),
    dict(cin=3, cout=6, h=10, w=15, k=3, stride=1, padding=1, groups=1, pool=(2, 3)),
]


def _int8_emulation(g, program, x):
    """The fused step's output, emulated: quantize, integer sums, f32 epilogue, ReLU, max-pool."""
    conv, pool = g.nodes[0].layer, g.nodes[2].layer
    scale, zp = program.quantization[conv.name]
    _, _, h, w = x.shape
    acc, ws = conv_sums(quantize(x.transpose(0, 2, 3, 1), scale, zp), zp, conv, h, w)
    y = np.maximum(dequant_f32(acc, conv.bias, scale, ws), np.float32(0))
    return max_pool_nhwc(y, pool.kernel, pool.stride).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("geo", GEOMETRIES, ids=lambda d: f"{d['cin']}x{d['h']}x{d['w']}k{d['k']}p{d['pool']}")
@pytest.mark.parametrize("precision", ["f32", "int8"])
def test_fused_equals_unfused_and_reference(geo, precision, isa):
    g = _conv_pool(**geo)
    x = np.random.default_rng(1).standard_normal((3, geo["cin"], geo["h"], geo["w"])).astype(np.float32)
    fused = compile(g, precision=precision, calibration=x)
    plain = compile(g, precision=precision, calibration=x, fuse_pool=False)
    assert [s.kind for s in fused.steps if s.kind.startswith("conv")] == ["conv2d+maxpool2d"]
    assert all(s.kind != "maxpool2d" for s in fused.steps)
    for threads in (1, 2, 3):
        fused_s = Session(fused, max_batch=3, num_threads=threads)
        plain_s = Session(plain, max_batch=3, num_threads=threads)
        for batch in (1, 3):  # one image: few pool rows, split into column parts
            got, want = fused_s.run(x[:batch]), plain_s.run(x[:batch])
            if precision == "int8":  # integer sums: the tiling cannot change a bit
                np.testing.assert_array_equal(got, want)
            else:  # float kernels sum short tiles in split chains: last-ulp differences
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * np.abs(want).max())
    if precision == "f32":
        ref = reference.forward(g, x)[g.outputs[0]]
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    else:
        np.testing.assert_array_equal(got, _int8_emulation(g, fused, x))


def test_overlapping_or_padded_pools_are_not_fused():
    for pool, stride in [(3, 2), (2, 1)]:
        g = _conv_pool(2, 4, 9, 9, 3, 1, 1, 1, pool, stride)
        kinds = [s.kind for s in compile(g).steps]
        assert "maxpool2d" in kinds and "conv2d" in kinds


def test_fusion_never_stores_the_pre_pool_map():
    g = mnist_cnn()
    fused = Session(compile(g), max_batch=64).memory_report()
    plain = Session(compile(g, fuse_pool=False), max_batch=64).memory_report()
    # The 32 x 28 x 28 float map (6.4 MB at batch 64) is gone from the arena.
    assert fused.arena_bytes < plain.arena_bytes - 32 * 28 * 28 * 4 * 64 // 2
    assert fused.arena_bytes == fused.lower_bound
