"""The ``frugalnn`` command.

``frugalnn info`` (the default) shows what this machine runs: the CPU dispatch with a timed
check of every ISA level, a pool serving a batch loop, and the static memory plan of the
seed document's MNIST CNN next to its lower bound.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, Optional, Sequence

import numpy as np

from . import _runtime, memory, ops
from .memory import _format_bytes

# The seed document's MNIST CNN, batch 64, f32: (name, elements, first step, last step).
# Steps: 0 conv1 (+ its im2col scratch), 1 pool1, 2 conv2 (+ scratch), 3 pool2, 4 dense1,
# 5 dense2, 6 softmax. Flatten is a view of pool2 and takes no memory of its own.
_MNIST_BATCH = 64
_MNIST_TENSORS = [
    ("input 1x28x28", 1 * 28 * 28, 0, 0),
    ("conv1 im2col scratch", 28 * 28 * 9, 0, 0),
    ("conv1+relu 32x28x28", 32 * 28 * 28, 0, 1),
    ("pool1 32x14x14", 32 * 14 * 14, 1, 2),
    ("conv2 im2col scratch", 14 * 14 * 32 * 9, 2, 2),
    ("conv2+relu 64x14x14", 64 * 14 * 14, 2, 3),
    ("pool2 64x7x7", 64 * 7 * 7, 3, 4),
    ("dense1+relu 128", 128, 4, 5),
    ("dense2 10", 10, 5, 6),
    ("softmax 10", 10, 6, 6),
]


def _median_seconds(fn: Callable[[], object], repeat: int = 21) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _show_dispatch(out: Callable[[str], None]) -> None:
    info = _runtime.runtime_info()
    out(f"frugalnn {info['version']} on {info['arch']} ({info['cpu_brand'] or info['cpu_vendor']})")
    on = [name for name, present in info["features"].items() if present]
    out(f"  CPU features (OS-enabled): {' '.join(on) or 'none'}")
    out(f"  ISA levels: compiled {', '.join(info['compiled_isas'])}; "
        f"available {', '.join(info['available_isas'])}; active {info['active_isa']}"
        + (f" (FRUGALNN_ISA={info['isa_env']})" if info["isa_env"] else ""))
    out("  kernels: " + ", ".join(f"{k} -> {v}" for k, v in info["kernels"].items()))
    x = np.random.default_rng(0).integers(0, 256, size=1 << 20, dtype=np.uint8)
    expected = int(x.sum(dtype=np.uint64))
    t_np = _median_seconds(lambda: x.sum(dtype=np.uint64))
    out(f"  dispatch check, exact sum of 1 MiB of uint8 (numpy {t_np * 1e6:.0f} us):")
    for level in info["available_isas"]:
        with _runtime.use_isa(level):
            got = ops.reduce_sum(x)
            t = _median_seconds(lambda: ops.reduce_sum(x))
        status = "ok" if got == expected else f"MISMATCH ({got} != {expected})"
        out(f"    {level:<11} {status}, {t * 1e6:7.1f} us ({t_np / t:5.1f}x numpy)")


def _show_pool(out: Callable[[str], None]) -> None:
    pool = memory.Pool(budget=16 << 20)
    shape = (_MNIST_BATCH, 1, 28, 28)
    out(f"pool with a 16 MiB budget serving 1,000 batches of {shape} float32:")
    for _ in range(1000):
        batch = pool.empty(shape, np.float32)
        batch[...] = 0.5
        del batch
    s = pool.stats()
    out(f"  {s.allocations} allocations -> {s.os_allocations} OS allocation(s), "
        f"hit rate {s.hit_rate:.1%}, peak in use {_format_bytes(s.peak_bytes_in_use)}, "
        f"reserved {_format_bytes(s.reserved_bytes)}")
    try:
        pool.empty((64, 1 << 20), np.float32)
    except MemoryError as e:
        out(f"  a 256 MiB request is refused: MemoryError: {e}")
    released = pool.trim()
    out(f"  trim() gave {_format_bytes(released)} back to the OS; now {pool.stats()!r}")


def _show_plan(out: Callable[[str], None]) -> None:
    names = [t[0] for t in _MNIST_TENSORS]
    sizes = [t[1] * 4 * _MNIST_BATCH for t in _MNIST_TENSORS]
    plan = memory.plan_memory(sizes, [t[2] for t in _MNIST_TENSORS], [t[3] for t in _MNIST_TENSORS])
    out(f"static memory plan of the MNIST CNN activations, batch {_MNIST_BATCH}, float32:")
    out(f"  {'tensor':<22}{'bytes':>12}{'steps':>8}{'offset':>12}")
    for i, name in enumerate(names):
        out(f"  {name:<22}{sizes[i]:>12,}{f'{plan.first[i]}-{plan.last[i]}':>8}"
            f"{int(plan.offsets[i]):>12,}")
    out(f"  arena {_format_bytes(plan.arena_bytes)} = {plan.ratio:.3f} x lower bound "
        f"{_format_bytes(plan.lower_bound)}; one buffer per tensor would take "
        f"{_format_bytes(plan.naive_bytes)} ({plan.savings:.2f}x more); strategy {plan.strategy}")


def _cmd_info(args: argparse.Namespace) -> int:
    out = print
    _show_dispatch(out)
    out("")
    _show_pool(out)
    out("")
    _show_plan(out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``frugalnn`` console script and ``python -m frugalnn``."""
    parser = argparse.ArgumentParser(prog="frugalnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    p_info = sub.add_parser("info", help="CPU dispatch, a pool at work, a memory plan")
    p_info.set_defaults(func=_cmd_info)
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["info"])
    try:
        return int(args.func(args))
    except (ValueError, TypeError, MemoryError, OSError) as e:
        print(f"frugalnn: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
