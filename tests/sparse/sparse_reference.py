"""Oracles for the sparse tests: numpy / scipy, never the code under test."""
import numpy as np


def random_sparse(rows, cols, sparsity, seed=0, block=1):
    """A float32 rows x cols matrix with `sparsity` of its (1 x block) groups zeroed."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    groups = -(-cols // block)
    drop = rng.random((rows, groups)) < sparsity
    mask = np.repeat(drop, block, axis=1)[:, :cols]
    w[mask] = 0
    return w


def stored_values(w, values):
    """What a CSRMatrix of w multiplies: f32 as is, f16 rounded to nearest even, int8
    symmetric per row (scale = max|row| / 127, round half to even)."""
    if values == "f32":
        return w.copy()
    if values == "f16":
        return w.astype(np.float16).astype(np.float32)
    amax = np.abs(w).max(axis=1, keepdims=True)
    scale = np.where(amax > 0, amax / np.float32(127), np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127)
    return (q * scale).astype(np.float32)


def check_product(got, w_stored, x, bias=None, lo=-np.inf, hi=np.inf):
    """got == clip(w_stored @ x + bias) within a K-scaled float32 tolerance."""
    w64, x64 = w_stored.astype(np.float64), x.astype(np.float64)
    ref = w64 @ x64
    mag = np.abs(w64) @ np.abs(x64)
    if bias is not None:
        b = bias.astype(np.float64).reshape((-1,) + (1,) * (ref.ndim - 1))
        ref = ref + b
        mag = mag + np.abs(b)
    ref = np.clip(ref, lo, hi)
    # gamma_n bound of any summation order (n = terms per output), plus the epilogue roundings
    tol = np.finfo(np.float32).eps * (w_stored.shape[1] + 4) * mag + 1e-30
    err = np.abs(got.astype(np.float64) - ref)
    assert np.all(err <= tol), f"max error {err.max()} vs tolerance {tol[err > tol].min()}"
