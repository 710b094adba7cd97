"""The smallest arena TensorFlow Lite Micro runs a ``.tflite`` model in: the batch-1 memory
peer of tests/graph/test_tiles.py and benchmarks/goals.py."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Optional

import numpy as np


def tflm_arena(path: Path) -> Optional[int]:
    """Bytes of the smallest arena TFLM's interpreter runs the model in (its bookkeeping
    included), by bisection: the interpreter refuses an arena too small. None without the
    ``tflite-micro`` package."""
    try:
        from tflite_micro import runtime
    except ImportError:
        return None

    def runs(n: int) -> bool:
        try:
            it = runtime.Interpreter.from_file(str(path), arena_size=n)
            d = it.get_input_details(0)
            it.set_input(np.zeros(d["shape"], d["dtype"]), 0)
            it.invoke()
            return True
        except Exception:  # noqa: BLE001 - its errors are plain RuntimeError / ValueError
            return False

    lo, hi = 1024, 1 << 22
    with _quiet_stderr():  # TFLM reports every failed allocation there
        assert runs(hi), f"{path} does not run in {hi} bytes"
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if runs(mid) else (mid + 1, hi)
    return lo


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
