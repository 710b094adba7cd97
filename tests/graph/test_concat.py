"""Concat along every per-sample axis and rank, in the layouts compile picks (spatial 3-D
maps run channels-last, the rest in logical order), against np.concatenate."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from frugalnn.graph import Concat, Conv2d, Graph, GraphError, ReLU, Reshape, Session, compile


@st.composite
def concat_cases(draw):
    rank = draw(st.integers(1, 4))
    shape = draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank))
    axis = draw(st.integers(-rank, rank - 1))
    sizes = draw(st.lists(st.integers(1, 4), min_size=2, max_size=3))
    batch = draw(st.integers(1, 3))  # an empty batch is refused by run()
    return shape, axis, sizes, batch


def _shapes(shape, axis, sizes):
    out = []
    for n in sizes:
        s = list(shape)
        s[axis] = n
        out.append(tuple(s))
    return out


@settings(max_examples=150, deadline=None)
@given(concat_cases())
def test_concat_matches_numpy(case):
    shape, axis, sizes, batch = case
    g = Graph()
    ins = [g.input(f"x{i}", s) for i, s in enumerate(_shapes(shape, axis, sizes))]
    g.output(ReLU()(Concat(axis)(*ins)), "y")  # ReLU: the concat writes an arena tensor
    rng = np.random.default_rng(len(shape) * 7 + axis)
    xs = {f"x{i}": rng.standard_normal((batch,) + s).astype(np.float32)
          for i, s in enumerate(_shapes(shape, axis, sizes))}
    y = Session(compile(g), max_batch=3).run(xs)
    ref = np.maximum(np.concatenate(list(xs.values()), axis=1 + axis % len(shape)), 0)
    assert y.shape == ref.shape
    np.testing.assert_array_equal(y, ref)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_concat_of_conv_maps(axis):
    # Conv outputs are channels-last inside; the concatenated map goes back to NCHW.
    rng = np.random.default_rng(axis)
    g = Graph()
    x = g.input("x", (2, 6, 5))
    a = Conv2d(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), padding=1)(x)
    b = Conv2d(rng.standard_normal((3, 2, 1, 1)).astype(np.float32))(x)
    g.output(Concat(axis)(a, b), "y")
    xs = rng.standard_normal((4, 2, 6, 5)).astype(np.float32)
    from frugalnn import reference
    ref = reference.forward(g, xs)
    ref = ref["y"] if isinstance(ref, dict) else ref
    y = Session(compile(g), max_batch=4).run(xs)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_concat_after_reshape_to_rank_2():
    g = Graph()
    x = g.input("x", (12,))
    a = Reshape((3, 4))(x)
    b = Reshape((3, 4))(g.input("z", (12,)))
    g.output(Concat(1)(a, b), "y")
    xs = {"x": np.arange(24, dtype=np.float32).reshape(2, 12), "z": -np.arange(24, dtype=np.float32).reshape(2, 12)}
    y = Session(compile(g), max_batch=2).run(xs)
    ref = np.concatenate([xs["x"].reshape(2, 3, 4), xs["z"].reshape(2, 3, 4)], axis=2)
    np.testing.assert_array_equal(y, ref)


@pytest.mark.parametrize("shapes, axis, match", [
    ([(3, 4), (3, 5)], 0, "differ beyond axis 0"),
    ([(3, 4), (3, 4, 1)], 0, "differ in rank"),
    ([(3, 4), (3, 4)], 2, "out of range"),
    ([(3, 4), (3, 4)], -3, "out of range"),
])
def test_concat_shape_errors(shapes, axis, match):
    g = Graph()
    ins = [g.input(f"x{i}", s) for i, s in enumerate(shapes)]
    with pytest.raises(GraphError, match=match):
        Concat(axis)(*ins)
