"""Pooled arrays, demand prediction and static memory plans.

``Pool`` hands out numpy arrays backed by 64-byte aligned, reusable blocks; given a demand
predictor (``EMA``) and one ``Pool.step()`` call per training / inference step, it sizes what it
holds from the OS to the predicted demand. ``plan_memory`` assigns arena offsets to tensors from
their lifetimes, reporting the plan next to the lower bound no plan can beat and the naive
one-buffer-per-tensor sum.
"""
from __future__ import annotations

import math
import operator
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Protocol, Sequence, Union

import numpy as np

from . import _core

__all__ = [
    "EMA",
    "DemandPredictor",
    "MemoryPlan",
    "Pool",
    "PoolStats",
    "PoolStep",
    "default_pool",
    "empty",
    "plan_memory",
    "scratch_stats",
    "trim_scratch",
    "zeros",
]

ShapeLike = Union[int, Sequence[int]]
DTypeLike = Any

_MAX_BYTES = 1 << 56  # the native pool's kMaxRequestBytes
_PAGE = 4096  # the native pool maps regions in whole pages


def _format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _check_size(name: str, value: Any, *, positive: bool = False) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got bool")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if v < 0 or (positive and v == 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'non-negative'}, got {v}")
    return v


def _normalize_shape(shape: ShapeLike) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"shape must be an int or a sequence of ints, got {shape!r}") from None
    return tuple(_check_size(f"shape[{i}]", d) for i, d in enumerate(dims))


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of a pool's counters (all sizes in bytes)."""

    bytes_in_use: int
    requested_bytes: int
    peak_bytes_in_use: int
    reserved_bytes: int
    free_bytes: int
    largest_free_block: int
    blocks: int
    regions: int
    allocations: int
    frees: int
    os_allocations: int
    os_frees: int
    cache_hits: int
    cache_misses: int
    fragmentation: float
    budget: Optional[int]

    @property
    def hit_rate(self) -> float:
        """Share of allocations served without asking the OS."""
        total = self.cache_hits + self.cache_misses
        return self.cache_hits / total if total else 0.0

    def __repr__(self) -> str:
        budget = "none" if self.budget is None else _format_bytes(self.budget)
        return (
            f"PoolStats(in use {_format_bytes(self.bytes_in_use)} in {self.blocks} blocks, "
            f"peak {_format_bytes(self.peak_bytes_in_use)}, "
            f"reserved {_format_bytes(self.reserved_bytes)} in {self.regions} regions, "
            f"free {_format_bytes(self.free_bytes)} (fragmentation {self.fragmentation:.1%}), "
            f"budget {budget}; {self.allocations} allocations, {self.frees} frees, "
            f"{self.os_allocations} OS allocations, {self.os_frees} OS frees, "
            f"hit rate {self.hit_rate:.1%})"
        )


class DemandPredictor(Protocol):
    """What :class:`Pool` needs from a demand predictor: one observation per step in, the
    prediction for the next step out (bytes)."""

    def update(self, demand_bytes: int) -> float:
        ...


class EMA:
    """Exponential moving average of per-step memory demand.

    ``M̂_t = α·M_t + (1 − α)·M̂_{t−1}``, starting from ``M̂_0 = M_0`` (the first observation).
    A large ``alpha`` follows demand quickly; a small one smooths out bursts.

    Args:
        alpha: weight of the newest observation, in (0, 1].
    """

    __slots__ = ("_alpha", "_value", "_count")

    def __init__(self, alpha: float = 0.3) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
            raise TypeError(f"alpha must be a number, got {type(alpha).__name__}")
        alpha = float(alpha)
        if not (0.0 < alpha <= 1.0):
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self._alpha = alpha
        self._value = 0.0
        self._count = 0

    @property
    def alpha(self) -> float:
        """Weight of the newest observation."""
        return self._alpha

    @property
    def predicted(self) -> float:
        """The current prediction ``M̂_t`` in bytes (0.0 before the first update)."""
        return self._value

    @property
    def count(self) -> int:
        """Observations seen so far."""
        return self._count

    def update(self, demand_bytes: int) -> float:
        """Feed one step's demand ``M_t`` (bytes, >= 0); returns the new prediction ``M̂_t``."""
        if isinstance(demand_bytes, bool) or not isinstance(
            demand_bytes, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"demand_bytes must be a number, got {type(demand_bytes).__name__}")
        m = float(demand_bytes)
        if not math.isfinite(m) or m < 0:
            raise ValueError(f"demand_bytes must be finite and non-negative, got {demand_bytes}")
        if self._count == 0:
            self._value = m
        else:
            self._value = self._alpha * m + (1.0 - self._alpha) * self._value
        self._count += 1
        return self._value

    def reset(self) -> None:
        """Forget every observation."""
        self._value = 0.0
        self._count = 0

    def __repr__(self) -> str:
        return f"EMA(alpha={self._alpha}, predicted={_format_bytes(self._value)}, steps={self._count})"


@dataclass(frozen=True)
class PoolStep:
    """What one :meth:`Pool.step` observed and did (sizes in bytes).

    ``action`` is ``"keep"``, ``"reserve"`` (memory taken ahead of a rising prediction) or
    ``"trim"`` (free regions given back, then topped up to the target if needed).
    """

    step: int
    demand_bytes: int
    predicted_bytes: int
    target_bytes: int
    reserved_bytes: int
    action: str
    released_bytes: int = 0
    reserved_ahead_bytes: int = 0


class _DemandPolicy:
    """The sizing policy behind ``Pool.step``: state only, the pool does the calls."""

    __slots__ = ("predictor", "headroom", "margin", "patience", "max_patience", "step",
                 "last_prediction", "over_run", "run_start", "last_trim_step",
                 "trim_run_start", "os_allocations_seen", "lock")

    def __init__(self, predictor: DemandPredictor, headroom: float, margin: float,
                 patience: int) -> None:
        self.predictor = predictor
        self.headroom = headroom
        self.margin = margin
        self.patience = patience
        self.max_patience = 1 << 16
        self.step = 0
        self.last_prediction: Optional[float] = None
        self.over_run = 0  # consecutive steps holding more than margin x target
        self.run_start = 0  # the step that run started at
        self.last_trim_step: Optional[int] = None
        self.trim_run_start = 0  # the start of the run that ended in the last trim
        self.os_allocations_seen = 0
        self.lock = threading.Lock()


def _check_factor(name: str, value: Any, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum}, got {value}")
    return v


class Pool:
    """A thread-safe pool of 64-byte aligned memory blocks that numpy arrays can live in.

    Arrays from :meth:`empty` / :meth:`zeros` are ordinary writable numpy arrays; their block
    returns to the pool when the last view of the array dies, even if the ``Pool`` object was
    dropped first. Every block is followed by at least 64 readable bytes, so SIMD kernels may
    over-read its end.

    With a demand ``predictor`` (e.g. :class:`EMA`), call :meth:`step` once per step (a
    training step, a batch): the pool feeds the predictor the step's demand (its peak bytes
    in use since the previous step) and sizes what it holds from the OS to the prediction:

    * **grow ahead**: when the prediction rises and the pool holds clearly less than
      ``headroom`` x the prediction, the difference is reserved as one region, so the next
      step's requests find memory waiting (one OS call instead of one per request);
    * **trim with hysteresis**: when the pool holds more than ``margin`` x ``headroom`` x
      the prediction (and the step's own demand) for ``patience`` consecutive steps, wholly
      free regions go back to the OS and the pool is topped up to ``headroom`` x the
      prediction. If demand comes back soon after a trim (the pool had to map memory again),
      the trim was a mistake: ``patience`` grows past the observed period, so periodic demand
      (a validation pass every k steps) settles after a trim or two instead of
      trimming and re-mapping every period.

    The budget still caps everything: reservations ahead are clipped to it.

    Args:
        budget: maximum bytes the pool may hold from the OS (reserved bytes, each block
            carrying a 64-byte header). ``None`` means no limit. A request that would exceed
            it first gives back wholly free regions if that suffices, and otherwise raises
            ``MemoryError`` without changing the pool.
        predictor: an object with ``update(demand_bytes) -> predicted_bytes``, such as
            :class:`EMA`; ``None`` (the default) disables demand-driven sizing.
        headroom: memory kept per predicted byte (>= 1).
        margin: how far above ``headroom`` x prediction holdings may sit before they count
            as excess (>= 1).
        patience: consecutive excess steps before a trim (>= 1); it adapts upwards.
    """

    __slots__ = ("_core", "_policy", "__weakref__")

    def __init__(
        self,
        budget: Optional[int] = None,
        *,
        predictor: Optional[DemandPredictor] = None,
        headroom: float = 1.25,
        margin: float = 1.5,
        patience: int = 5,
    ) -> None:
        if budget is not None:
            budget = _check_size("budget", budget, positive=True)
        self._policy: Optional[_DemandPolicy] = None
        if predictor is not None:
            if not callable(getattr(predictor, "update", None)):
                raise TypeError(
                    "predictor must have an update(demand_bytes) -> predicted_bytes method, "
                    f"got {type(predictor).__name__}"
                )
            self._policy = _DemandPolicy(
                predictor,
                _check_factor("headroom", headroom, 1.0),
                _check_factor("margin", margin, 1.0),
                _check_size("patience", patience, positive=True),
            )
        self._core = _core.Pool(budget)

    def empty(self, shape: ShapeLike, dtype: DTypeLike = np.float32) -> np.ndarray:
        """An uninitialised C-contiguous array of ``shape`` and ``dtype`` in pool memory."""
        # Fast path for the common call (an int or a tuple of ints and a dtype): this wrapper
        # is most of the cost of a pool hit, so it avoids generic normalisation when it can.
        if type(shape) is int and shape >= 0:
            dims: tuple[int, ...] = (shape,)
        elif type(shape) is tuple and all(type(d) is int and d >= 0 for d in shape):
            dims = shape
        else:
            dims = _normalize_shape(shape)
        dt = dtype if type(dtype) is np.dtype else np.dtype(dtype)
        if dt.hasobject:
            raise TypeError(f"pool arrays cannot hold Python objects (dtype {dt})")
        nbytes = dt.itemsize
        for d in dims:
            nbytes *= d
        if nbytes > _MAX_BYTES:  # Python ints: no overflow before this check
            raise ValueError(
                f"an array of shape {dims} and dtype {dt} needs {nbytes} bytes, more than the "
                f"pool's maximum request of {_MAX_BYTES} bytes"
            )
        return self._core.empty(dims, dt)

    def zeros(self, shape: ShapeLike, dtype: DTypeLike = np.float32) -> np.ndarray:
        """Like :meth:`empty`, filled with zeros."""
        a = self.empty(shape, dtype)
        if a.nbytes:
            a.reshape(-1).view(np.uint8).fill(0)
        return a

    def reserve(self, nbytes: int) -> None:
        """Take ``nbytes`` from the OS now, so later requests up to that size need no OS call.

        Use it when the demand is known ahead (a batch buffer, a session's arena).
        """
        self._core.reserve(_check_size("nbytes", nbytes))

    def trim(self) -> int:
        """Give every wholly free region back to the OS; returns the bytes released."""
        return self._core.trim()

    def stats(self) -> PoolStats:
        """Current counters."""
        return PoolStats(**self._core.stats())

    def reset_peak(self) -> None:
        """Restart the peak tracking at the bytes in use now."""
        self._core.reset_peak()

    @property
    def predictor(self) -> Optional[DemandPredictor]:
        """The demand predictor driving :meth:`step`, or ``None``."""
        return None if self._policy is None else self._policy.predictor

    @property
    def predicted_bytes(self) -> Optional[int]:
        """The predictor's current demand prediction in bytes (0 before the first
        :meth:`step`), or ``None`` without a predictor."""
        p = self._policy
        if p is None:
            return None
        return 0 if p.last_prediction is None else int(math.ceil(p.last_prediction))

    @property
    def patience(self) -> Optional[int]:
        """Consecutive excess steps before a trim (it grows after a trim proved premature),
        or ``None`` without a predictor."""
        return None if self._policy is None else self._policy.patience

    def step(self) -> PoolStep:
        """End one step: feed its demand to the predictor and grow, trim or keep.

        The step's demand is the peak of bytes in use since the previous ``step()`` (or since
        the pool was made); the peak is then restarted. Without a predictor this only
        measures and restarts the peak. Call it from one thread, once per step.
        """
        s = self.stats()
        demand = s.peak_bytes_in_use
        self._core.reset_peak()
        p = self._policy
        if p is None:
            return PoolStep(0, demand, 0, 0, s.reserved_bytes, "keep")
        with p.lock:
            return self._step_locked(p, s, demand)

    def _step_locked(self, p: _DemandPolicy, s: PoolStats, demand: int) -> PoolStep:
        step = p.step
        p.step += 1
        missed = s.os_allocations > p.os_allocations_seen  # the pool had to map memory itself
        predicted = float(p.predictor.update(demand))
        if not math.isfinite(predicted) or predicted < 0:
            raise ValueError(f"the predictor returned {predicted!r}, not a byte count")
        rising = p.last_prediction is not None and predicted > p.last_prediction
        p.last_prediction = predicted
        target = int(math.ceil(predicted * p.headroom))
        held = s.reserved_bytes
        action, released, ahead = "keep", 0, 0

        # A trim that demand soon undid: wait longer than the period it revealed.
        if missed and p.last_trim_step is not None and step - p.last_trim_step <= 4 * p.patience:
            period = step - p.trim_run_start
            p.patience = min(p.max_patience, max(2 * p.patience, period + period // 4 + 1))
            p.last_trim_step = None

        # Grow ahead when the pool holds clearly less than headroom x prediction (an eighth of
        # slack, so a jittering demand does not map a sliver every step).
        if rising and target > held + max(held // 8, 16 * _PAGE):
            ahead = self._reserve_region(target - held)
            action = "reserve" if ahead else "keep"
            p.over_run = 0
        elif held > p.margin * p.headroom * max(predicted, float(demand)):
            if p.over_run == 0:
                p.run_start = step
            p.over_run += 1
            if p.over_run >= p.patience:
                released, ahead = self._resize_to(target)
                action = "trim"
                p.last_trim_step = step
                p.trim_run_start = p.run_start
                p.over_run = 0
        else:
            p.over_run = 0
        after = self.stats()
        p.os_allocations_seen = after.os_allocations
        return PoolStep(step, demand, int(math.ceil(predicted)), target, after.reserved_bytes,
                        action, released, ahead)

    def _resize_to(self, target: int) -> tuple[int, int]:
        """Give back wholly free regions, then top the pool up to ``target`` bytes (clipped to
        the budget). Returns (bytes released, bytes reserved)."""
        released = self._core.trim()
        return released, self._reserve_region(target - self._core.stats()["reserved_bytes"])

    def _reserve_region(self, region: int) -> int:
        """Map one region of about ``region`` bytes, inside the budget; returns its size (0 if
        none was worth mapping)."""
        # A reservation maps one region: the request plus a region header, a block header and
        # a sentinel (64 bytes each), rounded up to pages. Size the region, not the request,
        # and keep it inside the budget rather than fail.
        budget = self._core.budget
        if budget is not None:
            region = min(region, budget - self._core.stats()["reserved_bytes"])
        region = region // _PAGE * _PAGE
        if region < _PAGE:
            return 0
        try:
            self._core.reserve(region - 3 * 64)
        except MemoryError:  # another thread took the room meanwhile: not an error for a hint
            return 0
        return region

    @property
    def budget(self) -> Optional[int]:
        """Maximum bytes reserved from the OS, or ``None``."""
        return self._core.budget

    @budget.setter
    def budget(self, value: Optional[int]) -> None:
        self._core.budget = None if value is None else _check_size("budget", value, positive=True)

    def __repr__(self) -> str:
        s = self.stats()
        budget = "" if s.budget is None else f", budget={_format_bytes(s.budget)}"
        return (
            f"<frugalnn.Pool in use {_format_bytes(s.bytes_in_use)}, "
            f"reserved {_format_bytes(s.reserved_bytes)}{budget}>"
        )


_default_pool: Optional[Pool] = None
_default_lock = threading.Lock()


def default_pool() -> Pool:
    """The process-wide pool behind :func:`empty` and :func:`zeros` (no budget)."""
    global _default_pool
    with _default_lock:
        if _default_pool is None:
            _default_pool = Pool()
        return _default_pool


def scratch_stats() -> PoolStats:
    """Counters of the pool that holds kernels' per-call scratch (re-strided or quantized
    activations, per-call scales). It keeps its high-water mark so steady-state calls never
    ask the OS for memory; :func:`trim_scratch` gives it back."""
    return PoolStats(**_core._scratch_pool().stats())


def trim_scratch() -> int:
    """Return the per-call scratch memory no call is using to the OS; returns the bytes."""
    return _core._scratch_pool().trim()


def empty(shape: ShapeLike, dtype: DTypeLike = np.float32) -> np.ndarray:
    """An uninitialised array in the default pool."""
    return default_pool().empty(shape, dtype)


def zeros(shape: ShapeLike, dtype: DTypeLike = np.float32) -> np.ndarray:
    """A zero-filled array in the default pool."""
    return default_pool().zeros(shape, dtype)


@dataclass(frozen=True)
class MemoryPlan:
    """Arena offsets for a set of tensors with known lifetimes.

    ``offsets[i]`` is where tensor ``i`` starts in the arena; ``sizes[i]`` is its size rounded
    up to ``alignment``. ``lower_bound`` is the largest number of (aligned) bytes alive at one
    step: no plan can use less. ``naive_bytes`` is one buffer per tensor.
    """

    offsets: np.ndarray
    sizes: np.ndarray
    first: np.ndarray
    last: np.ndarray
    arena_bytes: int
    lower_bound: int
    naive_bytes: int
    alignment: int
    strategy: str

    @property
    def ratio(self) -> float:
        """arena / lower bound (1.0 is optimal)."""
        return self.arena_bytes / self.lower_bound if self.lower_bound else 1.0

    @property
    def savings(self) -> float:
        """naive / arena: how many times smaller than one buffer per tensor."""
        return self.naive_bytes / self.arena_bytes if self.arena_bytes else 1.0

    def __len__(self) -> int:
        return len(self.offsets)

    def __repr__(self) -> str:
        return (
            f"MemoryPlan({len(self)} tensors: arena {_format_bytes(self.arena_bytes)}, "
            f"lower bound {_format_bytes(self.lower_bound)} (x{self.ratio:.3f}), "
            f"naive {_format_bytes(self.naive_bytes)} (x{self.savings:.2f} saved), "
            f"strategy {self.strategy})"
        )


def _int_vector(name: str, values: Iterable[Any]) -> list[int]:
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {values.shape}")
        if values.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integers, got dtype {values.dtype}")
        return [int(v) for v in values.tolist()]
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name}[{i}] must be an int, got {type(v).__name__}")
        out.append(int(v))
    return out


def plan_memory(
    sizes: Iterable[int],
    first: Iterable[int],
    last: Iterable[int],
    alignment: int = 64,
) -> MemoryPlan:
    """Assign arena offsets so that tensors alive at the same step never overlap.

    Args:
        sizes: bytes of each tensor (>= 0).
        first: the first step each tensor is alive at (>= 0).
        last: the last step each tensor is alive at, inclusive (>= first).
        alignment: every offset and size is rounded to this power of two.

    Greedy placement in several orders (by size, by breadth, by lifetime area; best-fit and
    first-fit gaps) keeps the smallest arena, stopping as soon as one reaches the lower bound.
    Raises ``ValueError`` for mismatched lengths, negative sizes or steps, ``last < first``, a
    bad alignment or sizes that overflow.
    """
    s = _int_vector("sizes", sizes)
    f = _int_vector("first", first)
    la = _int_vector("last", last)
    if not (len(s) == len(f) == len(la)):
        raise ValueError(
            f"sizes, first and last must have the same length, got {len(s)}, {len(f)}, {len(la)}"
        )
    align = _check_size("alignment", alignment, positive=True)
    if align & (align - 1) or align > 1 << 30:
        raise ValueError(f"alignment must be a power of two up to 2**30, got {align}")
    limit = (1 << 62) - 1
    for name, vec in (("sizes", s), ("first", f), ("last", la)):
        for i, v in enumerate(vec):
            if v < 0:
                raise ValueError(f"{name}[{i}] must be non-negative, got {v}")
            if v > limit:
                raise ValueError(f"{name}[{i}] = {v} is too large (limit 2**62 - 1)")
    for i, (a, b) in enumerate(zip(f, la)):
        if b < a:
            raise ValueError(f"last[{i}] = {b} is before first[{i}] = {a}")
    if sum(s) + len(s) * align > limit:
        raise ValueError("the tensor sizes add up to more than 2**62 bytes")
    d = _core.plan_memory(s, f, la, align)
    return MemoryPlan(
        offsets=d["offsets"].astype(np.int64),
        sizes=d["sizes"].astype(np.int64),
        first=np.asarray(f, dtype=np.int64),
        last=np.asarray(la, dtype=np.int64),
        arena_bytes=int(d["arena_bytes"]),
        lower_bound=int(d["lower_bound"]),
        naive_bytes=int(d["naive_bytes"]),
        alignment=int(d["alignment"]),
        strategy=str(d["strategy"]),
    )
