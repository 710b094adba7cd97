"""frugalnn.sparse.choose: the storage picked for a weight matrix, and that it computes W."""
import numpy as np
import pytest

from frugalnn import ops
from frugalnn.sparse import CSRMatrix, choose, linear

from .sparse_reference import check_product, random_sparse


def _apply(c, x):
    return linear(x, c) if isinstance(c, CSRMatrix) else ops.matmul(x, c)


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
    check_product(_apply(chosen, x).T, w, x.T)


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch"):
        choose(np.zeros((4, 4), np.float32), batch=0)
    with pytest.raises(TypeError, match="float32"):
        choose(np.zeros((4, 4)))
