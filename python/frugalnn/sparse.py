"""Sparse weights for pruned layers: CSR and 1x4 block-sparse (BSR) matrices and SpMM.

A :class:`CSRMatrix` holds a weight matrix W (rows x cols, e.g. a dense layer's
out_features x in_features) in pool memory: row pointers (uint32), column indices (uint16
when the inner dimension allows, else uint32) and values (f32, or f16, or int8 with one
scale per row). It is validated once when built; every call trusts it.

Two products, neither transposing anything per call on the caller's side:

* :func:`spmm` / ``W @ X``: ``Y = W @ X`` with X dense (cols x N), as scipy's ``csr @ dense``;
* :func:`linear`: ``Y = X @ W.T`` with X a batch of rows (B x cols), the dense-layer form.

Both fuse a per-row bias and ReLU / ReLU6, accept ``out=``, release the GIL, split work over
threads by stored nonzeros, and take their scratch from the kernels' scratch pool.

Blocks: ``block=(1, 4)`` stores 4 consecutive columns per index (zeros inside a kept block
are stored). One index per 4 values cuts index bytes and lets the batch-1 kernel load 4
contiguous activations at once; prune with ``CSRMatrix.prune(w, 0.9, block=(1, 4))`` to get
blocks that are full.
"""
from __future__ import annotations

import math
from typing import Optional, Union

import numpy as np

from . import _core
from ._timing import median_seconds
from .gemm import _ACTIVATIONS, PackedWeights, _as_float32_vector, _output, matmul, pack_weights
from .memory import Pool, default_pool

__all__ = ["CSRMatrix", "choose", "linear", "spmm"]

_VALUES = ("f32", "f16", "int8")
_BLOCKS = ((1, 1), (1, 4))
_F16_MAX = 65504.0


def _check_block(block: object) -> int:
    try:
        b = tuple(int(v) for v in block)  # type: ignore[union-attr]
    except TypeError:
        raise TypeError(f"block must be a (rows, cols) tuple, got {block!r}") from None
    if b not in _BLOCKS:
        raise ValueError(f"block must be one of {_BLOCKS}, got {b}")
    return b[1]


def _check_values(values: str) -> str:
    if values not in _VALUES:
        raise ValueError(f"values must be one of {_VALUES}, got {values!r}")
    return values


def _check_dense(w: object) -> np.ndarray:
    if not isinstance(w, np.ndarray):
        raise TypeError(f"w must be a numpy.ndarray, got {type(w).__name__}")
    if w.dtype != np.float32:
        raise TypeError(f"w must be float32, got {w.dtype} (no implicit casts)")
    if w.ndim != 2:
        raise ValueError(f"w must be 2-D (rows x cols), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("w contains NaN or infinity")
    return w


def _blocks_of(w: np.ndarray, bk: int) -> np.ndarray:
    """w (rows x cols) as rows x ceil(cols / bk) x bk, zero-padded."""
    rows, cols = w.shape
    pad = -cols % bk
    if pad:
        w = np.concatenate([w, np.zeros((rows, pad), np.float32)], axis=1)
    return w.reshape(rows, (cols + pad) // bk, bk)


def _arrays_from_mask(wb: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, block indices, values) of the blocks of wb where keep is True, row-major."""
    rows_i, cols_i = np.nonzero(keep)
    indptr = np.zeros(wb.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows_i, minlength=wb.shape[0]), out=indptr[1:])
    return indptr, cols_i.astype(np.int64), np.ascontiguousarray(wb[rows_i, cols_i]).reshape(-1)


class CSRMatrix:
    """A sparse weight matrix (rows x cols) in the SpMM kernels' storage.

    Build it from:

    * a dense 2-D float32 array (exact zeros dropped; with ``block=(1, 4)`` every group of 4
      columns that has a nonzero is kept whole);
    * any object with ``indptr``, ``indices``, ``data`` and ``shape`` (scipy's CSR matrix or
      array, without importing scipy), or with ``blocksize == (1, 4)`` as well (scipy BSR);
      float32 or float16 data; indices sorted within each row, no duplicates;
    * :meth:`prune`, which keeps the largest magnitudes of a dense matrix.

    Args:
        values: ``"f32"``; ``"f16"`` (rounded to nearest even, half the value bytes);
            ``"int8"`` (symmetric per row, ``scale = max|w_row| / 127``, a quarter).
        block: ``(1, 1)`` (CSR) or ``(1, 4)`` (four consecutive columns per index).
        pool: the pool that holds the bytes (default: ``frugalnn.default_pool()``).

    Raises ``ValueError`` naming what is wrong and where (row, entry) for malformed arrays:
    ``indptr`` not starting at 0, decreasing or not matching the entries, indices out of
    range, unsorted or duplicated within a row, non-finite values.
    """

    __slots__ = ("_core", "_shape", "_bk")

    def __init__(
        self,
        matrix: object,
        *,
        values: str = "f32",
        block: Optional[tuple[int, int]] = None,
        pool: Optional[Pool] = None,
    ) -> None:
        values = _check_values(values)
        if pool is not None and not isinstance(pool, Pool):
            raise TypeError(f"pool must be a frugalnn.Pool, got {type(pool).__name__}")
        if isinstance(matrix, np.ndarray):
            bk = _check_block(block if block is not None else (1, 1))
            w = _check_dense(matrix)
            wb = _blocks_of(w, bk)
            indptr, indices, data = _arrays_from_mask(wb, np.any(wb != 0, axis=2))
            shape = w.shape
        elif all(hasattr(matrix, a) for a in ("indptr", "indices", "data", "shape")):
            bs = tuple(getattr(matrix, "blocksize", (1, 1)))
            if bs not in _BLOCKS:
                raise ValueError(f"the matrix has blocksize {bs}; supported blocks are {_BLOCKS}")
            bk = bs[1]
            if block is not None and _check_block(block) != bk:
                raise ValueError(f"block={tuple(block)} but the matrix has blocksize {bs}")
            shape = tuple(int(s) for s in matrix.shape)  # type: ignore[attr-defined]
            indptr = self._index_array("indptr", matrix.indptr)  # type: ignore[attr-defined]
            indices = self._index_array("indices", matrix.indices)  # type: ignore[attr-defined]
            data = np.asarray(matrix.data)  # type: ignore[attr-defined]
            if data.dtype not in (np.float32, np.float16):
                raise TypeError(f"data must be float32 or float16, got {data.dtype} (no implicit casts)")
            data = np.ascontiguousarray(data, np.float32).reshape(-1)
        else:
            raise TypeError(
                "matrix must be a 2-D float32 numpy array or have indptr/indices/data/shape "
                f"(e.g. scipy.sparse.csr_matrix), got {type(matrix).__name__}"
            )
        if len(shape) != 2 or min(shape) < 0:
            raise ValueError(f"shape must be (rows, cols), got {shape}")
        self._store(shape, bk, values, indptr, indices, data, pool)

    def _store(self, shape, bk: int, values: str, indptr: np.ndarray, indices: np.ndarray,
               data: np.ndarray, pool: Optional[Pool]) -> None:
        """Validate and copy the arrays into the native matrix (the one place that does)."""
        if values == "f16" and data.size and np.abs(data).max() > _F16_MAX:
            raise ValueError(f"values beyond the float16 range (|w| <= {_F16_MAX}) cannot be stored as f16")
        core_pool = (pool or default_pool())._core
        self._core = _core.sparse_matrix(shape[0], shape[1], bk, values, indptr, indices, data, core_pool)
        self._shape = (int(shape[0]), int(shape[1]))
        self._bk = bk

    @staticmethod
    def _index_array(name: str, a: object) -> np.ndarray:
        arr = np.asarray(a)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must be a 1-D integer array, got {arr.dtype} {arr.shape}")
        return np.ascontiguousarray(arr, np.int64)

    @classmethod
    def prune(
        cls,
        w: np.ndarray,
        sparsity: float = 0.9,
        *,
        block: tuple[int, int] = (1, 1),
        values: str = "f32",
        pool: Optional[Pool] = None,
    ) -> "CSRMatrix":
        """Magnitude pruning of a dense float32 matrix: keep the largest ``1 - sparsity``.

        With ``block=(1, 1)`` single weights are ranked by ``|w|``; with ``block=(1, 4)``
        groups of 4 consecutive columns are ranked by their L2 norm and kept or dropped
        whole, so the kept blocks are full. Ties are broken by position (stable).
        """
        bk = _check_block(block)
        w = _check_dense(w)
        s = float(sparsity)
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
        wb = _blocks_of(w, bk)
        score = np.sqrt(np.square(wb, dtype=np.float64).sum(axis=2)) if bk > 1 else np.abs(wb[..., 0])
        keep_n = int(round((1.0 - s) * score.size))
        keep = np.zeros(score.size, bool)
        if keep_n > 0:
            order = np.argsort(-score.reshape(-1), kind="stable")
            keep[order[:keep_n]] = True
        keep = keep.reshape(score.shape) & np.any(wb != 0, axis=2)
        if pool is not None and not isinstance(pool, Pool):
            raise TypeError(f"pool must be a frugalnn.Pool, got {type(pool).__name__}")
        obj = cls.__new__(cls)
        obj._store(w.shape, bk, _check_values(values), *_arrays_from_mask(wb, keep), pool)
        return obj

    # ---- what it holds ------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def block(self) -> tuple[int, int]:
        return (1, self._bk)

    @property
    def values(self) -> str:
        """``"f32"``, ``"f16"`` or ``"int8"``."""
        return self._core.values

    @property
    def index_dtype(self) -> np.dtype:
        return np.dtype(self._core.index_dtype)

    @property
    def nnz(self) -> int:
        """Stored values (with blocks: every value of every kept block, zeros included)."""
        return self._core.nblocks * self._bk

    @property
    def density(self) -> float:
        """Stored values / (rows x cols)."""
        size = self._shape[0] * self._shape[1]
        return self.nnz / size if size else 0.0

    @property
    def nbytes(self) -> int:
        """Pool bytes held: row pointers, indices, values and (int8) row scales."""
        return self._core.nbytes

    @property
    def indptr(self) -> np.ndarray:
        """Row pointers (rows + 1, uint32), read-only view of the stored bytes."""
        return self._core.indptr

    @property
    def indices(self) -> np.ndarray:
        """Block column indices (uint16 or uint32); block b covers columns
        ``indices[b] * bk .. + bk - 1``. Read-only view."""
        return self._core.indices

    @property
    def data(self) -> np.ndarray:
        """Stored values (nblocks x bk; float32, float16 or int8), read-only view."""
        return self._core.data

    @property
    def row_scales(self) -> Optional[np.ndarray]:
        """int8 values: the per-row scales; else ``None``."""
        return self._core.row_scales

    def to_dense(self) -> np.ndarray:
        """The stored matrix as dense float32 (after f16 / int8 rounding)."""
        rows, cols = self._shape
        bk = self._bk
        out = np.zeros((rows, -(-cols // bk) * bk), np.float32)
        indptr = self.indptr.astype(np.int64)
        r = np.repeat(np.arange(rows), np.diff(indptr))
        c = self.indices.astype(np.int64)[:, None] * bk + np.arange(bk)
        out[r[:, None], c] = self._core.values_f32()
        return out[:, :cols]

    # ---- products -----------------------------------------------------------------------
    def matmul(self, x: np.ndarray, *, bias: Optional[np.ndarray] = None,
               activation: Optional[str] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
        """``W @ x``: see :func:`spmm`."""
        return spmm(self, x, bias=bias, activation=activation, out=out)

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        return spmm(self, x)

    def __repr__(self) -> str:
        return (f"CSRMatrix(shape={self._shape}, block={self.block}, values={self.values!r}, "
                f"nnz={self.nnz}, density={self.density:.3f}, index={self.index_dtype}, "
                f"nbytes={self.nbytes})")


def _check_matrix(w: object) -> CSRMatrix:
    if not isinstance(w, CSRMatrix):
        raise TypeError(f"w must be a frugalnn.sparse.CSRMatrix, got {type(w).__name__}")
    return w


def _check_x(x: object, axis: int, k: int) -> tuple[np.ndarray, bool]:
    """x as 2-D with K along `axis`, and whether it came in 1-D."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise TypeError(f"x must be float32, got {x.dtype} (no implicit casts)")
    vector = x.ndim == 1
    if vector:
        x = x.reshape((-1, 1) if axis == 0 else (1, -1))
    if x.ndim != 2:
        raise ValueError(f"x must be 1-D or 2-D, got shape {x.shape}")
    if x.shape[axis] != k:
        what = "rows" if axis == 0 else "columns"
        raise ValueError(f"x has {x.shape[axis]} {what} but W has {k} columns")
    if not x.flags.c_contiguous:
        raise ValueError("x must be C-contiguous (pass np.ascontiguousarray(x))")
    return x, vector


def _epilogue(w: CSRMatrix, bias: Optional[np.ndarray], activation: Optional[str]):
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(_ACTIVATIONS)}, got {activation!r}")
    lo, hi = _ACTIVATIONS[activation]
    b = None if bias is None else _as_float32_vector("bias", bias, w.shape[0])
    return b, lo, hi


def spmm(w: CSRMatrix, x: np.ndarray, *, bias: Optional[np.ndarray] = None,
         activation: Optional[str] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``Y = act(W @ x + bias[:, None])``: x is dense float32 (cols,) or (cols x N), C-contiguous.

    Returns (rows,) or (rows x N) float32 (``out`` if given: float32, that shape,
    C-contiguous, not overlapping x). ``activation``: ``None``, ``"relu"`` or ``"relu6"``.
    """
    w = _check_matrix(w)
    rows, cols = w.shape
    x2, vector = _check_x(x, 0, cols)
    b, lo, hi = _epilogue(w, bias, activation)
    n = x2.shape[1]
    if vector:
        y, res = _output(out, 1, rows, np.float32, x2, True)
        y = y.reshape(rows, 1)
    else:
        y, res = _output(out, rows, n, np.float32, x2, False)
    _core.spmm(w._core, x2, y, b, lo, hi)
    return res


def linear(x: np.ndarray, w: Union[CSRMatrix, PackedWeights], *, bias: Optional[np.ndarray] = None,
           activation: Optional[str] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
    """The dense-layer form ``Y = act(x @ W.T + bias)``: x is (cols,) or (B x cols) float32.

    ``w`` is a :class:`CSRMatrix` (rows x cols: PyTorch's ``Linear.weight`` layout, nothing
    transposed by the caller) or whatever :func:`choose` returned: the packed weights of W.T
    run on the dense kernels (int8 ones quantize x on the fly), so one call runs either choice.
    Returns (rows,) or (B x rows) float32 (``out`` if given).
    """
    if isinstance(w, PackedWeights):
        return _dense_linear(x, w, bias, activation, out)
    w = _check_matrix(w)
    rows, cols = w.shape
    x2, vector = _check_x(x, 1, cols)
    b, lo, hi = _epilogue(w, bias, activation)
    y, res = _output(out, x2.shape[0], rows, np.float32, x2, vector)
    _core.spmm_linear(w._core, x2, y, b, lo, hi)
    return res


def _dense_linear(x: np.ndarray, w: PackedWeights, bias: Optional[np.ndarray], activation: Optional[str],
                  out: Optional[np.ndarray]) -> np.ndarray:
    """:func:`linear` on packed W.T: the bias and activation fuse into the kernel unless a bias
    is given here that the packing does not hold, which is added after."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(_ACTIVATIONS)}, got {activation!r}")
    cols, rows = w.shape
    b = None if bias is None else _as_float32_vector("bias", bias, rows)
    if b is not None and w.bias is not None:
        raise ValueError("the packed weights already hold a bias (pack_weights(bias=...)): pass none here")
    late = b is not None or (w.kind == "int8" and activation == "relu6")
    act = None if late else activation
    if w.kind == "int8":
        from .gemm import qmatmul_dynamic

        y = qmatmul_dynamic(x, w, activation=act, out=out)
    else:
        y = matmul(x, w, activation=act, out=out)
    if late:
        if b is not None:
            y += b
        if activation is not None:
            np.clip(y, *_ACTIVATIONS[activation], out=y)
    return y


def choose(
    w: np.ndarray,
    *,
    batch: int = 1,
    values: str = "f32",
    repeats: int = 7,
    explain: bool = False,
    pool: Optional[Pool] = None,
) -> Union[CSRMatrix, PackedWeights, tuple]:
    """Pick the fastest storage for a (pruned) dense float32 weight matrix W (rows x cols).

    Candidates: dense packed weights (``ops.pack_weights(w.T)``, f32, or f16 when
    ``values="f16"``), CSR, and 1x4 blocks when at least half of each kept block is
    nonzero. A matrix with more than a third nonzeros stays dense without timing (sparse
    kernels cannot win there: XNNPACK gates at the same point); otherwise each candidate is
    timed on the real shape in the dense-layer form ``x (batch x cols) @ W.T`` and the
    fastest kept; a tie within 5% goes to the smaller one.

    Returns the chosen object (a :class:`CSRMatrix` or a ``PackedWeights`` of W.T; :func:`linear`
    runs either), or with ``explain=True`` a tuple (chosen, {name: (median seconds, bytes)}).
    """
    w = _check_dense(w)
    values = _check_values(values)
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    dense_kind = "f16" if values == "f16" else ("int8" if values == "int8" else "f32")
    nonzero = int(np.count_nonzero(w))
    cands: dict = {}
    cands["dense"] = pack_weights(np.ascontiguousarray(w.T), dense_kind, pool=pool)
    if w.size and nonzero <= w.size / 3:
        cands["csr"] = CSRMatrix(w, values=values, pool=pool)
        blocks = CSRMatrix(w, values=values, block=(1, 4), pool=pool)
        if nonzero >= 0.5 * blocks.nnz:
            cands["bsr1x4"] = blocks
    if len(cands) == 1:
        chosen = cands["dense"]
        return (chosen, {"dense": (math.nan, chosen.nbytes)}) if explain else chosen
    x = np.random.default_rng(0).standard_normal((batch, w.shape[1])).astype(np.float32)
    table = {}
    for name, c in cands.items():
        if isinstance(c, CSRMatrix):
            fn = (lambda c=c: linear(x, c))
        elif dense_kind == "int8":
            from .gemm import qmatmul_dynamic
            fn = (lambda c=c: qmatmul_dynamic(x, c))
        else:
            fn = (lambda c=c: matmul(x, c))
        table[name] = (median_seconds(fn, repeats), c.nbytes)
    best_t = min(t for t, _ in table.values())
    near = [n for n, (t, _) in table.items() if t <= best_t * 1.05]
    name = min(near, key=lambda n: table[n][1])
    return (cands[name], table) if explain else cands[name]
