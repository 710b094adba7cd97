"""16-bit float weights: ``half(graph, "f16" | "bf16")`` rounds every Dense / Conv2d weight
the way the runtime stores it and marks the layer, so ``compile(g)`` packs it 16-bit (half
the weight bytes; activations stay f32)."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..graph import layers as L
from ..graph.graph import Graph
from .quantize import fold_batchnorm

__all__ = ["half", "round_bf16"]

KINDS = ("f16", "bf16")
_F16_MAX = float(np.finfo(np.float16).max)


def round_bf16(w: np.ndarray) -> np.ndarray:
    """float32 -> the nearest bfloat16 (ties to even), as float32: the packing's rounding."""
    bits = np.ascontiguousarray(w, dtype=np.float32).view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return rounded.view(np.float32)


def half(graph: Graph, kind: str = "f16", *, keep: Iterable[str] = ()) -> Graph:
    """A copy of ``graph`` whose Dense / Conv2d weights are rounded to ``kind`` (``"f16"`` or
    ``"bf16"``) and whose layers carry ``precision = kind``, so ``compile`` stores them
    16-bit. ``layer.weight`` holds the rounded values: the float reference and training see
    exactly what the kernels compute with (BatchNorm after a layer is folded into it first).
    Biases stay f32; depthwise convolutions run their
    rounded weights in f32. Layers named in ``keep`` and int8 layers are left as they are.

    f16 keeps 11 significant bits over +-65504: a weight outside that range raises
    ``ValueError`` (bf16 keeps f32's range with 8 significant bits).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    graph.check()
    g = fold_batchnorm(graph)  # a BatchNorm folded at compile would change the rounded weights
    layers = {n.layer.name: n.layer for n in g.nodes if isinstance(n.layer, (L.Dense, L.Conv2d))}
    keep = set(keep)
    unknown = keep - set(layers)
    if unknown:
        raise ValueError(f"keep names layers that are not Dense / Conv2d layers of the graph: {sorted(unknown)}")
    for name, layer in layers.items():
        if name in keep or getattr(layer, "precision", None) == "int8":
            continue
        w = layer.weight
        if kind == "f16":
            big = float(np.max(np.abs(w)))
            if big > _F16_MAX:
                raise ValueError(f"layer '{name}': a weight of magnitude {big:g} is beyond float16's range "
                                 f"(+-{_F16_MAX:g}); use kind='bf16' or keep=[{name!r}]")
            layer.weight = w.astype(np.float16).astype(np.float32)
        else:
            layer.weight = round_bf16(w)
        layer.precision = kind
    return g
