"""The ``frugalnn`` command.

``frugalnn info`` (the default) shows what this machine runs: the CPU dispatch with a timed
check of every ISA level, a pool serving a batch loop, and the seed document's MNIST CNN
compiled in every precision: weight bytes, planned arena against its lower bound, latency,
and agreement with the numpy reference. ``convert``, ``inspect`` and ``run`` work on model
files (cli_models.py).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable, Optional, Sequence

import numpy as np

from . import _runtime, cli_models, memory, ops
from ._timing import median_seconds
from .memory import _format_bytes

_MNIST_BATCH = 64


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
    t_np = median_seconds(lambda: x.sum(dtype=np.uint64))
    out(f"  dispatch check, exact sum of 1 MiB of uint8 (numpy {t_np * 1e6:.0f} us):")
    for level in info["available_isas"]:
        with _runtime.use_isa(level):
            got = ops.reduce_sum(x)
            t = median_seconds(lambda: ops.reduce_sum(x))
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


def _show_model(out: Callable[[str], None]) -> None:
    from . import reference
    from .graph import Session, compile
    from .models import mnist_cnn

    g = mnist_cnn()
    x = np.random.default_rng(0).random((_MNIST_BATCH, 1, 28, 28), dtype=np.float32)
    out(f"the seed document's MNIST CNN (random weights), compiled, batch up to {_MNIST_BATCH}:")
    out(f"  {'precision':<10}{'weights':>12}{'arena':>12}{'lower bound':>13}{'batch 1':>11}"
        f"{'batch 64':>11}{'max |err|':>11}{'top-1':>8}")
    rows = []
    programs = {p: compile(g, precision=p, calibration=x[:32]) for p in ("f32", "f16", "bf16", "int8")}
    # int8 calibration runs the numpy reference; OpenBLAS threads spin for ~0.1 s after a call
    # and would share the two cores with the timings below.
    time.sleep(0.2)
    for precision, program in programs.items():
        s = Session(program, max_batch=_MNIST_BATCH)
        y = s.run(x)
        out1 = np.empty((1, 10), np.float32)
        t1 = median_seconds(lambda: s.run(x[:1], out=out1))
        t64 = median_seconds(lambda: s.run(x, out=y), repeat=7)
        rows.append((precision, s.memory_report(), t1, t64, y.copy()))
    # The reference runs last: its BLAS threads keep spinning for a while after each call
    # and would steal the cores from the timings above.
    ref = reference.forward(g, x)["y"]
    for precision, r, t1, t64, y in rows:
        agree = float(np.mean(y.argmax(1) == ref.argmax(1)))
        out(f"  {precision:<10}{_format_bytes(r.weight_bytes):>12}{_format_bytes(r.arena_bytes):>12}"
            f"{_format_bytes(r.lower_bound):>13}{t1 * 1e6:>9.0f}us{t64 * 1e3:>9.2f}ms"
            f"{float(np.abs(y - ref).max()):>11.1e}{agree:>8.1%}")
    out("  (top-1 vs the f32 reference on random images: a random-weight net sends them to a few"
        " near-tied classes; trained models agree >= 99% in int8, see tests/graph/test_int8_accuracy.py)")
    r = Session(compile(g), max_batch=_MNIST_BATCH).memory_report()
    unfused = Session(compile(g, fuse_pool=False), max_batch=_MNIST_BATCH).memory_report()
    out(f"  f32 plan: arena {_format_bytes(r.arena_bytes)} = lower bound; one buffer per tensor "
        f"would take {_format_bytes(r.naive_bytes)} ({r.naive_bytes / r.arena_bytes:.2f}x); without "
        f"fusing conv + ReLU + max-pool the arena would be {_format_bytes(unfused.arena_bytes)}")
    for name, kind, prec, out_b, scr_b in r.steps:
        out(f"    {name:<16}{kind:<18}{prec:<6}out {_format_bytes(out_b):>11}  scratch {_format_bytes(scr_b):>11}")


def _cmd_info(args: argparse.Namespace) -> int:
    out = print
    _show_dispatch(out)
    out("")
    _show_pool(out)
    out("")
    _show_model(out)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.data, seeds=args.seeds, plot=args.plot, out_dir=args.out, rss=not args.no_rss)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``frugalnn`` console script and ``python -m frugalnn``."""
    parser = argparse.ArgumentParser(prog="frugalnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    p_info = sub.add_parser("info", help="CPU dispatch, a pool at work, the MNIST CNN compiled and run")
    p_info.set_defaults(func=_cmd_info)
    p_demo = sub.add_parser("demo", help="the document's pipeline: train, distill, prune, quantize, fit budgets, "
                                         "and the measured table")
    p_demo.add_argument("--data", default="digits28", help="digits28 (bundled, default) or mnist:DIR (IDX files)")
    p_demo.add_argument("--seeds", type=int, default=3, help="trainings per variant; accuracy is their mean (3)")
    p_demo.add_argument("--plot", metavar="PNG", help="save the charts (needs matplotlib: frugalnn[plot])")
    p_demo.add_argument("--out", default="frugalnn-demo", help="where the .fnn files and report.json go")
    p_demo.add_argument("--no-rss", action="store_true", help="skip the fresh-process resident-memory runs")
    p_demo.set_defaults(func=_cmd_demo)
    cli_models.add_commands(sub)
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["info"])
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # `frugalnn inspect m.fnn | head`: the reader has what it wanted. Nothing is wrong, so
        # nothing is said; stdout goes to /dev/null so the interpreter's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, TypeError, MemoryError, OSError, NotImplementedError, ImportError) as e:
        # One line, no traceback: a bad file or argument is the user's to fix, not a crash.
        print(f"frugalnn: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
