"""Kernels called directly from several threads at once: they share the per-call scratch
pool and the library's thread pool, and must return what a lone call returns, bit for bit."""
import threading

import numpy as np

import frugalnn
from frugalnn import ops
from frugalnn.sparse import CSRMatrix


def _cases():
    """(name, call) pairs: float, half, int8 (u8 out, dynamic) GEMMs and sparse products at
    shapes that need scratch (re-strided rows at K = 1024, dynamic quantization)."""
    rng = np.random.default_rng(0)
    cases = []
    for m, k, n in ((1, 1024, 256), (37, 1024, 48), (64, 200, 96)):
        a = rng.standard_normal((m, k)).astype(np.float32)
        w = rng.standard_normal((k, n)).astype(np.float32) * 0.05
        b = rng.standard_normal(n).astype(np.float32)
        au8 = rng.integers(0, 256, (m, k), dtype=np.uint8)
        pf, ph = ops.pack_weights(w, "f32", bias=b), ops.pack_weights(w, "f16", bias=b)
        pq = ops.pack_weights(w, "int8", bias=b)
        cases += [
            (f"f32 {m}x{k}x{n}", lambda a=a, p=pf: ops.matmul(a, p, activation="relu")),
            (f"f16 {m}x{k}x{n}", lambda a=a, p=ph: ops.matmul(a, p)),
            (f"u8 {m}x{k}x{n}", lambda a=au8, p=pq: ops.qmatmul(a, p, a_scale=0.02, a_zero_point=3, output="u8",
                                                                out_scale=0.5, out_zero_point=7)),
            (f"dynamic {m}x{k}x{n}", lambda a=a, p=pq: ops.qmatmul_dynamic(a, p)),
        ]
        sp = CSRMatrix.prune(w.T.copy(), 0.9)
        cases.append((f"sparse {m}x{k}x{n}", lambda a=a, s=sp, b=b: ops.sparse_linear(a, s, bias=b)))
    return cases


def test_kernels_from_threads_match_lone_calls():
    cases = _cases()
    want = [call() for _, call in cases]
    bad, errors = [], []

    def work(seed):
        order = np.random.default_rng(seed).permutation(len(cases) * 6) % len(cases)
        try:
            for i in order:
                if not np.array_equal(cases[i][1](), want[i]):
                    bad.append(cases[i][0])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    before = frugalnn.get_num_threads()
    try:
        for t in threads:
            t.start()
        for n in (1, 2, 3, 2):  # thread-count changes while the kernels run
            frugalnn.set_num_threads(n)
        for t in threads:
            t.join()
    finally:
        frugalnn.set_num_threads(before)
    assert not errors, errors[:3]
    assert not bad, sorted(set(bad))
