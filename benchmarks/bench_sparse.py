"""Sparse weights x dense activations, Y = W @ X: frugalnn CSR / 1x4-block kernels against
scipy CSR, torch CSR (when installed) and dense numpy f32, in the same run. The group's
thread count is what numpy, torch and frugalnn use; scipy's CSR product has no threads and
allocates its result, so it is paired with frugalnn on one thread (frugalnn_csr_f32_1thread,
into a preallocated out as always): compare scipy_csr_1thread with that one.

Each group is one (W size, N, sparsity) case with a uniform random pattern (for the 1x4
block impl: uniform random 1x4 blocks at the same sparsity). Ratios:

    python -m pytest benchmarks/bench_sparse.py --benchmark-json=sparse.json
    python benchmarks/report.py sparse.json                      # against dense numpy
    python benchmarks/report.py sparse.json --baseline torch_csr
"""
import functools
import os
import warnings

import numpy as np
import pytest

import frugalnn
from frugalnn.sparse import CSRMatrix, spmm

threadpoolctl = pytest.importorskip("threadpoolctl")
sp = pytest.importorskip("scipy.sparse")

SIZES = [1024, 4096]
NS = [1, 64, 256]
SPARSITIES = [0.5, 0.7, 0.8, 0.9, 0.95, 0.99]
if os.environ.get("FRUGALNN_BENCH_QUICK"):
    SIZES, NS, SPARSITIES = [1024], [1, 64], [0.7, 0.9]
THREADS = frugalnn.get_num_threads()

IMPLS = ["numpy_dense_f32", "scipy_csr_1thread", "torch_csr", "frugalnn_csr_f32", "frugalnn_csr_f32_1thread",
         "frugalnn_csr_f16", "frugalnn_bsr1x4_f32"]


@functools.lru_cache(maxsize=2)
def _weights(size, sparsity, block):
    rng = np.random.default_rng(size)
    w = rng.standard_normal((size, size), dtype=np.float32)
    drop = rng.random((size, size // block)) < sparsity
    w[np.repeat(drop, block, axis=1)] = 0
    return w


def _runner(impl, size, n, sparsity):
    x = np.random.default_rng(1).standard_normal((size, n), dtype=np.float32)
    if n == 1:
        x = x[:, 0].copy()
    out = np.empty((size, n) if n > 1 else (size,), np.float32)
    if impl == "frugalnn_bsr1x4_f32":
        m = CSRMatrix(_weights(size, sparsity, 4), block=(1, 4))
        return lambda: spmm(m, x, out=out)
    w = _weights(size, sparsity, 1)
    if impl == "numpy_dense_f32":
        return lambda: np.matmul(w, x, out=out)
    if impl == "scipy_csr_1thread":
        s = sp.csr_matrix(w)
        return lambda: s @ x
    if impl == "torch_csr":
        torch = pytest.importorskip("torch")
        torch.set_num_threads(THREADS)
        with warnings.catch_warnings():  # "sparse CSR support is in beta": warned once
            warnings.simplefilter("ignore")
            tw = torch.from_numpy(w).to_sparse_csr()
            tx = torch.from_numpy(x if n > 1 else x[:, None].copy())
            torch.sparse.mm(tw, tx)
        return lambda: torch.sparse.mm(tw, tx)
    values = "f16" if impl == "frugalnn_csr_f16" else "f32"
    m = CSRMatrix(w, values=values)
    return lambda: spmm(m, x, out=out)


@pytest.mark.parametrize("sparsity", SPARSITIES)
@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("impl", IMPLS)
def bench_spmm(benchmark, impl, size, n, sparsity):
    benchmark.group = f"spmm {size}x{size} N={n} sparsity={sparsity:.0%} threads={THREADS}"
    with threadpoolctl.threadpool_limits(THREADS):
        fn = _runner(impl, size, n, sparsity)
        threads = 1 if impl.endswith("_1thread") else THREADS
        frugalnn.set_num_threads(threads)
        try:
            fn()  # warm: page faults, scratch pool, torch's MKL handles
            benchmark.extra_info.update(impl=impl, threads=threads, macs=size * size * n,
                                        isa=frugalnn.runtime_info()["kernels"]["spmm"])
            benchmark(fn)
        finally:
            frugalnn.set_num_threads(THREADS)
