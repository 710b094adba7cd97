"""
frugalnn native core (C++): CPU dispatch, pool allocator, memory planner, kernels
"""
from __future__ import annotations
import collections.abc
import numpy
import typing
__all__: list[str] = ['Pool', 'active_isa', 'available_isas', 'plan_memory', 'reduce_sum', 'runtime_info', 'set_isa']
class Pool:
    """
    Thread-safe pool of 64-byte aligned blocks (native).
    """
    def __init__(self, budget: typing.SupportsInt | typing.SupportsIndex | None = None) -> None:
        ...
    def empty(self, shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], dtype: numpy.dtype[typing.Any]) -> numpy.ndarray:
        """
        Uninitialised C-contiguous array in pool memory.
        """
    def reserve(self, nbytes: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        Map memory now so later requests up to nbytes need no OS call.
        """
    def reset_peak(self) -> None:
        ...
    def stats(self) -> dict:
        ...
    def trim(self) -> int:
        """
        Unmap wholly free regions; returns the bytes released.
        """
    @property
    def budget(self) -> int | None:
        ...
    @budget.setter
    def budget(self, arg1: typing.SupportsInt | typing.SupportsIndex | None) -> None:
        ...
def _isa_env() -> tuple[str, bool, str]:
    """
    (value, invalid, message) of FRUGALNN_ISA as read at load time.
    """
def _live_os_bytes() -> int:
    """
    OS bytes held by all pools (tests).
    """
def _live_os_regions() -> int:
    """
    OS regions held by all pools (tests).
    """
def _pool_stress(pool: Pool, threads: typing.SupportsInt | typing.SupportsIndex, iterations: typing.SupportsInt | typing.SupportsIndex, max_bytes: typing.SupportsInt | typing.SupportsIndex, max_live: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex) -> dict:
    """
    Native threads hammering one pool without the GIL (tests).
    """
def active_isa() -> str:
    """
    The ISA level kernels dispatch to now.
    """
def available_isas() -> list:
    """
    ISA levels this build and CPU can run, lowest first.
    """
def plan_memory(sizes: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], first: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], last: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], alignment: typing.SupportsInt | typing.SupportsIndex = 64) -> dict:
    """
    Arena offsets for tensors alive from first[i] to last[i] (steps, inclusive).
    """
def reduce_sum(x: numpy.ndarray) -> typing.Any:
    """
    Sum of all elements: exact for uint8, f32 accumulation for float32.
    """
def runtime_info() -> dict:
    """
    CPU features, compiled / supported / available ISA levels, the active level and the ISA of the kernel each family runs.
    """
def set_isa(level: str) -> None:
    """
    Dispatch every kernel family to `level` (must be available).
    """
__version__: str = '0.1.0'
