"""The training engine: one graph's forward, loss, backward and parameter updates on one
planned arena.

Every tensor of a training step gets a lifetime on one timeline (input copy, the forward of
each op, the loss, the backward of each op in reverse) and the memory planner packs them
into one arena, sized for ``max_batch`` before the first step:

* activations live from their forward until the last backward that reads them (ops say
  which: a conv keeps its input, a ReLU its output, max pooling both and no indices);
* activation gradients live from the first backward that writes them to their producer's
  backward; parameter gradients only during their op's backward, because the optimizer
  updates each parameter right after its op's backward (no gradient waits for the others);
* op scratch (BatchNorm's normalized input, Dropout's mask as bytes, the loss's work rows).

Parameters and optimizer state are the only persistent buffers. A step with a batch size
seen before allocates nothing: every array is a cached view of the arena.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..graph.graph import Graph
from ..graph.layers import GraphError
from ..memory import Pool, default_pool, plan_memory
from .losses import CrossEntropy, Loss
from .optimizers import Adam, Optimizer
from .ops import TrainOp, internal, trainop_for
from .ops.base import BufferSpec
from .ops.fake_quant import FakeQuantOp, fake_quant_trainop

_VIEW_CACHE = 8  # batch sizes whose views are kept (full, last partial, evaluation, ...)


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message names the epoch and step."""


@dataclass
class _Unit:
    op: TrainOp
    inputs: list[str]
    output: str
    index: int = 0
    backward: bool = False               # runs a backward pass
    dx_keys: list = field(default_factory=list)   # per input: buffer key its gradient goes to, or None
    accumulate: list = field(default_factory=list)  # (grad key, temp key) added after the backward


@dataclass(frozen=True)
class TrainingMemoryReport:
    """Training memory for one (graph, max_batch), known before the first step.

    ``arena_bytes`` is the planned arena holding every per-step buffer (kept activations,
    gradients, op and loss scratch); ``lower_bound`` the most bytes alive at any one point of
    the step (no plan can do better) and ``naive_bytes`` the sum of all of them (one buffer
    each, as an eager framework without reuse holds them). Parameters (the training copies
    that are not the graph's own arrays) and optimizer state are persistent."""

    max_batch: int
    arena_bytes: int
    lower_bound: int
    naive_bytes: int
    activation_bytes: int
    gradient_bytes: int
    scratch_bytes: int
    parameter_bytes: int
    parameter_copy_bytes: int
    optimizer_state_bytes: int

    @property
    def total_bytes(self) -> int:
        """Everything a training step needs: the graph's parameters, the training copies of
        those the kernels want in another layout, optimizer state and the arena."""
        return self.arena_bytes + self.parameter_bytes + self.parameter_copy_bytes + self.optimizer_state_bytes

    def __str__(self) -> str:
        mib = lambda n: f"{n / 2**20:8.2f} MiB"  # noqa: E731
        return "\n".join([
            f"training memory at batch {self.max_batch}",
            f"  arena (planned)       {mib(self.arena_bytes)}",
            f"  lower bound           {mib(self.lower_bound)}",
            f"  naive (no reuse)      {mib(self.naive_bytes)}",
            f"    activations kept    {mib(self.activation_bytes)}",
            f"    gradients           {mib(self.gradient_bytes)}",
            f"    scratch             {mib(self.scratch_bytes)}",
            f"  parameters            {mib(self.parameter_bytes)} ({mib(self.parameter_copy_bytes).strip()} copied)",
            f"  optimizer state       {mib(self.optimizer_state_bytes)}",
            f"  total                 {mib(self.total_bytes)}",
        ])


def plan_training(graph: Graph, max_batch: int, *, optimizer: Optional[Optimizer] = None,
                  loss: Optional[Loss] = None, fake_quant: bool = False) -> TrainingMemoryReport:
    """The memory a :class:`Trainer` of ``graph`` at ``max_batch`` would take, planned
    without allocating its arena or optimizer state."""
    return Trainer(graph, optimizer=optimizer, loss=loss, max_batch=max_batch, fake_quant=fake_quant,
                   _plan_only=True).memory_report()


class Trainer:
    """Trains ``graph`` in place: forward, loss, backward and updates on its planned arena.

    Args:
        graph: one input, one output of per-sample shape (classes,) (a trailing Softmax is
            handled with the loss: the loss reads its input, the logits).
        optimizer: an :class:`Optimizer` (default ``Adam()``).
        loss: a :class:`Loss` (default ``CrossEntropy()``).
        max_batch: the largest batch a step takes; the arena is planned for it.
        masks: ``{param or layer name: array}`` of 0 / nonzero per weight value (the layer's
            layout): zeros stay exactly zero through training (pruned weights).
        seed: seeds Dropout.
        pool: the Pool the arena comes from (default: the default pool).
        budget: the most bytes training may take (``memory_report().total_bytes``); a larger
            plan raises ``MemoryError`` before anything is allocated, naming the largest
            ``max_batch`` that fits.
        fake_quant: quantization-aware training: the Dense / Conv2d layers that carry int8
            ``QuantParams`` (from ``compress.quantize``) run on fake-quantized inputs and weights
            with straight-through gradients (``train/ops/fake_quant.py``); the others as usual.
    """

    def __init__(self, graph: Graph, *, optimizer: Optional[Optimizer] = None, loss: Optional[Loss] = None,
                 max_batch: int = 128, masks: Optional[dict] = None, seed: Optional[int] = None,
                 pool: Optional[Pool] = None, budget: Optional[int] = None, fake_quant: bool = False,
                 _plan_only: bool = False) -> None:
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a frugalnn Graph, got {type(graph).__name__}")
        if isinstance(max_batch, bool) or not isinstance(max_batch, (int, np.integer)) or max_batch < 1:
            raise ValueError(f"max_batch must be a positive int, got {max_batch!r}")
        graph.check()
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            raise GraphError(f"training takes a graph with one input and one output, got {len(graph.inputs)} "
                             f"inputs and {len(graph.outputs)} outputs")
        self.graph = graph
        self.max_batch = int(max_batch)
        self.optimizer = optimizer if optimizer is not None else Adam()
        self.loss = loss if loss is not None else CrossEntropy()
        if not isinstance(self.optimizer, Optimizer):
            raise TypeError(f"optimizer must be a frugalnn.train Optimizer, got {type(self.optimizer).__name__}")
        if not isinstance(self.loss, Loss):
            raise TypeError(f"loss must be a frugalnn.train Loss, got {type(self.loss).__name__}")
        self.input_name = next(iter(graph.inputs))
        self.input_shape = tuple(graph.inputs[self.input_name])
        self.output_name = graph.outputs[0]
        out_shape = graph.shapes[self.output_name]
        if len(out_shape) != 1:
            raise GraphError(f"training needs a (classes,) output per sample, '{self.output_name}' is {out_shape}")
        self.classes = out_shape[0]
        self._rng = np.random.default_rng(seed)
        self.fake_quant = bool(fake_quant)
        self._build_units()
        if self.fake_quant and not any(isinstance(u.op, FakeQuantOp) for u in self.units):
            raise GraphError("fake_quant=True, but no Dense / Conv2d layer carries int8 QuantParams "
                             "(quantize the graph first: frugalnn.compress.quantize)")
        self.params = [p for u in self.units for p in u.op.params]
        if not self.params:
            raise GraphError("the graph has no trainable parameters (Dense, Conv2d or BatchNorm layers)")
        self._apply_masks(masks or {})
        if not _plan_only:
            self.optimizer.bind(self.params)
            self.loss.bind(self, self.classes)
        self._plan()
        if _plan_only:
            return
        if budget is not None:
            self._check_budget(budget)
        self._pool = pool if pool is not None else default_pool()
        self._arena = self._pool.empty((max(self.plan.arena_bytes, 64),), np.uint8)
        self._views: dict[int, dict] = {}
        self.step_count = 0
        # One step at a time: a step owns the arena. Calls from several threads queue here.
        self._lock = threading.Lock()

    # -- structure ---------------------------------------------------------------------------

    def _build_units(self) -> None:
        g = self.graph
        consumers: dict[str, list] = {}
        for node in g.nodes:
            for i in node.inputs:
                consumers.setdefault(i, []).append(node)
        fused: set[int] = set()
        units: list[_Unit] = []
        for idx, node in enumerate(g.nodes):
            if idx in fused:
                continue
            shapes = ([g.shapes[i] for i in node.inputs], g.shapes[node.output])
            op = fake_quant_trainop(node.layer, *shapes) if self.fake_quant else None
            op = op or trainop_for(node.layer, *shapes)
            op.rng = self._rng
            out = node.output
            cons = consumers.get(out, [])
            if (op.fuses_activation and not op.activated and len(cons) == 1 and out not in g.outputs
                    and cons[0].layer.op in ("relu", "clip")):
                act = cons[0].layer
                op.fuse(*((0.0, math.inf) if act.op == "relu" else (act.lo, act.hi)))
                fused.add(g.nodes.index(cons[0]))
                out = cons[0].output
            units.append(_Unit(op, list(node.inputs), out, len(units)))
        # A max pool right after a clamp (conv + ReLU -> pool) applies the clamp's backward in
        # its own pass: it reads the clamp's output anyway, and a pass over the largest
        # gradient of the step is saved.
        readers: dict[str, list] = {}
        for u in units:
            for t in u.inputs:
                readers.setdefault(t, []).append(u)
        for u in units:
            r = readers.get(u.output, [])
            if (u.op.activated and len(r) == 1 and u.output not in g.outputs and hasattr(r[0].op, "take_clamp")
                    and hasattr(u.op, "clamp_downstream")):
                r[0].op.take_clamp(u.op.lo, u.op.hi)
                u.op.clamp_downstream = True
        self.units = units
        last = next(u for u in units if u.output == self.output_name)
        self.logits = self.output_name
        self._softmax_unit: Optional[_Unit] = None
        if self.loss.takes_logits and last.op.layer.op == "softmax":
            self.logits = last.inputs[0]
            self._softmax_unit = last

    def _apply_masks(self, masks: dict) -> None:
        by_name = {p.name: p for p in self.params}
        for key, m in masks.items():
            p = by_name.get(key) or by_name.get(f"{key}.weight")
            if p is None:
                raise ValueError(f"masks: no parameter '{key}' (parameters: {sorted(by_name)})")
            m = np.asarray(m)
            layer_shape = getattr(p.layer, p.attr).shape if hasattr(p, "layer") else p.value.shape
            if m.shape != layer_shape:
                raise ValueError(f"masks['{key}'] has shape {m.shape}, the parameter {layer_shape}")
            if m.dtype.kind not in "biuf" or (m.dtype.kind == "f" and not np.all(np.isfinite(m))):
                raise ValueError(f"masks['{key}'] must hold 0 / 1 numbers, got {m.dtype}")
            keep = m != 0
            if getattr(p, "from_layer", None) is not None:
                keep = p.from_layer(keep)
            p.mask = np.ascontiguousarray(keep, np.uint8)
            np.multiply(p.value, p.mask, out=p.value, casting="unsafe")

    def _plan(self) -> None:
        units, g = self.units, self.graph
        n = len(units)
        F = lambda i: 1 + i  # noqa: E731
        L = n + 1
        B = lambda i: 2 * n + 1 - i  # noqa: E731
        producer = {u.output: u for u in units}
        cons: dict[str, list] = {}
        for u in units:
            for pos, t in enumerate(u.inputs):
                cons.setdefault(t, []).append((u, pos))
        # Which tensors lead to the loss, then which ops run a backward (forward order).
        reaches = {self.logits}
        for u in reversed(units):
            if u is not self._softmax_unit and u.output in reaches:
                reaches.update(u.inputs)
        needs_grad: dict[str, bool] = {self.input_name: False}
        for u in units:
            u.backward = (u.output in reaches and u is not self._softmax_unit
                          and (bool(u.op.params) or any(needs_grad.get(t, False) for t in u.inputs)))
            needs_grad[u.output] = u.backward
        self.needs_grad = needs_grad

        entries: list[tuple] = []  # (key, spec, first, last, kind)

        def shape_of(t: str) -> tuple:
            return internal(g.shapes[t])

        # activations
        for t in [self.input_name] + [u.output for u in units]:
            first = 0 if t == self.input_name else F(producer[t].index)
            last = first
            for u, _ in cons.get(t, []):
                last = max(last, F(u.index))
                if u.backward and u.op.saves_inputs:
                    last = max(last, B(u.index))
            p = producer.get(t)
            if p is not None and p.backward and (p.op.saves_output or p.op.activated):
                last = max(last, B(p.index))
            if t in (self.logits, self.output_name):
                last = max(last, L)
            entries.append((("act", t), BufferSpec(shape_of(t)), first, last, "activation"))
        # activation gradients, and the temps of second and later contributions
        if not needs_grad.get(self.logits, False):  # the loss writes its gradient all the same
            entries.append((("grad", self.logits), BufferSpec(shape_of(self.logits)), L, L, "gradient"))
        for t, ng in needs_grad.items():
            if not ng:
                continue
            contribs = [(u, pos) for u, pos in cons.get(t, []) if u.backward]
            times = [B(u.index) for u, _ in contribs] + ([L] if t == self.logits else [])
            entries.append((("grad", t), BufferSpec(shape_of(t)), min(times), B(producer[t].index), "gradient"))
        for u in units:
            u.dx_keys, u.accumulate = [], []
        written: set[str] = {self.logits}
        for u in reversed(units):
            if not u.backward:
                continue
            for pos, t in enumerate(u.inputs):
                if not needs_grad.get(t, False):
                    u.dx_keys.append(None)
                elif t not in written:
                    written.add(t)
                    u.dx_keys.append(("grad", t))
                else:
                    key = ("gtmp", t, u.index, pos)
                    entries.append((key, BufferSpec(shape_of(t)), B(u.index), B(u.index), "gradient"))
                    u.dx_keys.append(key)
                    u.accumulate.append((("grad", t), key))
        # op buffers and parameter gradients
        for u in units:
            i, op = u.index, u.op
            for name, spec in op.saved.items():
                entries.append((("saved", i, name), spec, F(i), B(i) if u.backward else F(i), "activation"))
            for name, spec in op.forward_scratch.items():
                entries.append((("fscratch", i, name), spec, F(i), F(i), "scratch"))
            if u.backward:
                for name, spec in op.scratch.items():
                    entries.append((("scratch", i, name), spec, B(i), B(i), "scratch"))
                for p in op.params:
                    entries.append((("pgrad", p.name), BufferSpec(p.value.shape, batched=False), B(i), B(i),
                                    "gradient"))
        for name, spec in self.loss.buffers(self.classes).items():
            entries.append((("loss", name), spec, L, L, "scratch"))
        for name, dtype in (("pred", np.int64), ("hit", np.bool_)):  # accuracy, at the loss
            entries.append((("metric", name), BufferSpec((), dtype), L, L, "scratch"))

        mb = self.max_batch
        self.plan = plan_memory([s.nbytes(mb) for _, s, _, _, _ in entries], [e[2] for e in entries],
                                [e[3] for e in entries])
        self._entries = entries
        self._offsets = {e[0]: int(o) for e, o in zip(entries, self.plan.offsets)}
        kinds: dict[str, int] = {}
        for (_, s, _, _, kind) in entries:
            kinds[kind] = kinds.get(kind, 0) + s.nbytes(mb)
        pbytes = sum(p.nbytes for p in self.params)
        copies = sum(p.nbytes for p in self.params if not getattr(p, "shared", True))
        self._report = TrainingMemoryReport(
            max_batch=mb, arena_bytes=self.plan.arena_bytes, lower_bound=self.plan.lower_bound,
            naive_bytes=self.plan.naive_bytes, activation_bytes=kinds.get("activation", 0),
            gradient_bytes=kinds.get("gradient", 0), scratch_bytes=kinds.get("scratch", 0),
            parameter_bytes=pbytes, parameter_copy_bytes=copies,
            optimizer_state_bytes=len(self.optimizer.state_names) * pbytes)

    def _check_budget(self, budget: int) -> None:
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget <= 0:
            raise ValueError(f"budget must be a positive int (bytes), got {budget!r}")
        need = self._report.total_bytes
        if need <= budget:
            return
        from ..data.batch_size import suggest_batch_size

        try:
            fits = suggest_batch_size(self.graph, int(budget), optimizer=self.optimizer, loss=self.loss,
                                      limit=self.max_batch)
            hint = f"max_batch={fits} fits"
        except MemoryError as e:
            hint = str(e)
        raise MemoryError(f"training at max_batch={self.max_batch} needs {need:,} bytes (arena "
                          f"{self._report.arena_bytes:,}, parameters, optimizer state), the budget is "
                          f"{int(budget):,}: {hint}")

    def memory_report(self) -> TrainingMemoryReport:
        """The planned training memory (known before the first step)."""
        return self._report

    # -- views -------------------------------------------------------------------------------

    def _views_for(self, m: int) -> dict:
        v = self._views.get(m)
        if v is not None:
            return v
        if len(self._views) >= _VIEW_CACHE:
            self._views.clear()
        v = {}
        for key, spec, _, _, _ in self._entries:
            off = self._offsets[key]
            shape = ((m,) + spec.shape) if spec.batched else spec.shape
            nbytes = spec.nbytes(m) if spec.batched else spec.nbytes(1)
            v[key] = self._arena[off: off + nbytes].view(spec.dtype).reshape(shape)
        per_unit = []
        for u in self.units:
            i = u.index
            per_unit.append((
                [v[("act", t)] for t in u.inputs], v[("act", u.output)],
                {name: v[("saved", i, name)] for name in u.op.saved} | {
                    name: v[("fscratch", i, name)] for name in u.op.forward_scratch},
                {name: v[("saved", i, name)] for name in u.op.saved} | (
                    {name: v[("scratch", i, name)] for name in u.op.scratch} if u.backward else {}),
                v.get(("grad", u.output)),
                [None if k is None else v[k] for k in u.dx_keys],
                [(v[a], v[b]) for a, b in u.accumulate],
                [(p, v[("pgrad", p.name)]) for p in u.op.params] if u.backward else [],
            ))
        v["units"] = per_unit
        v["loss"] = {name: v[("loss", name)] for name in self.loss.buffers(self.classes)}
        v["metric"] = {"pred": v[("metric", "pred")], "hit": v[("metric", "hit")]}
        self._views[m] = v
        return v

    # -- steps -------------------------------------------------------------------------------

    def _batch(self, x: Any, what: str = "x") -> int:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{what} must be a numpy array, got {type(x).__name__}")
        if x.dtype != np.float32:
            raise TypeError(f"{what} must be float32, got {x.dtype} (no implicit casts)")
        if x.ndim != 1 + len(self.input_shape) or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{what} must have shape (batch,) + {self.input_shape}, got {x.shape}")
        m = x.shape[0]
        if not 1 <= m <= self.max_batch:
            raise ValueError(f"{what} has a batch of {m}; this trainer takes 1 to {self.max_batch} (max_batch)")
        return m

    def _labels(self, y: Any, m: int) -> np.ndarray:
        if not isinstance(y, np.ndarray):
            raise TypeError(f"y must be a numpy array of class indices, got {type(y).__name__}")
        if y.shape != (m,):
            raise ValueError(f"y must have shape ({m},) (one class index per sample), got {y.shape}")
        if y.dtype != np.int64:
            if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
                raise ValueError("y holds NaN or infinity")
            if y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and np.any(y != np.round(y))):
                raise ValueError(f"y must hold integer class indices, got {y.dtype}")
            y = y.astype(np.int64)
        return y  # the range is checked by the loss (in its native pass)

    def _forward(self, x: np.ndarray, v: dict, training: bool) -> None:
        inp = v[("act", self.input_name)]
        np.copyto(inp, x.transpose(0, 2, 3, 1) if len(self.input_shape) == 3 else x)
        for u, (xs, y, fbufs, _, _, _, _, _) in zip(self.units, v["units"]):
            u.op.forward(xs, y, fbufs, training)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        """One step on a batch: forward, loss, backward, updates. Returns (mean loss, number
        of correct predictions). Raises :class:`TrainingDiverged` (weights untouched by this
        step) if the loss is not finite. Steps from several threads run one after another."""
        with self._lock:
            return self._train_step(x, y)

    def _train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        m = self._batch(x)
        y = self._labels(y, m)
        v = self._views_for(m)
        with np.errstate(all="ignore"):  # a diverging step shows in the loss, checked below
            self._forward(x, v, True)
            loss = self.loss(v[("act", self.logits)], y, v[("grad", self.logits)], v["loss"], x)
        if not math.isfinite(loss):
            raise TrainingDiverged(f"the loss is {loss} at step {self.step_count + 1}")
        correct = self._correct(v[("act", self.output_name)], y, v["metric"])
        self.optimizer.start_step(self.step_count)
        for u, (xs, out, _, bbufs, dy, dxs, acc, pgrads) in zip(reversed(self.units), reversed(v["units"])):
            if not u.backward:
                continue
            for p, g in pgrads:
                p.grad = g
            u.op.backward(xs, out, dy, dxs, bbufs)
            for dst, tmp in acc:
                np.add(dst, tmp, out=dst)
            for p, _ in pgrads:
                self.optimizer.update(p)
        self.step_count += 1
        return loss, correct

    def compute_loss(self, x: np.ndarray, y: np.ndarray, training: bool = False) -> float:
        """The mean loss of one batch, without a backward or an update (``training``: batch
        statistics and Dropout as in a training step)."""
        m = self._batch(x)
        y = self._labels(y, m)
        with self._lock:
            v = self._views_for(m)
            self._forward(x, v, training)
            return self.loss(v[("act", self.logits)], y, v[("grad", self.logits)], v["loss"], x)

    def _correct(self, out: np.ndarray, y: np.ndarray, bufs: dict) -> int:
        pred = bufs["pred"]
        np.argmax(out, axis=1, out=pred)
        return int(np.count_nonzero(np.equal(pred, y, out=bufs["hit"])))

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: Optional[int] = None) -> tuple[float, float]:
        """(mean loss, accuracy) over a dataset in inference mode (BatchNorm's running
        statistics, no Dropout), in batches of at most ``max_batch``."""
        if not isinstance(x, np.ndarray) or x.ndim < 1 or len(x) == 0:
            raise ValueError("evaluate needs a non-empty numpy array x")
        bs = min(batch_size or self.max_batch, self.max_batch)
        y = self._labels(y, len(x))
        total, correct = 0.0, 0
        for s in range(0, len(x), bs):
            xb, yb = x[s:s + bs], y[s:s + bs]
            m = self._batch(xb)
            with self._lock:
                v = self._views_for(m)
                self._forward(xb, v, False)
                total += self.loss(v[("act", self.logits)], yb, v[("grad", self.logits)], v["loss"], xb) * m
                correct += self._correct(v[("act", self.output_name)], yb, v["metric"])
        return total / len(x), correct / len(x)

    def predict(self, x: np.ndarray, batch_size: Optional[int] = None) -> np.ndarray:
        """The graph's output for ``x`` in inference mode (a new array)."""
        bs = min(batch_size or self.max_batch, self.max_batch)
        outs = []
        for s in range(0, len(x), bs):
            xb = x[s:s + bs]
            m = self._batch(xb)
            with self._lock:
                v = self._views_for(m)
                self._forward(xb, v, False)
                outs.append(v[("act", self.output_name)].copy())
        return np.concatenate(outs)

    # -- weights -----------------------------------------------------------------------------

    def write_back(self) -> None:
        """Make the graph's layers hold the trained values (conv weights back to OIHW)."""
        for u in self.units:
            u.op.write_back()

    def load_from_graph(self) -> None:
        """Copy the graph's layer arrays into the training copies (after the graph's weights
        were changed from outside)."""
        for u in self.units:
            u.op.load()

    def state(self) -> dict[str, np.ndarray]:
        """Copies of every parameter (training layout) and BatchNorm running statistic."""
        out = {p.name: p.value.copy() for p in self.params}
        for u in self.units:
            if u.op.layer.op == "batchnorm":
                out[f"{u.op.name}.mean"] = u.op.layer.mean.copy()
                out[f"{u.op.name}.var"] = u.op.layer.var.copy()
        return out

    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Put back values taken by :meth:`state`."""
        for p in self.params:
            np.copyto(p.value, state[p.name])
        for u in self.units:
            if u.op.layer.op == "batchnorm":
                np.copyto(u.op.layer.mean, state[f"{u.op.name}.mean"])
                np.copyto(u.op.layer.var, state[f"{u.op.name}.var"])
