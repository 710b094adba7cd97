"""frugalnn.sparse.choose: the storage picked for a weight matrix, and that it computes W."""
import numpy as np
import pytest

from frugalnn import ops
from frugalnn.sparse import CSRMatrix, choose, linear

from .sparse_reference import check_product, random_sparse


def test_dense_enough_stays_dense_without_timing():
    w = random_sparse(64, 80, 0.5, seed=1)
    chosen, table = choose(w, explain=True)
    assert isinstance(chosen, ops.PackedWeights) and chosen.shape == (80, 64)
    assert list(table) == ["dense"]


@pytest.mark.parametrize("block", [1, 4])
def test_sparse_candidates_are_timed_and_the_choice_computes_w(block):
    w = random_sparse(256, 512, 0.95, seed=2, block=block)
    chosen, table = choose(w, batch=4, explain=True)
    assert {"dense", "csr"} <= set(table)
    assert ("bsr1x4" in table) == (block == 4)  # random 1x1 zeros leave 1x4 blocks mostly empty
    for seconds, nbytes in table.values():
        assert seconds > 0 and nbytes > 0
    best = min(t for t, _ in table.values())
    if isinstance(chosen, CSRMatrix):
        name = "bsr1x4" if chosen.block == (1, 4) else "csr"
    else:
        name = "dense"
    assert table[name][0] <= best * 1.05
    x = np.random.default_rng(3).standard_normal((4, 512)).astype(np.float32)
    check_product(linear(x, chosen).T, w, x.T)  # one call runs any choice


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch"):
        choose(np.zeros((4, 4), np.float32), batch=0)
    with pytest.raises(TypeError, match="float32"):
        choose(np.zeros((4, 4)))


@pytest.mark.parametrize("values", ["f32", "f16", "int8"])
@pytest.mark.parametrize("activation", [None, "relu", "relu6"])
def test_linear_runs_every_candidate_with_bias_and_activation(values, activation):
    """linear(x, chosen, bias=, activation=) computes act(x @ W.T + b) for the dense
    candidate as for the sparse ones (reference: float64 numpy)."""
    rng = np.random.default_rng(5)
    w = random_sparse(48, 96, 0.9, seed=4)
    b = rng.standard_normal(48).astype(np.float32)
    x = rng.standard_normal((3, 96)).astype(np.float32)
    ref = x.astype(np.float64) @ w.T.astype(np.float64) + b
    lo, hi = {None: (-np.inf, np.inf), "relu": (0, np.inf), "relu6": (0, 6)}[activation]
    ref = np.clip(ref, lo, hi)
    dense = ops.pack_weights(np.ascontiguousarray(w.T), values)
    tol = {"f32": 1e-5, "f16": 3e-3, "int8": 3e-2}[values]
    for c in (dense, CSRMatrix(w, values=values)):
        y = linear(x, c, bias=b, activation=activation)
        assert y.shape == (3, 48)
        np.testing.assert_allclose(y, ref, atol=tol * np.abs(ref).max())
        out = np.empty((3, 48), np.float32)
        assert linear(x, c, bias=b, activation=activation, out=out) is out
        np.testing.assert_array_equal(out, y)
    packed_bias = ops.pack_weights(np.ascontiguousarray(w.T), "f32", bias=b)
    with pytest.raises(ValueError, match="already hold a bias"):
        linear(x, packed_bias, bias=b)
    np.testing.assert_allclose(linear(x, packed_bias, activation=activation), ref, atol=1e-5 * np.abs(ref).max())
