"""Binary (broadcasting element-wise ops), Transpose and Slice on the strided ``broadcast``
step: against numpy in float64 over shapes that exercise the channels-last storage of
(C, H, W) tensors (an SE gate, a per-pixel map, a last-axis vector, rank 2 and 4), odd and
size-1 dims, a constant on either side, the fused clamp, the .fnn round trip, and refusals."""
import numpy as np
import pytest

import frugalnn
from frugalnn.graph import Binary, Graph, GraphError, Session, Slice, Transpose, compile

F = np.float32
FNS = ["add", "sub", "mul", "div", "max", "min", "pow", "prelu"]
NUMPY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "max": np.maximum,
         "min": np.minimum, "pow": np.power, "prelu": lambda a, b: np.where(a < 0, a * b, a)}
PAIRS = [((4, 5, 3), (4, 1, 1)), ((4, 1, 1), (4, 5, 3)), ((4, 5, 3), (1, 5, 3)), ((4, 5, 3), (3,)),
         ((4, 5, 3), (5, 1)), ((7,), (7,)), ((2, 7), (7,)), ((2, 3, 4, 5), (3, 1, 5)), ((1, 5, 3), (4, 1, 1)),
         ((5, 1), (1, 3))]


def _x(shape, seed, positive=False):
    a = np.random.default_rng(seed).standard_normal((3,) + shape).astype(F)
    return np.abs(a) + 0.5 if positive else a


def _aligned(a, rank):
    """A batched array with its sample's axes right-aligned to ``rank`` (the batch stays first)."""
    return a.reshape((a.shape[0],) + (1,) * (rank - a.ndim + 1) + a.shape[1:])


def _run(g, *xs, batch=3):
    s = Session(compile(g), max_batch=batch)
    return s.run(xs[0]) if len(xs) == 1 else s.run(dict(zip(g.inputs, xs)))


def _close(got, want, fn):
    want = np.asarray(want, np.float64)
    tol = 4e-6 if fn == "pow" else 1e-6
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.abs(want).max())))


@pytest.mark.parametrize("fn", FNS)
@pytest.mark.parametrize("sa, sb", PAIRS)
def test_two_tensors_broadcast_as_numpy(fn, sa, sb):
    g = Graph()
    y = Binary(fn)(g.input("a", sa), g.input("b", sb))
    g.output(y, "y")
    a, b = _x(sa, 1, positive=fn == "pow"), _x(sb, 2, positive=fn in ("div", "pow"))
    rank = max(len(sa), len(sb))
    with np.errstate(all="ignore"):
        want = NUMPY[fn](_aligned(a, rank).astype(np.float64), _aligned(b, rank).astype(np.float64))
    _close(_run(g, a, b), want, fn)


@pytest.mark.parametrize("fn", ["sub", "div", "pow", "max"])
@pytest.mark.parametrize("first", [False, True])
def test_constant_operand_on_either_side(fn, first):
    shape, c = (4, 5, 3), np.linspace(0.5, 2.0, 15, dtype=F).reshape(5, 3)
    g = Graph()
    g.output(Binary(fn, c, constant_first=first)(g.input("x", shape)), "y")
    x = _x(shape, 3, positive=True)
    a, b = (c[None], x) if first else (x, c[None])
    _close(_run(g, x), NUMPY[fn](np.float64(a), np.float64(b)), fn)


def test_relu_after_binary_and_nan_propagation():
    g = Graph()
    g.output(Binary("max")(g.input("a", (3,)), g.input("b", (3,))), "y")
    a = np.array([[np.nan, 1, -np.inf]], F)
    b = np.array([[0, np.nan, 2]], F)
    got = Session(compile(g), max_batch=1).run({"a": a, "b": b})
    np.testing.assert_array_equal(np.isnan(got), np.isnan(np.maximum(a, b)))


@pytest.mark.parametrize("shape, perm", [((4, 5, 3), (1, 2, 0)), ((4, 5, 3), (2, 0, 1)), ((4, 5, 3), (0, 2, 1)),
                                         ((2, 3, 4, 5), (0, 2, 1, 3)), ((6, 7), (1, 0)), ((1, 5, 3), (2, 1, 0))])
def test_transpose_is_numpy_transpose(shape, perm):
    g = Graph()
    g.output(Transpose(perm)(g.input("x", shape)), "y")
    x = _x(shape, 4)
    np.testing.assert_array_equal(_run(g, x), np.transpose(x, (0,) + tuple(p + 1 for p in perm)))


@pytest.mark.parametrize("shape, starts, stops, steps", [
    ((4, 5, 3), (1, 0, 0), (3, 5, 3), (1, 2, 1)), ((4, 5, 3), (0, 1, 1), (4, 4, 3), (3, 1, 1)),
    ((9,), (2,), (9,), (3,)), ((2, 3, 4, 5), (1, 0, 1, 2), (2, 3, 4, 5), (1, 2, 2, 1))])
def test_slice_is_numpy_slicing(shape, starts, stops, steps):
    g = Graph()
    g.output(Slice(starts, stops, steps)(g.input("x", shape)), "y")
    x = _x(shape, 5)
    want = x[(slice(None),) + tuple(slice(a, b, k) for a, b, k in zip(starts, stops, steps))]
    np.testing.assert_array_equal(_run(g, x), want)


def test_fnn_round_trip(tmp_path):
    g = Graph()
    x = g.input("x", (4, 5, 3))
    gate = Binary("mul", np.full((4, 1, 1), 0.5, F))(x)
    h = Binary("add")(Transpose((0, 2, 1))(Transpose((0, 2, 1))(gate)), x)
    g.output(Slice((0, 1, 0), (4, 5, 3), (2, 1, 1))(h), "y")
    p = compile(g)
    frugalnn.save(p, tmp_path / "m.fnn")
    xs = _x((4, 5, 3), 6)
    want = Session(p, max_batch=3).run(xs)
    np.testing.assert_array_equal(Session(frugalnn.load(tmp_path / "m.fnn"), max_batch=3).run(xs), want)
    np.testing.assert_allclose(want, (xs * 1.5)[:, 0:4:2, 1:5, :], rtol=1e-6)


def test_refusals_name_the_layer():
    g = Graph()
    x = g.input("x", (4, 5, 3))
    with pytest.raises(GraphError, match="fn must be one of"):
        Binary("mod")
    with pytest.raises(GraphError, match="do not broadcast"):
        Binary("add", np.ones((2, 3), F))(x)
    with pytest.raises(GraphError, match="constant_first needs a constant"):
        Binary("sub", constant_first=True)
    with pytest.raises(GraphError, match="perm must be a permutation"):
        Transpose((0, 0, 1))
    with pytest.raises(GraphError, match="perm .* for a rank-3"):
        Transpose((1, 0))(x)
    with pytest.raises(GraphError, match="0 <= start < stop"):
        Slice((2,), (1,))
    with pytest.raises(GraphError, match="pass the shape"):
        Slice((0, 0, 0), (5, 5, 3))(x)
