"""Fit a memory budget: choose each layer's storage (f32 / f16 / int8 / 4-bit k-means
codebook / sparse with f32 or int8 values) and, when
storage alone cannot reach the budget, the model's width, so that weights + arena fit with
the least accuracy lost on validation data.

The search is greedy over measured costs. Every candidate is compiled and run: its bytes are
the compiled program's packed weights plus its planned arena at ``batch``, its accuracy is
measured on the validation data. Each round applies the change that saves the most bytes per
accuracy point lost, until the budget holds; a last pass gives back bytes where that
improves accuracy inside the budget. Width (structured channel pruning, fine-tuned when
training data is given) is only cut when no storage choice reaches the budget, since it
needs retraining where storage does not; then the first two widths that fit are both
searched and the more accurate kept.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .._runtime import get_num_threads
from ..graph import layers as L
from ..graph.compile import Program, compile
from ..graph.graph import Graph
from ..graph.session import Session
from .codebook import codebook
from .half import half
from .prune import masks_of, prune
from .quantize import _calibration, fold_batchnorm, quantize

__all__ = ["BudgetError", "FitResult", "fit"]

_WIDTHS = (0.25, 0.5, 0.75)                 # structured sparsities tried, in order
_SPARSE = (0.5, 0.75, 0.9)                  # unstructured sparsities of a Dense layer
_EPS = 0.0005                               # accuracy lost below this counts as this


class BudgetError(ValueError):
    """The budget cannot be met: ``smallest`` is the fewest bytes (weights + arena) reached."""

    def __init__(self, message: str, smallest: int) -> None:
        super().__init__(message)
        self.smallest = smallest


@dataclass
class FitResult:
    """What ``fit`` chose and why. ``graph`` compiles (``compile(result.graph)``) to a
    program of ``weight_bytes`` + ``arena_bytes`` = ``footprint`` <= ``budget``."""

    graph: Graph
    budget: int
    batch: int
    footprint: int
    weight_bytes: int
    arena_bytes: int
    accuracy: float                  # on the validation data
    original_footprint: int
    original_accuracy: float
    choices: dict                    # layer -> "f32" | "f16" | "int8" | "sparse 75%" ...
    width: float = 0.0               # the fraction of channels removed (structured pruning)
    log: list = field(default_factory=list)   # the decisions, in order, with their costs
    seconds: float = 0.0

    def __str__(self) -> str:
        lines = [f"budget {_b(self.budget)} at batch {self.batch}: {_b(self.footprint)} "
                 f"(weights {_b(self.weight_bytes)} + arena {_b(self.arena_bytes)}), "
                 f"{self.footprint / self.original_footprint:.1%} of the original {_b(self.original_footprint)}; "
                 f"validation accuracy {100 * self.accuracy:.2f}% (original {100 * self.original_accuracy:.2f}%)"]
        if self.width:
            lines.append(f"  width: {self.width:.0%} of the channels removed (structured), fine-tuned")
        lines += [f"  {name}: {choice}" for name, choice in self.choices.items()]
        lines += [f"  - {entry}" for entry in self.log]
        return "\n".join(lines)


def _b(n: float) -> str:
    return f"{n / 1024:,.1f} KiB" if n < 2 ** 20 else f"{n / 2 ** 20:,.2f} MiB"


@dataclass
class _Measured:
    footprint: int
    weight_bytes: int
    arena_bytes: int
    accuracy: float


@dataclass
class _Candidates:
    """What measuring a candidate reads: the quantized graph, each layer's storage options, the
    validation data, the batch and thread count of the plan. A distributed fit sends it once
    to every worker."""

    q: Graph
    options: dict
    val: tuple
    batch: int
    threads: int

    def graph(self, state: dict) -> Graph:
        g = copy.copy(self.q)
        g.nodes = [copy.copy(n) for n in self.q.nodes]
        for n in g.nodes:
            if n.layer.name in state:
                n.layer = self.options[n.layer.name][state[n.layer.name]]
        return g


def _measure(c: _Candidates, state: dict) -> _Measured:
    """Compile the candidate and measure it: packed weights + the arena at ``batch``, and the
    validation accuracy. A function of its arguments alone, so that a worker measures exactly
    what this process would (the thread count is fixed: it shapes the arena and the tiles)."""
    program = compile(c.graph(state))
    arena = Session(program, max_batch=c.batch, num_threads=c.threads).memory_report().arena_bytes
    acc = _accuracy(program, *c.val, threads=c.threads)
    return _Measured(program.weight_bytes + arena, program.weight_bytes, arena, acc)


class _Search:
    """The candidates of one model width: per layer, the graph's layer in each storage."""

    def __init__(self, base: Graph, calibration: np.ndarray, val: tuple, batch: int, threads: int,
                 client: Any = None) -> None:
        q = quantize(base, calibration)                           # BatchNorm folded, every layer int8-ready
        self.names = [n.layer.name for n in q.nodes if isinstance(n.layer, (L.Dense, L.Conv2d))]
        f16 = half(base, "f16") if _f16_safe(q) else None
        cb4 = codebook(base, 4)
        options: dict[str, dict[str, Any]] = {}
        for node in q.nodes:
            layer = node.layer
            if layer.name not in self.names:
                continue
            opts = {"f32": _with(layer, precision="f32")}
            if f16 is not None:
                opts["f16"] = _with(_layer(f16, layer.name), precision="f16")
            opts["int8"] = _with(layer, precision="int8")
            opts["codebook 4-bit"] = _layer(cb4, layer.name)
            if isinstance(layer, L.Dense):
                for s in _SPARSE:
                    w = _magnitude_pruned(layer.weight, s)
                    opts[f"sparse {s:.0%}"] = _with(layer, precision="sparse", weight=w)
                    opts[f"sparse {s:.0%} int8"] = _with(layer, precision="sparse_int8", weight=w)
            options[layer.name] = opts
        self.candidates = _Candidates(q, options, val, batch, threads)
        self.q, self.options = q, options
        self.client, self._shared = client, None
        self.cache: dict[tuple, _Measured] = {}

    def graph(self, state: dict) -> Graph:
        return self.candidates.graph(state)

    def _key(self, state: dict) -> tuple:
        return tuple(state[n] for n in self.names)

    def measure(self, state: dict) -> _Measured:
        key = self._key(state)
        if key not in self.cache:
            self.cache[key] = _measure(self.candidates, state)
        return self.cache[key]

    def prefetch(self, states: list) -> None:
        """Measure the states not measured yet together, on the cluster when the search has a
        client (the search itself then reads them from the cache, in its own order)."""
        todo: dict[tuple, dict] = {}
        for state in states:
            key = self._key(state)
            if key not in self.cache:
                todo.setdefault(key, state)
        if self.client is None or len(todo) < 2:
            return
        from ..dask.sweep import map_shared, share

        if self._shared is None:
            self._shared = share(self.client, self.candidates)
        for key, m in zip(todo, map_shared(self.client, _measure, self._shared, list(todo.values()))):
            self.cache[key] = m

    def smallest(self) -> dict:
        """Per layer the option with the fewest bytes (measured one layer at a time)."""
        state = {n: "f32" for n in self.names}
        for name in self.names:
            self.prefetch([{**state, name: o} for o in self.options[name]])
            best = min(self.options[name], key=lambda o: self.measure({**state, name: o}).footprint)
            state[name] = best
        return state

    def greedy(self, budget: int, log: list) -> dict:
        state = {n: "f32" for n in self.names}
        cur = self.measure(state)
        while cur.footprint > budget:
            self.prefetch([{**state, name: o} for name in self.names for o in self.options[name] if o != state[name]])
            best, best_score = None, -np.inf
            for name in self.names:
                for o in self.options[name]:
                    if o == state[name]:
                        continue
                    m = self.measure({**state, name: o})
                    saved = cur.footprint - m.footprint
                    if saved <= 0:
                        continue
                    score = saved / max(cur.accuracy - m.accuracy, _EPS)
                    if score > best_score:
                        best, best_score = (name, o, m, saved), score
            if best is None:
                break
            name, o, m, saved = best
            log.append(f"{name}: {state[name]} -> {o} saves {_b(saved)} for "
                       f"{100 * (cur.accuracy - m.accuracy):+.2f} points (the most bytes per point lost)")
            state[name], cur = o, m
        # Give back: a layer stored larger again where the budget allows and accuracy gains.
        # Each change is taken as soon as it is seen; the candidates after it are measured
        # together (prefetched) from the new state.
        pairs = [(name, o) for name in self.names for o in self.options[name]]
        improved = True
        while improved:
            improved, fresh = False, True
            for i, (name, o) in enumerate(pairs):
                if fresh:
                    self.prefetch([{**state, n: p} for n, p in pairs[i:]])
                    fresh = False
                m = self.measure({**state, name: o})
                if m.footprint <= budget and m.accuracy > cur.accuracy:
                    log.append(f"{name}: {state[name]} -> {o} inside the budget gains "
                               f"{100 * (m.accuracy - cur.accuracy):.2f} points")
                    state[name], cur, improved, fresh = o, m, True, True
        return state


def _layer(g: Graph, name: str):
    return next(n.layer for n in g.nodes if n.layer.name == name)


def _with(layer, **attrs):
    new = copy.copy(layer)
    for k, v in attrs.items():
        setattr(new, k, v)
    return new


def _f16_safe(g: Graph) -> bool:
    return all(float(np.max(np.abs(n.layer.weight))) <= 65504.0 for n in g.nodes
               if isinstance(n.layer, (L.Dense, L.Conv2d)))


def _magnitude_pruned(w: np.ndarray, s: float) -> np.ndarray:
    k = int(round(s * w.size))
    if k == 0:
        return w
    cut = np.partition(np.abs(w).reshape(-1), k - 1)[k - 1]
    out = np.where(np.abs(w) > cut, w, np.float32(0)).astype(np.float32)
    return out


def _accuracy(program: Program, x: np.ndarray, y: np.ndarray, threads: int) -> float:
    s = Session(program, max_batch=min(len(x), 256), num_threads=threads)
    hits = 0
    for i in range(0, len(x), 256):
        hits += int(np.count_nonzero(s.run(x[i:i + 256]).argmax(1) == y[i:i + 256]))
    return hits / len(x)


def _validation(graph: Graph, validation: Any) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(validation, tuple) and len(validation) == 2):
        raise TypeError("validation must be (x, y): float32 inputs and integer labels")
    x, y = validation
    _calibration(graph, x)
    y = np.asarray(y)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"validation labels must be {len(x)} integers, got {y.dtype} {y.shape}")
    return x, y


def fit(graph: Graph, budget_bytes: int, calibration_data: np.ndarray, validation: tuple, *,
        train_data: Any = None, batch: int = 1, finetune_epochs: int = 3, seed: int = 0,
        widths: Sequence[float] = _WIDTHS, progress: Optional[Callable[[str], None]] = None,
        client: Any = None) -> FitResult:
    """A copy of ``graph`` whose weights + arena (at ``batch``) fit ``budget_bytes``, with
    the least validation accuracy lost that the search finds.

    Args:
        budget_bytes: the most bytes the compiled program's packed weights plus one arena at
            ``batch`` may take.
        calibration_data: inputs for the int8 layers' activation ranges (``quantize``).
        validation: ``(x, y)`` the choices are measured on (keep it apart from the test data).
        train_data: ``(x, y)`` or a Loader: fine-tune after pruning (``finetune_epochs``
            epochs: the layers chosen sparse keep their zeros through masks; a narrower model
            is retrained before its storage is chosen). Without it nothing is retrained.
        widths: the structured sparsities tried, in order, when storage alone cannot fit.
        progress: called with a line of text at each stage.
        client: a ``distributed.Client``: each round's candidates (compile + arena + validation
            accuracy) are measured on its workers, the search state sent once per model width;
            fine-tuning stays here. The choice is the one the single-process run makes: every
            measurement is a function of the candidate alone, run with this process's thread
            count (``get_num_threads()``) wherever it runs.

    Returns a :class:`FitResult`; ``print(result)`` says what was chosen and why. Raises
    :class:`BudgetError` (a ValueError) naming the smallest footprint reachable when no
    choice fits.
    """
    t0 = time.perf_counter()
    if isinstance(budget_bytes, bool) or not isinstance(budget_bytes, (int, np.integer)) or budget_bytes <= 0:
        raise ValueError(f"budget_bytes must be a positive int, got {budget_bytes!r}")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    calibration_data = _calibration(graph, calibration_data)
    val = _validation(graph, validation)
    if client is not None:
        from ..dask.sweep import check_client

        check_client(client)
    threads = get_num_threads()
    say = progress or (lambda line: None)
    log: list[str] = []
    base = fold_batchnorm(graph)
    original = _Search(base, calibration_data, val, batch, threads, client)
    orig = original.measure({n: "f32" for n in original.names})
    smallest = None
    found: list[tuple[_Measured, float, Graph, dict, list]] = []
    for width in (0.0,) + tuple(widths):
        if found and (found[0][1] == 0.0 or len(found) == 2):
            break  # storage alone fits: no retraining; else compare the first two widths that fit
        narrow = prune(base, width, structured=True) if width else base
        search = _Search(narrow, calibration_data, val, batch, threads, client) if width else original
        floor = search.measure(search.smallest())  # bytes do not depend on training: check first
        smallest = floor.footprint if smallest is None else min(smallest, floor.footprint)
        if floor.footprint > budget_bytes:
            log.append(f"width -{width:.0%}: the smallest storage reaches {_b(floor.footprint)}, over the budget")
            continue
        if width and train_data is not None:
            say(f"fit: fine-tuning with {width:.0%} of the channels removed")
            _finetune(narrow, train_data, finetune_epochs, seed, None)
            search = _Search(narrow, calibration_data, val, batch, threads, client)
        say(f"fit: choosing storage per layer at width -{width:.0%}")
        steps: list[str] = []
        state = search.greedy(budget_bytes, steps)
        g = search.graph(state)
        if train_data is not None and any(o.startswith("sparse") for o in state.values()):
            g = _finetune_sparse(search, state, train_data, calibration_data, finetune_epochs, seed, steps)
        g = copy.deepcopy(g)
        found.append((_measure_graph(g, val, batch, threads), width, g, state, steps))
    if found:
        m, width, g, state, steps = max(found, key=lambda f: (f[0].accuracy, -f[0].footprint))
        if len(found) > 1:
            log.append("widths that fit: " + ", ".join(f"-{f[1]:.0%} at {100 * f[0].accuracy:.2f}%" for f in found)
                       + f"; kept -{width:.0%}, the most accurate on validation")
        log += [f"[width -{width:.0%}] {line}" if width else line for line in steps]
        return FitResult(graph=g, budget=int(budget_bytes), batch=batch, footprint=m.footprint,
                         weight_bytes=m.weight_bytes, arena_bytes=m.arena_bytes, accuracy=m.accuracy,
                         original_footprint=orig.footprint, original_accuracy=orig.accuracy,
                         choices=dict(state), width=width, log=log, seconds=time.perf_counter() - t0)
    raise BudgetError(
        f"the budget of {_b(budget_bytes)} (weights + arena at batch {batch}) cannot be met: the smallest "
        f"footprint reachable is {_b(smallest)} ({smallest:,} bytes; the original is {_b(orig.footprint)}), "
        f"with every layer at its smallest storage and {max(widths, default=0):.0%} of the channels removed",
        smallest)


def _measure_graph(g: Graph, val: tuple, batch: int, threads: int) -> _Measured:
    return _measure(_Candidates(g, {}, val, batch, threads), {})


def _finetune(g: Graph, train_data: Any, epochs: int, seed: int, masks: Optional[dict]) -> None:
    from ..train import fit as train_fit

    train_fit(g, train_data, epochs, seed=seed, masks=masks, progress=False)


def _finetune_sparse(search: _Search, state: dict, train_data: Any, calibration: np.ndarray, epochs: int,
                     seed: int, log: list) -> Graph:
    """Fine-tune the float weights with the sparse layers' zeros kept, then store every layer
    as chosen again (int8 recalibrated, f16 rounded from the new weights)."""
    g = copy.deepcopy(search.q)
    for n in g.nodes:
        layer = n.layer
        if layer.name in state:
            layer.quant, layer.precision = None, None
            if state[layer.name].startswith("sparse"):
                layer.weight = search.options[layer.name][state[layer.name]].weight.copy()
    _finetune(g, train_data, epochs, seed, masks_of(g))
    keep = [name for name, o in state.items() if o != "int8"]
    q = quantize(g, calibration, keep_float=keep)
    f16 = [name for name, o in state.items() if o == "f16"]
    if f16:
        q = half(q, "f16", keep=[n for n in search.names if n not in f16])
    cb = [name for name, o in state.items() if o == "codebook 4-bit"]
    if cb:
        q = codebook(q, 4, keep=[n for n in search.names if n not in cb])
    for n in q.nodes:
        if n.layer.name in state and state[n.layer.name].startswith("sparse"):
            n.layer.precision = search.options[n.layer.name][state[n.layer.name]].precision
    log.append(f"fine-tuned {epochs} epochs with the sparse layers' zeros kept, then stored as chosen")
    return q
