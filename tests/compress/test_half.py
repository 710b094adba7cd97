"""16-bit weights: the rounding against exact float64 arithmetic, compiled output against the
float reference of the rounded graph, the accuracy on digits-28, and bad input."""
from __future__ import annotations

import numpy as np
import pytest

from frugalnn import models, reference
from frugalnn.compress import half, quantize
from frugalnn.compress.half import round_bf16
from frugalnn.graph import BatchNorm, Conv2d, Dense, Flatten, ReLU, Sequential, Session, compile
from tests.compress.common import accuracy

rng = np.random.default_rng(7)


def _nearest_bf16(v: float) -> float:
    """The nearest bfloat16 by exhaustive comparison of the two neighbours (ties: even)."""
    bits = int(np.float32(v).view(np.uint32))
    lo = np.uint32(bits & 0xFFFF0000).view(np.float32)
    hi = np.uint32((bits & 0xFFFF0000) + 0x10000).view(np.float32)
    d_lo, d_hi = abs(float(v) - float(lo)), abs(float(hi) - float(v))
    if d_lo != d_hi:
        return float(lo if d_lo < d_hi else hi)
    return float(lo if (bits >> 16) % 2 == 0 else hi)


def test_round_bf16_is_nearest_ties_to_even():
    v = np.concatenate([rng.standard_normal(2000).astype(np.float32) * 10.0 ** rng.integers(-20, 20, 2000),
                        np.array([0.0, -0.0, 1.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.0e38, -1e-40], np.float32)])
    got = round_bf16(v)
    want = np.array([_nearest_bf16(float(a)) for a in v], np.float32)
    np.testing.assert_array_equal(got, want)


def _bn_net():
    def w(*s):
        return (rng.standard_normal(s) * 0.3).astype(np.float32)
    c = 6
    bn = BatchNorm(rng.random(c, dtype=np.float32) + 0.5, w(c), w(c), rng.random(c, dtype=np.float32) + 0.5,
                   name="bn")
    return Sequential([Conv2d(w(c, 3, 3, 3), w(c), padding=1, name="conv"), bn, ReLU(), Flatten(),
                       Dense(w(10, c * 81), w(10), name="fc")], input_shape=(3, 9, 9))


@pytest.mark.parametrize("kind", ["f16", "bf16"])
@pytest.mark.parametrize("net", [models.mnist_cnn, _bn_net])
def test_compiled_half_graph_matches_its_reference(kind, net):
    g = net()
    h = half(g, kind)
    program = compile(h)
    assert {s.precision for s in program.steps if s.kind.startswith(("conv", "dense"))} == {kind}
    assert program.weight_bytes < 0.55 * compile(g).weight_bytes
    x = rng.random((5,) + tuple(g.inputs[next(iter(g.inputs))]), dtype=np.float32)
    (out,) = h.outputs
    # the rounded weights are what the kernels use: only the summation order differs
    np.testing.assert_allclose(Session(program, max_batch=5).run(x), reference.forward(h, x)[out],
                               rtol=2e-5, atol=2e-6)
    # the original graph is untouched
    assert all(getattr(n.layer, "precision", None) is None for n in g.nodes)


def test_half_graph_is_what_precision_f16_packs():
    g = models.mnist_cnn()
    x = rng.random((3, 1, 28, 28), dtype=np.float32)
    a = Session(compile(half(g)), max_batch=3).run(x)
    b = Session(compile(g, precision="f16"), max_batch=3).run(x)
    np.testing.assert_array_equal(a, b)


def test_accuracy_within_a_tenth_of_a_point(trained):
    g, _, (xt, yt) = trained
    f32 = accuracy(compile(g), xt, yt)
    for kind in ("f16", "bf16"):
        assert accuracy(compile(half(g, kind)), xt, yt) >= f32 - (0.001 if kind == "f16" else 0.005)


def test_keep_and_int8_layers_stay():
    g = models.mnist_cnn()
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    h = half(quantize(g, x, keep_float=["fc2"]), "f16", keep=["conv1"])
    prec = {n.layer.name: n.layer.precision for n in h.nodes if n.layer.op in ("dense", "conv2d")}
    assert prec == {"conv1": "int8", "conv2": "int8", "fc1": "int8", "fc2": "f16"}
    h = half(g, keep=["conv1"])
    assert {n.layer.name: n.layer.precision for n in h.nodes if n.layer.op in ("dense", "conv2d")}["conv1"] is None


def test_bad_input():
    g = models.mnist_cnn()
    with pytest.raises(ValueError, match="kind"):
        half(g, "f8")
    with pytest.raises(ValueError, match="keep"):
        half(g, keep=["nope"])
    big = Sequential([Dense(np.full((2, 4), 1e5, np.float32), name="big")], input_shape=(4,))
    with pytest.raises(ValueError, match="big.*float16"):
        half(big)
    assert half(big, "bf16").nodes[0].layer.precision == "bf16"
