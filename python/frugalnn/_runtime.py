"""CPU dispatch: which ISA level the kernels run at, and how to force a lower one.

``FRUGALNN_ISA=scalar|avx2|avx512|avx512vnni`` is read once, when the native module loads:

* a name that is not a level makes ``import frugalnn`` raise ``ValueError`` (a typo must not
  silently run other kernels than the ones asked for);
* a level this CPU or build lacks emits a ``RuntimeWarning`` and the best available level is
  used instead: levels above the hardware are skipped, never faked.

``set_isa`` changes the process default at run time; ``use_isa`` pins the calling thread
alone for a ``with`` block (tests sweep every level in one process). Threads without a pin run
the default. A kernel call, and a whole ``Session.run``, keeps the dispatch it started with
(the library's worker threads take their caller's), so switching never changes the kernels of
a call in flight on another thread.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterator

from . import _core

_env_value, _env_invalid, _env_message = _core._isa_env()
if _env_invalid:
    raise ValueError(_env_message)
if _env_message:
    warnings.warn(_env_message, RuntimeWarning, stacklevel=2)


def runtime_info() -> dict[str, Any]:
    """Describe the machine and the dispatch.

    Keys: ``version``, ``arch``, ``cpu_vendor``, ``cpu_brand``, ``features`` (name -> bool,
    already masked by OS support), ``compiled_isas``, ``supported_isas``, ``available_isas``,
    ``best_isa``, ``active_isa``, ``isa_env`` (FRUGALNN_ISA or None), ``feature_kernels``
    (see :func:`set_feature_kernels`) and ``kernels`` (kernel family -> ISA of the kernel it
    runs now).
    """
    return _core.runtime_info()


def available_isas() -> list[str]:
    """ISA levels this build and CPU can run, lowest first (always starts with ``"scalar"``)."""
    return _core.available_isas()


def active_isa() -> str:
    """The ISA level kernels called from this thread dispatch to now (its ``use_isa`` pin, else
    the process default)."""
    return _core.active_isa()


def set_isa(level: str) -> None:
    """Make ``level`` the process default: every kernel family dispatches to it on threads
    without a ``use_isa`` pin, from their next kernel call or run on (calls in flight finish
    with the level they started with).

    Raises ``ValueError`` for an unknown name or a level this CPU / build cannot run.
    """
    if not isinstance(level, str):
        raise TypeError(f"level must be a str, got {type(level).__name__}")
    _core.set_isa(level)


def set_feature_kernels(enabled: bool) -> None:
    """Process default: use (the default) or skip *feature kernels*: kernels gated by a CPU feature that is not
    a rung of the ladder (AVX-VNNI int8 on the avx2 rung and above, AVX512-BF16 dot products
    on the avx512 rung). Switching them off runs the rung's own kernels, so one machine can
    test both."""
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
    _core.set_feature_kernels(enabled)


@contextlib.contextmanager
def use_isa(level: str, feature_kernels: bool = True) -> Iterator[str]:
    """Run the ``with`` block's kernels at ISA ``level`` (with or without feature kernels) on
    this thread only, then restore its previous setting. Other threads keep theirs; the
    library's worker threads follow the thread that hands them work.

    Raises ``ValueError`` for an unknown name or a level this CPU / build cannot run.
    """
    if not isinstance(level, str):
        raise TypeError(f"level must be a str, got {type(level).__name__}")
    previous = _core._thread_isa()
    _core._set_thread_isa(level, bool(feature_kernels))
    try:
        yield level
    finally:
        _core._set_thread_isa(*(previous if previous is not None else (None, True)))


def set_num_threads(n: int) -> None:
    """Threads the kernels may use (the calling thread counts as one). Default: the environment's
    ``FRUGALNN_NUM_THREADS``, else ``OMP_NUM_THREADS`` (which Dask's workers and batch
    schedulers set to keep each process to its share of the cores), else the CPUs this process
    may run on. The kernels' results are identical for every thread count (a Session's
    float32 convolutions: see Session)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Threads the kernels may use."""
    return _core.get_num_threads()
