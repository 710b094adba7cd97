"""Pool sizing over a varying-demand trace: the EMA demand predictor (Pool(predictor=EMA()),
pool.step() once per step) against a pool that never gives memory back (no predictor) and
one that trims after every step (eager).

The trace is a training run's per-step temporaries: a steady phase with a validation pass
every 25 steps, a one-off 48 MiB spike (an evaluation at a large batch), then a lighter
phase (smaller batches) with the same validation passes. What matters is not time but:

* os_allocations: regions the pool had to map (each one an mmap, and page faults on first
  touch), and trims;
* mean_held_bytes / final_held_bytes: what the pool holds from the OS while serving a step
  (after its arrays are freed, before step() / trim()), on average over the trace and at its
  last step: resident memory another tenant cannot use.

The predictor should stay near the eager pool's held bytes with near the no-trim pool's
OS allocations. Numbers go to extra_info and are printed.

    python -m pytest benchmarks/bench_pool_predictor.py --benchmark-json=pool.json
"""
import os

import numpy as np
import pytest

from frugalnn.memory import EMA, Pool

QUICK = bool(os.environ.get("FRUGALNN_BENCH_QUICK"))
MiB = 1 << 20
IMPLS = ["no_trim", "trim_every_step", "ema"]
_results: dict = {}


def trace(seed=0):
    """Per-step lists of array sizes (bytes)."""
    rng = np.random.default_rng(seed)
    steps = []
    for phase, (n_steps, arrays, size) in enumerate([(150, 4, 2 * MiB), (150, 2, MiB)]):
        for i in range(n_steps):
            if phase == 0 and i == 100:
                steps.append([48 * MiB])  # one-off evaluation at a large batch
            elif i % 25 == 24:
                steps.append([3 * MiB] * 8)  # validation pass
            else:
                jitter = rng.uniform(0.9, 1.1, arrays)
                steps.append([int(size * j) // 64 * 64 for j in jitter])
    return steps


TRACE = trace()


def run(impl):
    pool = Pool(predictor=EMA()) if impl == "ema" else Pool()
    held = []
    trims = 0
    for demand in TRACE:
        arrays = [pool.empty(n, np.uint8) for n in demand]
        for a in arrays:
            a[:: 1 << 16] = 1  # touch a little: the work of a step
        del a, arrays
        held.append(pool.stats().reserved_bytes)  # what the pool held to serve this step
        if impl == "ema":
            trims += pool.step().action == "trim"
        elif impl == "trim_every_step":
            trims += pool.trim() > 0
    s = pool.stats()
    result = dict(os_allocations=s.os_allocations, os_frees=s.os_frees, trims=trims,
                  mean_held_bytes=float(np.mean(held)), peak_held_bytes=int(max(held)),
                  final_held_bytes=int(held[-1]), steps=len(TRACE),
                  mean_demand_bytes=float(np.mean([sum(d) for d in TRACE])))
    pool.trim()
    return result


@pytest.mark.parametrize("impl", IMPLS)
def test_pool_trace(benchmark, impl, capsys):
    benchmark.group = "pool-varying-demand"
    benchmark.extra_info["impl"] = impl
    result = benchmark.pedantic(run, args=(impl,), rounds=1 if QUICK else 3, iterations=1)
    benchmark.extra_info.update(result)
    _results[impl] = result
    with capsys.disabled():
        print(f"\n{impl:>16}: {result['os_allocations']:4d} OS allocations, {result['os_frees']:4d} OS frees, "
              f"held mean {result['mean_held_bytes'] / MiB:6.1f} MiB, peak {result['peak_held_bytes'] / MiB:6.1f} MiB, "
              f"final {result['final_held_bytes'] / MiB:6.1f} MiB "
              f"(demand mean {result['mean_demand_bytes'] / MiB:.1f} MiB over {result['steps']} steps)")
    if impl == "ema" and {"no_trim", "trim_every_step"} <= set(_results):
        none, eager = _results["no_trim"], _results["trim_every_step"]
        benchmark.extra_info.update(
            held_vs_no_trim=result["mean_held_bytes"] / none["mean_held_bytes"],
            os_allocations_vs_eager=result["os_allocations"] / eager["os_allocations"])
        # The point of the predictor: less held than never trimming, far fewer OS calls
        # than trimming eagerly.
        assert result["mean_held_bytes"] < none["mean_held_bytes"]
        assert result["final_held_bytes"] < none["final_held_bytes"]
        assert result["os_allocations"] * 4 < eager["os_allocations"]
