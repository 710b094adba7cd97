"""_core.sgemm against float64 numpy, every transpose / accumulate / bias form, odd and edge
sizes, argument checks and thread-count independence."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import frugalnn
from frugalnn import _core


def sgemm(a, b, out, *, trans_a=False, trans_b=False, **kw):
    """The binding with the transposes as two flags."""
    _core.sgemm(a, b, out, trans="tn"[not trans_a] + "tn"[not trans_b], **kw)

SIZES = [(1, 1, 1), (1, 17, 3), (13, 1, 7), (7, 31, 1), (37, 29, 53), (64, 16, 1024),
         (5, 33, 513), (97, 61, 101)]


def _operands(rng, m, n, k, trans_a, trans_b):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    return a, b


def _ref(a, b, trans_a, trans_b):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64.T if trans_a else a64) @ (b64.T if trans_b else b64)


def _tol(k):
    return 1e-5 * max(1.0, np.sqrt(k)) * 4


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m,n,k", SIZES)
def test_sgemm_matches_float64(isa, m, n, k, trans_a, trans_b):
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    a, b = _operands(rng, m, n, k, trans_a, trans_b)
    bias = rng.standard_normal(n).astype(np.float32)
    ref = _ref(a, b, trans_a, trans_b)
    out = np.full((m, n), np.nan, np.float32)
    sgemm(a, b, out, trans_a=trans_a, trans_b=trans_b)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=_tol(k))
    sgemm(a, b, out, trans_a=trans_a, trans_b=trans_b, bias=bias)
    np.testing.assert_allclose(out, ref + bias, rtol=1e-5, atol=_tol(k))
    start = rng.standard_normal((m, n)).astype(np.float32)
    acc = start.copy()
    sgemm(a, b, acc, trans_a=trans_a, trans_b=trans_b, accumulate=True)
    np.testing.assert_allclose(acc, start + ref, rtol=1e-5, atol=_tol(k))


def test_sgemm_empty_dimensions():
    out = np.ones((0, 5), np.float32)
    sgemm(np.ones((0, 3), np.float32), np.ones((3, 5), np.float32), out)
    out = np.full((4, 5), 7.0, np.float32)
    sgemm(np.ones((4, 0), np.float32), np.ones((0, 5), np.float32), out)
    np.testing.assert_array_equal(out, 0.0)
    bias = np.arange(5, dtype=np.float32)
    sgemm(np.ones((4, 0), np.float32), np.ones((0, 5), np.float32), out, bias=bias)
    np.testing.assert_array_equal(out, np.broadcast_to(bias, (4, 5)))
    sgemm(np.ones((4, 0), np.float32), np.ones((0, 5), np.float32), out, accumulate=True)
    np.testing.assert_array_equal(out, np.broadcast_to(bias, (4, 5)))  # untouched


def test_sgemm_rejects_bad_arguments():
    a = np.ones((4, 3), np.float32)
    b = np.ones((3, 5), np.float32)
    out = np.empty((4, 5), np.float32)
    with pytest.raises(TypeError, match="a has dtype float64"):
        sgemm(a.astype(np.float64), b, out)
    with pytest.raises(TypeError, match="out has dtype"):
        sgemm(a, b, out.astype(np.float16))
    with pytest.raises(ValueError, match="inner dimensions"):
        sgemm(a, b, out, trans_b=True)
    with pytest.raises(ValueError, match="out has shape"):
        sgemm(a, b, np.empty((5, 4), np.float32))
    with pytest.raises(ValueError, match="b must be C-contiguous"):
        sgemm(a, np.ones((5, 3), np.float32).T, out)
    with pytest.raises(ValueError, match="a must be 2-D"):
        sgemm(np.ones(12, np.float32), b, out)
    with pytest.raises(ValueError, match="bias is not allowed"):
        sgemm(a, b, out, accumulate=True, bias=np.ones(5, np.float32))
    with pytest.raises(ValueError, match="bias has shape"):
        sgemm(a, b, out, bias=np.ones(4, np.float32))
    ro = np.empty((4, 5), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        sgemm(a, b, ro)
    with pytest.raises(ValueError, match="overlaps"):
        sq = np.ones((4, 4), np.float32)
        sgemm(sq, sq, sq)
    with pytest.raises(TypeError):
        sgemm(a.tolist(), b, out)  # no silent conversion


def test_sgemm_is_independent_of_threads():
    rng = np.random.default_rng(3)
    a, b = _operands(rng, 301, 77, 700, True, False)
    before = frugalnn.get_num_threads()
    outs = []
    try:
        for threads in (1, 2):
            frugalnn.set_num_threads(threads)
            out = np.empty((301, 77), np.float32)
            sgemm(a, b, out, trans_a=True)
            sgemm(a, b, out, trans_a=True, accumulate=True)
            outs.append(out)
    finally:
        frugalnn.set_num_threads(before)
    np.testing.assert_array_equal(outs[0], outs[1])


@settings(max_examples=30, deadline=None)
@given(m=st.integers(0, 40), n=st.integers(0, 40), k=st.integers(0, 70),
       trans_a=st.booleans(), trans_b=st.booleans(), accumulate=st.booleans())
def test_sgemm_shapes(m, n, k, trans_a, trans_b, accumulate):
    rng = np.random.default_rng(m + 41 * n + 1681 * k)
    a, b = _operands(rng, m, n, k, trans_a, trans_b)
    start = rng.standard_normal((m, n)).astype(np.float32)
    out = start.copy()
    sgemm(a, b, out, trans_a=trans_a, trans_b=trans_b, accumulate=accumulate)
    ref = _ref(a, b, trans_a, trans_b) + (start if accumulate else 0.0)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=_tol(k))
