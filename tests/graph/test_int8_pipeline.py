"""Activations stay u8 between int8 layers: which tensors become u8, and the whole chain
(quantize, u8 im2col with zero-point padding, requantizing epilogue, u8 max-pool, flatten,
dense) bit-exact against an integer emulation in numpy."""
import numpy as np
import pytest

from frugalnn.gemm import quantize_weights
from frugalnn.graph import Clip, Conv2d, Dense, Flatten, MaxPool2d, ReLU, Sequential, Session, compile

from .int8_emulation import im2col as _im2col, quantize as _quantize, requant_u8 as _requant_u8
from .models import mnist_cnn


def _tensor_dtypes(program):
    """{step name: dtype of the tensor it writes}"""
    core = program._core
    out = {}
    for i in range(core.num_steps):
        name, _, _, _, t = core.step_info(i)
        out[name] = core.tensor_info(t)[1]
    return out


def test_int8_layers_pass_u8_between_them():
    g = mnist_cnn()
    x = np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32)
    p = compile(g, precision="int8", calibration=x)
    steps = p.steps
    assert steps[0].kind == "quantize"  # the float input is quantized once, not per im2col tap
    dt = _tensor_dtypes(p)
    assert dt["conv1"] == dt["conv2"] == dt["fc1"] == "uint8"
    assert dt["fc2"] == "float32"  # its reader (softmax) takes floats


def test_a_float_layer_between_int8_layers_gets_a_quantize_step():
    g = mnist_cnn()
    x = np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32)
    p = compile(g, precision={"conv1": "int8", "conv2": "f32", "fc1": "int8", "fc2": "int8"},
                calibration=x)
    dt = _tensor_dtypes(p)
    assert dt["conv1"] == "float32" and dt["conv2"] == "float32"
    assert dt["fc1:quantize"] == "uint8" and dt["fc1"] == "uint8"
    kinds = [s.kind for s in p.steps]
    assert kinds.count("quantize") == 2


@pytest.mark.parametrize("fuse_pool", [True, False])
@pytest.mark.parametrize("clip", [None, (0.0, 0.5)])
def test_u8_chain_is_bit_exact_against_integer_emulation(fuse_pool, clip, isa):
    rng = np.random.default_rng(3)
    cin, cout, h = 3, 20, 9  # odd sizes: 9x9 pooled by 2 drops the last row and column
    wc = (rng.standard_normal((cout, cin, 3, 3)) * 0.3).astype(np.float32)
    bc = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    wd = (rng.standard_normal((7, cout * 4 * 4)) * 0.1).astype(np.float32)
    bd = (rng.standard_normal(7) * 0.1).astype(np.float32)
    act = [ReLU()] if clip is None else [Clip(*clip)]
    g = Sequential([Conv2d(wc, bc, padding="same", name="conv"), *act, MaxPool2d(2),
                    Flatten(), Dense(wd, bd, name="fc")], input_shape=(cin, h, h))
    x = (rng.standard_normal((5, cin, h, h)) * 1.5).astype(np.float32)
    p = compile(g, precision="int8", calibration=x, fuse_pool=fuse_pool)
    assert _tensor_dtypes(p)["conv"] == "uint8"
    got = Session(p, max_batch=5).run(x)

    (sc, zc), (sd, zd) = p.quantization["conv"], p.quantization["fc"]
    # conv: u8 input, zero-point padding, integer sums, requantized with fc's input parameters.
    qx = _quantize(x.transpose(0, 2, 3, 1), sc, zc)
    wq, ws = quantize_weights(np.ascontiguousarray(wc.transpose(2, 3, 1, 0).reshape(9 * cin, cout)))
    acc = (_im2col(qx, 3, 3, 1, zc) - zc) @ wq.astype(np.int64)
    qy = _requant_u8(acc, bc, sc, ws, sd, zd, relu=clip is None or clip[0] == 0.0)
    if clip is not None:  # a clamp on u8 is a clamp at the quantized bounds
        lo = np.clip(np.rint(np.float32(clip[0]) / np.float32(sd)) + zd, 0, 255)
        hi = np.clip(np.rint(np.float32(clip[1]) / np.float32(sd)) + zd, 0, 255)
        qy = np.clip(qy, lo, hi)
    qy = qy.reshape(5, h, h, cout)[:, :8, :8].reshape(5, 4, 2, 4, 2, cout).max(axis=(2, 4))
    # fc: the NHWC map flattened in place, f32 output.
    wdq, wds = quantize_weights(np.ascontiguousarray(
        wd.reshape(7, cout, 4, 4).transpose(0, 2, 3, 1).reshape(7, -1).T))
    acc = (qy.reshape(5, -1) - zd) @ wdq.astype(np.int64)
    ref = acc.astype(np.float32) * (np.float32(sd) * wds).astype(np.float32) + bd
    np.testing.assert_array_equal(got, ref)
