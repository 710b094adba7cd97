"""The largest batch whose planned memory fits a budget, for training or inference."""
from __future__ import annotations

from typing import Any

from .. import _core
from .._runtime import get_num_threads
from ..graph.compile import Program, compile
from ..graph.graph import Graph

MAX_BATCH = 1 << 16


def suggest_batch_size(graph_or_program: Any, budget_bytes: int, training: bool = True, *,
                       optimizer: Any = None, loss: Any = None, limit: int = MAX_BATCH) -> int:
    """The largest batch (up to ``limit``) whose planned memory fits in ``budget_bytes``.

    training=True: a Graph's training memory (``TrainingMemoryReport.total_bytes``: the
    planned arena, parameters and their training copies, optimizer state; ``optimizer``
    defaults to Adam). training=False: a Program's (or a Graph compiled in f32) inference
    arena plus its packed weights, for one Session. Raises ``MemoryError`` when not even
    batch 1 fits, saying what batch 1 needs.
    """
    if isinstance(budget_bytes, bool) or not isinstance(budget_bytes, int) or budget_bytes <= 0:
        raise ValueError(f"budget_bytes must be a positive int, got {budget_bytes!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    if training:
        from ..train.trainer import plan_training

        graph = graph_or_program.graph if isinstance(graph_or_program, Program) else graph_or_program
        if not isinstance(graph, Graph):
            raise TypeError("training=True needs a Graph (or a Program compiled from one)")

        def need(b: int) -> int:
            return plan_training(graph, b, optimizer=optimizer, loss=loss).total_bytes

        one = need(1)
        if one > budget_bytes:
            raise MemoryError(f"not even batch 1 fits: training needs {one:,} bytes, the budget is {budget_bytes:,}")
        lo, hi = 1, limit  # need() grows with the batch: the largest fitting one by bisection
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if need(mid) <= budget_bytes:
                lo = mid
            else:
                hi = mid - 1
        return lo
    program = compile(graph_or_program) if isinstance(graph_or_program, Graph) else graph_or_program
    if not isinstance(program, Program):
        raise TypeError(f"expected a Graph or a Program, got {type(graph_or_program).__name__}")
    arena_budget = budget_bytes - program.weight_bytes
    best = (_core.largest_max_batch(program._core, get_num_threads(), 1, arena_budget, limit, "fast")
            if arena_budget > 0 else 0)
    if best == 0:
        raise MemoryError(f"not even batch 1 fits: the weights take {program.weight_bytes:,} of the "
                          f"{budget_bytes:,} bytes and batch 1's arena the rest is too small for")
    return int(best)
