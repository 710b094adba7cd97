"""Losses on a classifier's logits: softmax cross-entropy and knowledge distillation.

A loss writes dL/dlogits into the trainer's planned buffer and returns the batch's mean
loss; its work buffers are planned with the rest (``buffers``), so a step allocates nothing.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .. import _core
from .ops.base import BufferSpec


class Loss:
    """Base class. ``takes_logits``: the loss wants the logits; a graph ending in Softmax
    then hands it the Softmax's input (and the Softmax is not differentiated separately)."""

    takes_logits = True

    def bind(self, trainer: Any, classes: int) -> None:
        """Called once by the trainer before planning."""

    def buffers(self, classes: int) -> dict[str, BufferSpec]:
        return {}

    def __call__(self, z: np.ndarray, y: np.ndarray, dz: np.ndarray, bufs: dict, x: np.ndarray) -> float:
        """Mean loss over the batch; ``dz`` receives its gradient w.r.t. ``z``."""
        raise NotImplementedError


class CrossEntropy(Loss):
    """Mean softmax cross-entropy of integer class labels: ``-log softmax(z)[y]`` (one native
    pass: the loss, softmax and its gradient; a label outside the classes raises)."""

    def __call__(self, z, y, dz, bufs, x):
        return _core.softmax_cross_entropy(z, y, dz, 1.0)


class Distillation(Loss):
    """``alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(y, s)`` with the
    teacher's outputs ``t`` from its compiled inference Session (see :func:`distillation`)."""

    def __init__(self, teacher: Any, temperature: float = 4.0, alpha: float = 0.7,
                 teacher_outputs: str = "auto") -> None:
        from ..graph.compile import Program, compile
        from ..graph.graph import Graph

        if isinstance(teacher, Graph):
            teacher = compile(teacher)
        if not isinstance(teacher, Program):
            raise TypeError(f"teacher must be a frugalnn Program or Graph, got {type(teacher).__name__}")
        if not (isinstance(temperature, (int, float)) and np.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be positive and finite, got {temperature!r}")
        if not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        if teacher_outputs not in ("auto", "logits", "probabilities"):
            raise ValueError(f"teacher_outputs must be 'auto', 'logits' or 'probabilities', got {teacher_outputs!r}")
        self.teacher = teacher
        self.temperature, self.alpha = float(temperature), float(alpha)
        if teacher_outputs == "auto":
            g = getattr(teacher, "graph", None)
            last = next((n for n in g.nodes if n.output == g.outputs[0]), None) if g is not None else None
            teacher_outputs = "probabilities" if last is not None and last.layer.op == "softmax" else "logits"
        self.probabilities = teacher_outputs == "probabilities"
        self._session: Optional[Any] = None

    def bind(self, trainer: Any, classes: int) -> None:
        from ..graph.session import Session

        specs_in, specs_out = self.teacher.inputs, self.teacher.outputs
        if len(specs_in) != 1 or tuple(specs_in[0].shape[1:]) != trainer.input_shape:
            raise ValueError(f"the teacher takes {[s.shape for s in specs_in]}, the student ({None},) + "
                             f"{trainer.input_shape}")
        if len(specs_out) != 1 or tuple(specs_out[0].shape[1:]) != (classes,):
            raise ValueError(f"the teacher gives {[s.shape for s in specs_out]}, the student ({classes},) classes")
        self._session = Session(self.teacher, max_batch=trainer.max_batch)

    def buffers(self, classes: int) -> dict[str, BufferSpec]:
        return {"rows": BufferSpec((1,)), "t": BufferSpec((classes,)), "s": BufferSpec((classes,)),
                "ps": BufferSpec((classes,))}

    def __call__(self, z, y, dz, bufs, x):
        T, a = self.temperature, self.alpha
        m = z.shape[0]
        t, s, ps, rows = bufs["t"], bufs["s"], bufs["ps"], bufs["rows"]
        self._session.run(x, out=t)
        if self.probabilities:  # log p is the logits up to a per-row constant, which softmax ignores
            np.maximum(t, np.float32(1e-30), out=t)
            np.log(t, out=t)
        _log_softmax(t, 1.0 / T, t, rows, ps)  # t = log softmax(teacher / T)
        _log_softmax(z, 1.0 / T, s, rows, ps)  # s = log softmax(student / T)
        np.exp(s, out=ps)                      # ps = softmax(student / T)
        np.subtract(t, s, out=s)               # log pt - log ps
        np.exp(t, out=t)                       # pt
        kl = float(np.einsum("ij,ij->", t, s, dtype=np.float64)) / m
        ce = _core.softmax_cross_entropy(z, y, dz, 1.0 - a)
        # d/dz of a * T^2 * KL = a * T * (ps - pt) / m
        np.subtract(ps, t, out=ps)
        np.multiply(ps, np.float32(a * T / m), out=ps)
        np.add(dz, ps, out=dz)
        return a * T * T * kl + (1.0 - a) * ce


def _log_softmax(z: np.ndarray, scale: float, out: np.ndarray, rows: np.ndarray, tmp: np.ndarray) -> None:
    """out = log softmax(z * scale) along rows; rows (N, 1) and tmp (like z) are work buffers."""
    np.multiply(z, np.float32(scale), out=out)
    np.max(out, axis=1, keepdims=True, out=rows)
    np.subtract(out, rows, out=out)
    np.exp(out, out=tmp)
    np.sum(tmp, axis=1, keepdims=True, out=rows)
    np.log(rows, out=rows)
    np.subtract(out, rows, out=out)


def distillation(teacher: Any, temperature: float = 4.0, alpha: float = 0.7,
                 teacher_outputs: str = "auto") -> Distillation:
    """Knowledge-distillation loss: ``alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) +
    (1 - alpha) * CE(y, s)``.

    ``teacher``: a frugalnn Program (an imported ONNX model, an int8 one) or Graph (compiled
    here), run through its inference Session on each batch. ``teacher_outputs``: whether it
    gives logits or probabilities ("auto": probabilities when its graph ends in Softmax)."""
    return Distillation(teacher, temperature, alpha, teacher_outputs)
