"""Quantization-aware training (QAT): fine-tune a graph from :func:`quantize` with its int8
arithmetic simulated, for when post-training quantization loses too much accuracy.

Training runs through ``frugalnn.train.fit`` with ``fake_quant=True``: every int8 Dense /
Conv2d sees its input fake-quantized to u8 with its calibrated scale / zero point and its
weights fake-quantized to s8 (scales from the current weights), and gradients pass by the
straight-through estimator (``train/ops/fake_quant.py``). The result is quantized again from
the fine-tuned weights exactly as ``quantize`` does, so the int8 program runs what training
simulated.
"""
from __future__ import annotations

import copy
from typing import Any, Optional

import numpy as np

from ..graph.graph import Graph
from .quantize import precision_of

__all__ = ["qat"]

DEFAULT_LR = 1e-4  # fine-tuning: a tenth of Adam's usual step, the weights are near a minimum


def _check_data(graph: Graph, x: Any, y: Any) -> None:
    shape = tuple(next(iter(graph.inputs.values())))
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy array, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise TypeError(f"x must be float32, got {x.dtype} (no implicit casts)")
    if x.ndim != 1 + len(shape) or tuple(x.shape[1:]) != shape or len(x) == 0:
        raise ValueError(f"x must have shape (n >= 1,) + {shape}, got {x.shape}")
    if not isinstance(y, np.ndarray):
        raise TypeError(f"y must be a numpy array of class indices, got {type(y).__name__}")
    if y.shape != (len(x),):
        raise ValueError(f"y must have shape ({len(x)},) (one class index per sample of x), got {y.shape}")


def qat(q: Graph, x: np.ndarray, y: np.ndarray, *, epochs: int = 2, batch_size: int = 32,
        optimizer: Optional[Any] = None, validation: Any = None, seed: Optional[int] = 0,
        **fit_kwargs: Any) -> Graph:
    """Quantization-aware fine-tuning of ``q``, a graph from :func:`quantize` (its int8 Dense /
    Conv2d layers carry ``QuantParams``), on ``(x, y)``; returns a new quantized graph (``q``
    is left as it is). ``compile(result)`` runs its int8 layers int8.

    During training each int8 layer's forward uses fake-quantized weights (s8 symmetric, per
    output channel, or per tensor where ``q`` was quantized with ``per_channel=False``; the
    scales recomputed from the current float weights every step) and a fake-quantized input
    (u8 with the layer's scale / zero point); the backward is the straight-through estimator.
    The input activation parameters stay those of ``q``'s calibration: the weights are tuned
    to exactly that quantization, which the returned graph keeps. Its weights are quantized
    again from the fine-tuned float weights, as :func:`quantize` does.

    Args:
        q: the quantized graph (BatchNorm already folded by ``quantize``).
        x, y: training inputs (float32, N x the graph's input shape) and class labels.
        epochs, batch_size, seed: as ``frugalnn.train.fit``.
        optimizer: default ``Adam(lr=1e-4)``.
        validation: ``(x, y)`` evaluated (with the int8 arithmetic simulated) after each epoch.
        **fit_kwargs: passed to ``frugalnn.train.fit`` (``callbacks``, ``masks``, ``budget``,
            ``progress``, ...).
    """
    from ..train import Adam, fit

    if not isinstance(q, Graph):
        raise TypeError(f"q must be a frugalnn Graph (from compress.quantize), got {type(q).__name__}")
    int8 = precision_of(q)
    if not int8:
        raise ValueError("qat takes a quantized graph: no Dense / Conv2d layer of q carries int8 QuantParams "
                         "(make one with frugalnn.compress.quantize(graph, calibration_data))")
    if "fake_quant" in fit_kwargs:
        raise TypeError("qat always trains with fake_quant=True; do not pass fake_quant")
    if len(q.inputs) != 1:
        raise ValueError(f"qat takes a graph with one input, got {len(q.inputs)}")
    _check_data(q, x, y)
    g = copy.deepcopy(q)
    # fit's write_back also makes each int8 layer's QuantParams again from its tuned weights
    fit(g, (x, y), epochs, optimizer=Adam(lr=DEFAULT_LR) if optimizer is None else optimizer,
        validation=validation, seed=seed, batch_size=batch_size, fake_quant=True, **fit_kwargs)
    return g
