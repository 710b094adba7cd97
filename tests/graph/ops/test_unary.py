"""The unary step family against numpy / math in float64: every function, its kinks and
extremes (0, +-inf, NaN, huge), a fused clamp, and refusals. Tolerances are a few float32
ulps of the result (these are libm calls on float32, correctly rounded to within ~1 ulp)."""
import math

import numpy as np
import pytest

from frugalnn.graph import Graph, GraphError, Session, Unary, compile
from frugalnn.graph.ops.unary import FUNCTIONS

F = np.float32
ERF = np.vectorize(math.erf)
DEF = {
    "leaky_relu": lambda x: np.where(x < 0, 0.1 * x, x),
    "elu": lambda x: np.where(x < 0, 0.7 * np.expm1(np.minimum(x, 0)), x),
    "tanh": np.tanh, "gelu": lambda x: 0.5 * x * (1 + ERF(x / math.sqrt(2))),
    "gelu_tanh": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "pow": lambda x: np.power(x, 3.0),
    "silu": lambda x: x / (1 + np.exp(-x)), "hard_sigmoid": lambda x: np.clip(float(F(0.2)) * x + 0.5, 0, 1),  # alpha as the layer stores it
    "softplus": lambda x: np.logaddexp(0, x), "abs": np.abs, "neg": np.negative, "reciprocal": lambda x: 1 / x,
    "erf": ERF, "quantize_dequantize": lambda x: (np.clip(np.rint(x / 0.05) + 3, 0, 255) - 3) * 0.05,
    "selu": lambda x: 1.0507 * np.where(x < 0, 1.6733 * np.expm1(np.minimum(x, 0)), x),
    "silu_quantized_gate": lambda x: x * (np.clip(np.rint(1 / (1 + np.exp(-x)) / (1 / 256)) + 2, 0, 255) - 2) / 256,
}
CONSTANTS = {"quantize_dequantize": (0.05, 3), "silu_quantized_gate": (1 / 256, 2), "leaky_relu": (0.1, 0), "elu": (0.7, 0), "pow": (3.0, 0), "hard_sigmoid": (0.2, 0.5),
             "selu": (1.6733, 1.0507)}


def _inputs(fn):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 64)) * 4).astype(F)
    if fn in ("log", "sqrt"):
        x = np.abs(x) + F(1e-3)
    x[0, :6] = [0, -0.0, 1e-30, -1e-30, 30, -30]
    return x


def test_every_function_is_covered():
    assert set(FUNCTIONS) == set(DEF)


@pytest.mark.parametrize("fn", sorted(DEF))
def test_matches_the_definition(fn):
    g = Graph()
    g.output(Unary(fn, *CONSTANTS.get(fn, (0, 0)))(g.input("x", (64,))), "y")
    x = _inputs(fn)
    got = Session(compile(g), max_batch=2).run(x)
    with np.errstate(all="ignore"):
        want = DEF[fn](np.float64(x))
    tol = 8 * np.finfo(F).eps
    # alpha * x + 0.5 cancels near 0: without an FMA (the scalar level) the rounded product
    # leaves an error of an ulp of the operands, not of the result.
    atol = tol * (0.5 if fn == "hard_sigmoid" else 1e-3)
    np.testing.assert_allclose(got, want, rtol=tol, atol=atol)


@pytest.mark.parametrize("fn", ["tanh", "exp", "silu", "gelu", "softplus", "elu", "sqrt", "log"])
def test_special_values(fn):
    g = Graph()
    g.output(Unary(fn, *CONSTANTS.get(fn, (0, 0)))(g.input("x", (4,))), "y")
    x = np.array([[np.inf, -np.inf, np.nan, 100]], F)
    got = Session(compile(g), max_batch=1).run(x)
    with np.errstate(all="ignore"):
        want = DEF[fn](np.float64(x)).astype(F)  # exp(100) is inf in float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = ~np.isnan(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-6)


def test_refusals():
    with pytest.raises(GraphError, match="fn must be one of"):
        Unary("cosh")
    with pytest.raises(GraphError, match="alpha must be a finite number"):
        Unary("pow", float("nan"))
