"""Session: runs a compiled Program in one native call on one statically planned arena."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Union

import numpy as np

from .. import _core
from .._runtime import get_num_threads
from ..memory import Pool, default_pool
from .compile import Program, TensorSpec

Arrays = Union[np.ndarray, Mapping[str, np.ndarray]]


@dataclass
class MemoryReport:
    """Where a session's memory goes (bytes)."""

    arena_bytes: int     # one arena: the block holding every activation and scratch buffer of a run
    lower_bound: int     # the most bytes alive at one step: no plan of one arena can do better
    naive_bytes: int     # one buffer per tensor, as without planning
    weight_bytes: int    # packed weights, shared by clones and by every arena
    max_batch: int
    steps: list          # (step, kind, precision, activation bytes written, scratch bytes)
    concurrency: int = 1  # arenas the session holds: runs that may be in flight at once
    compact_steps: list = field(default_factory=list)  # steps planned with compact tiles (see Session)
    fast_tiles_arena_bytes: int = 0  # one arena with fast tiles everywhere, for comparison

    @property
    def total_arena_bytes(self) -> int:
        """Bytes of all the session's arenas together (``concurrency`` x ``arena_bytes``)."""
        return self.arena_bytes * self.concurrency

    def __str__(self) -> str:
        arenas = (f"{self.concurrency} arenas x {self.arena_bytes:,} B = {self.total_arena_bytes:,} B"
                  if self.concurrency > 1 else f"arena {self.arena_bytes:,} B")
        lines = [f"{arenas} (lower bound {self.lower_bound:,}, naive {self.naive_bytes:,} per arena) "
                 f"at max_batch={self.max_batch}; weights {self.weight_bytes:,} B"]
        if self.compact_steps:
            lines.append(f"  compact tiles in {len(self.compact_steps)} step(s), marked *: "
                         f"fast ones everywhere would take {self.fast_tiles_arena_bytes:,} B an arena")
        compact = set(self.compact_steps)
        for name, kind, prec, out_b, scr_b in self.steps:
            mark = " *" if name in compact else ""
            lines.append(f"  {name:<24} {kind:<18} {prec:<6} out {out_b:>10,} B  scratch {scr_b:>9,} B{mark}")
        return "\n".join(lines)


class Session:
    """Runs ``program`` for any batch up to ``max_batch`` on statically planned arenas.

    ``run(x)`` returns fresh output arrays; ``run(x, out=...)`` writes the caller's buffers and
    makes no heap allocation at all in steady state. The GIL is released for the whole run.
    Each input is an array of exactly its spec's dtype (``session.inputs``: float32, or the
    uint8 / int8 a graph input was declared with), C-contiguous, shaped (batch,) + its shape;
    outputs are float32.

    Threads: ``run`` may be called from any number of threads at once and always returns the
    result a lone call would (bit for bit). The session holds ``concurrency`` arenas, planned
    once at creation: each run takes a free arena for its duration, and a run that finds none
    free waits for one with the GIL released. ``concurrency=1`` (the default) serializes the
    runs and costs one arena; ``concurrency=N`` lets N runs go at once for N arenas. A run
    keeps the ISA level and the work split it started with, whatever other threads change
    meanwhile (``set_isa``, ``set_num_threads``). ``clone()`` gives an independent session
    on the same weights.

    ``tiles``: the size of the per-thread working tiles of convolutions (im2col rows, the conv
    rows under a fused max-pool), planned in the arena. ``"fast"`` sizes them for GEMM
    throughput; ``"compact"`` takes the fewest rows a tile can have, for the smallest arena
    where those tiles dominate it. ``"auto"`` (the default) takes compact tiles in the steps
    where they make the arena smaller, at ``max_batch=1`` and at any ``max_batch`` whose fast
    plan would pass ``budget``; fast ones elsewhere. ``memory_report()`` marks the steps with
    compact tiles and gives the arena fast ones would take. (float32 results may differ in the
    last bit between the two: a row's sum depends on the GEMM tile it falls in.)

    ``num_threads``: threads one run splits its convolution, pooling and element-wise work over
    (default: ``get_num_threads()``); dense-layer GEMMs split over the library's pool
    (``set_num_threads``). int8 results never depend on either; float32 results may differ in
    the last bit when the thread count changes how a batch's convolution rows are cut into GEMM
    tiles (as with ``tiles``, a row's sum depends on the tile it falls in). ``budget``: the
    most bytes the arenas may take together; a larger plan raises ``MemoryError`` at creation,
    naming the largest ``max_batch`` that fits. ``pool``: where the arenas come from.
    """

    def __init__(self, program: Program, max_batch: int = 64, num_threads: Optional[int] = None,
                 pool: Optional[Pool] = None, *, concurrency: int = 1, budget: Optional[int] = None,
                 tiles: str = "auto") -> None:
        if not isinstance(program, Program):
            raise TypeError(f"program must come from frugalnn.graph.compile, got {type(program).__name__}")
        max_batch = _count("max_batch", max_batch, 1)
        threads = get_num_threads() if num_threads is None else _count("num_threads", num_threads, 1)
        concurrency = _count("concurrency", concurrency, 1)
        budget = 0 if budget is None else _count("budget", budget, 1)
        self.program = program
        self._pool = pool or default_pool()
        if tiles not in ("auto", "fast", "compact"):
            raise ValueError(f"tiles must be 'auto', 'fast' or 'compact', got {tiles!r}")
        self._tiles, self._budget = tiles, budget or None
        self._core = _core.Session(program._core, max_batch, threads, self._pool._core, concurrency, budget, tiles)
        self._in_shapes = [tuple(s.shape[1:]) for s in program.inputs]
        self._out_shapes = [tuple(s.shape[1:]) for s in program.outputs]
        # One input and one output: run(x, out=) checks them in a few comparisons (_run_one).
        self._one = ((program.inputs[0].dtype, self._in_shapes[0], self._out_shapes[0])
                     if len(program.inputs) == 1 and len(program.outputs) == 1 else None)
        self._check_finite = program.has_int8

    @property
    def inputs(self) -> list[TensorSpec]:
        return self.program.inputs

    @property
    def outputs(self) -> list[TensorSpec]:
        return self.program.outputs

    @property
    def max_batch(self) -> int:
        return self._core.max_batch

    @property
    def concurrency(self) -> int:
        """Runs that may be in flight at once (one arena each)."""
        return self._core.concurrency

    def _inputs(self, x: Arrays) -> tuple[list[np.ndarray], int]:
        specs = self.program.inputs
        if isinstance(x, np.ndarray):
            if len(specs) != 1:
                raise ValueError(f"the program has {len(specs)} inputs: pass a dict {{name: array}}")
            arrays = [x]
        elif isinstance(x, Mapping):
            missing = [s.name for s in specs if s.name not in x]
            extra = sorted(set(x) - {s.name for s in specs})
            if missing or extra:
                raise ValueError(f"inputs: missing {missing}, unknown {extra}")
            arrays = [x[s.name] for s in specs]
        else:
            raise TypeError(f"x must be a numpy array or a dict of them, got {type(x).__name__}")
        batch = None
        for spec, a, shape in zip(specs, arrays, self._in_shapes):
            if not isinstance(a, np.ndarray):
                raise TypeError(f"input '{spec.name}' must be a numpy array, got {type(a).__name__}")
            if a.dtype != spec.dtype:
                hint = (f" (declared {spec.dtype} with scale {spec.scale:g}, zero point {spec.zero_point})"
                        if spec.scale is not None else "")
                raise TypeError(f"input '{spec.name}' must be {spec.dtype}{hint}, got {a.dtype} (no implicit casts)")
            if a.ndim != len(shape) + 1 or tuple(a.shape[1:]) != shape:
                raise ValueError(f"input '{spec.name}' must have shape (batch,) + {shape}, got {a.shape}")
            if not a.flags.c_contiguous:
                raise ValueError(f"input '{spec.name}' must be C-contiguous (np.ascontiguousarray)")
            if batch is None:
                batch = a.shape[0]
            elif a.shape[0] != batch:
                raise ValueError("inputs disagree on the batch size")
        assert batch is not None
        if batch < 1:
            raise ValueError("empty batch: nothing to run")
        if batch > self.max_batch:
            raise ValueError(f"batch {batch} exceeds max_batch={self.max_batch} this session was planned for")
        return arrays, batch

    def _outputs(self, out, batch: int, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], object]:
        specs = self.program.outputs
        if out is None:
            arrays = [np.empty((batch,) + shape, np.float32) for shape in self._out_shapes]
            return arrays, (arrays[0] if len(arrays) == 1 else dict(zip([s.name for s in specs], arrays)))
        if isinstance(out, np.ndarray):
            if len(specs) != 1:
                raise ValueError("the program has several outputs: pass out as a dict")
            arrays, result = [out], out
        elif isinstance(out, Mapping):
            if set(out) != {s.name for s in specs}:
                raise ValueError(f"out must have exactly the outputs {[s.name for s in specs]}")
            arrays, result = [out[s.name] for s in specs], out
        else:
            raise TypeError(f"out must be a numpy array or a dict of them, got {type(out).__name__}")
        for spec, a, shape in zip(specs, arrays, self._out_shapes):
            if not isinstance(a, np.ndarray) or a.dtype != np.float32:
                raise TypeError(f"out '{spec.name}' must be a float32 numpy array")
            if a.shape != (batch,) + shape:
                raise ValueError(f"out '{spec.name}' must have shape {(batch,) + shape}, got {a.shape}")
            if not a.flags.c_contiguous or not a.flags.writeable:
                raise ValueError(f"out '{spec.name}' must be C-contiguous and writeable")
            if any(np.may_share_memory(a, i) for i in inputs):
                raise ValueError(f"out '{spec.name}' must not overlap an input")
        return arrays, result

    def run(self, x: Arrays, out: Optional[Arrays] = None) -> Union[np.ndarray, dict]:
        """Outputs for a batch (one array for a single-output program, else a dict)."""
        if self._one is not None and type(x) is np.ndarray and type(out) is np.ndarray and self._run_one(x, out):
            return out
        inputs, batch = self._inputs(x)
        outputs, result = self._outputs(out, batch, inputs)
        # int8 layers would quantize NaN / inf silently: the native run refuses them first.
        self._core.run(inputs, outputs, batch, self.program.has_int8)
        return result

    __call__ = run

    def _run_one(self, x: np.ndarray, out: np.ndarray) -> bool:
        """run(x, out=) of a one-input, one-output program when both arrays pass the checks
        _inputs / _outputs make, in as few steps (the per-call cost of a batch-1 run); False
        when any fails, and the full checks then name it."""
        dtype, in_shape, out_shape = self._one
        batch = x.shape[0] if x.ndim else 0
        if not (x.dtype == dtype and x.shape[1:] == in_shape and 0 < batch <= self.max_batch
                and out.dtype == np.float32 and out.shape[1:] == out_shape and out.shape[0] == batch
                and x.flags.c_contiguous and out.flags.c_contiguous and out.flags.writeable
                and not np.may_share_memory(x, out)):
            return False
        # int8 layers would quantize NaN / inf silently: the native run refuses them first.
        self._core.run([x], [out], batch, self._check_finite)
        return True

    def memory_report(self) -> MemoryReport:
        plan = self._core.plan
        sizes, tensor_entry, scratch_entry = plan["sizes"], plan["tensor_entry"], plan["scratch_entry"]
        steps = []
        for i, info in enumerate(self.program.steps):
            _, _, _, _, out = self.program._core.step_info(i)
            e = tensor_entry[out]
            steps.append((info.name, info.kind, info.precision, int(sizes[e]) if e >= 0 else 0,
                          int(sizes[scratch_entry[i]]) if scratch_entry[i] >= 0 else 0))
        core = self._core
        compact = [info.name for info, t in zip(self.program.steps, core.tiles) if t == "compact"]
        fast = _core.session_arena_bytes(self.program._core, core.max_batch, core.threads, 1, 0, "fast")
        return MemoryReport(int(plan["arena_bytes"]), int(plan["lower_bound"]), int(plan["naive_bytes"]),
                            self.program.weight_bytes, self.max_batch, steps, self.concurrency, compact,
                            int(fast))

    def clone(self) -> "Session":
        """A session on the same program (weights shared) with its own arenas, as many as this one's."""
        return Session(self.program, self.max_batch, self._core.threads, self._pool, concurrency=self.concurrency,
                       budget=self._budget, tiles=self._tiles)

    def profile(self, x: Arrays, repeats: int = 20) -> list[tuple[str, str, str, float]]:
        """Median seconds per step over ``repeats`` runs: (step, kind, precision, seconds)."""
        from .._runtime import runtime_info

        inputs, batch = self._inputs(x)
        outputs, _ = self._outputs(None, batch, inputs)
        samples = [self._core.profile_run(inputs, outputs, batch, self.program.has_int8)
                   for _ in range(max(1, repeats))]
        med = np.median(np.array(samples), axis=0)
        kernels = runtime_info()["kernels"]
        rows = []
        for info, t in zip(self.program.steps, med):
            rows.append((info.name, f"{info.kind} [{_kernel_isa(info, kernels)}]", info.precision, float(t)))
        return rows


def _count(name: str, value, minimum: int) -> int:
    """An int argument >= minimum (numpy ints accepted, bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value >= 2**63:
        raise ValueError(f"{name} is too large: {value}")
    return int(value)


def _kernel_isa(info, kernels: dict) -> str:
    family = {"f32": "gemm_f32", "f16": "gemm_f32_f16w", "bf16": "gemm_f32_bf16w", "int8": "gemm_qu8_qs8w",
              "sparse": "spmm"}
    if info.kind in ("dense", "conv2d", "conv2d+maxpool2d", "sparse_dense"):
        return kernels.get(family.get(info.precision, "gemm_f32"), "?")
    if info.kind == "depthwise_conv2d":
        return kernels.get("dwconv_qu8" if info.precision == "int8" else "dwconv_f32", "?")
    if info.kind == "quantize":
        return kernels.get("quantize_f32_qu8", "?")
    if info.kind == "add" and info.precision == "int8":
        return kernels.get("vadd_qu8", "?")
    if info.kind == "softmax":
        return kernels.get("softmax_f32", "?")
    return "portable"
