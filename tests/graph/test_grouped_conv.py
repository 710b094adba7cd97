"""Grouped (not depthwise) convolutions at every ISA level and every weight precision. Each
group's GEMM writes a column slice of the output, rows oc apart: the path where a kernel
that ignored its output stride, or wrote past its columns, would corrupt the neighbouring
group. f32 / f16 / bf16 against the float64 reference with the stored (rounded) weights,
within the f32 error model; int8 bit-exact against the integer emulation, through a u8
tensor written by the first grouped conv and read by the second."""
import numpy as np
import pytest

from frugalnn import reference
from frugalnn.graph import Conv2d, Sequential, Session, compile

from . import error_model
from .int8_emulation import conv_sums, dequant_f32, quantize, requant_u8
from .test_int8_pipeline import _tensor_dtypes

# (input channels, size, first conv, second conv). Group widths 4 / 10 (below one SIMD
# tile) and 20 / 17 (one 16-wide tile plus a tail); 9 x 9 pixels x batch 3 = 243 GEMM rows.
CASES = {
    "og4-og10": (6, 9, dict(out=12, groups=3, k=3, padding=1),
                 dict(out=20, groups=2, k=3, stride=2, padding=(1, 2))),
    "og20-og17": (4, 9, dict(out=40, groups=2, k=1, padding=0),
                  dict(out=34, groups=2, k=3, dilation=2, padding=2)),
}


def _model(cin, size, first, second, seed=0):
    rng = np.random.default_rng(seed)
    layers, c = [], cin
    for i, spec in enumerate((first, second)):
        spec = dict(spec)
        out, groups, k = spec.pop("out"), spec.pop("groups"), spec.pop("k")
        w = (rng.standard_normal((out, c // groups, k, k)) * np.sqrt(2 / (c // groups * k * k))).astype(np.float32)
        b = (rng.standard_normal(out) * 0.1).astype(np.float32)
        layers.append(Conv2d(w, b, groups=groups, activation="relu" if i == 0 else None, name=f"conv{i + 1}",
                             **spec))
        c = out
    return Sequential(layers, input_shape=(cin, size, size))


def _int8_emulation(g, program, x):
    c1, c2 = g.nodes[0].layer, g.nodes[1].layer
    (s1, z1), (s2, z2) = program.quantization["conv1"], program.quantization["conv2"]
    _, _, h, w = x.shape
    acc, ws = conv_sums(quantize(x.transpose(0, 2, 3, 1), s1, z1), z1, c1, h, w)
    u8 = requant_u8(acc, c1.bias, s1, ws, s2, z2, relu=True)
    acc, ws = conv_sums(u8, z2, c2, u8.shape[1], u8.shape[2])
    return dequant_f32(acc, c2.bias, s2, ws).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("precision", ["f32", "f16", "bf16", "int8"])
def test_grouped_convs_at_every_isa_level(case, precision, isa):
    cin, size, first, second = CASES[case]
    g = _model(cin, size, first, second)
    x = np.random.default_rng(1).random((3, cin, size, size), dtype=np.float32)
    program = compile(g, precision=precision, calibration=x)
    assert all(s.precision == precision for s in program.steps if s.kind == "conv2d")
    got = Session(program, max_batch=3).run(x)
    if precision == "int8":
        assert _tensor_dtypes(program)["conv1"] == "uint8"
        np.testing.assert_array_equal(got, _int8_emulation(g, program, x))
    else:
        gr = error_model.rounded_weights(g, precision)
        ref, sigma = reference.forward_all(gr, x)["y"], error_model.f32_sigma(gr, x)["y"]
        assert error_model.within(got, ref, sigma), error_model.worst(got, ref, sigma)
