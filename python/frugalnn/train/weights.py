"""A graph's trainable arrays as an .npz: checkpoints, and weights moved between graphs of
the same architecture. Arrays are keyed by the layer's position in the graph, as torch keys a
Sequential's (``"3.weight"``): two graphs built by the same code match whatever their
generated layer names."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..graph.graph import Graph

_ARRAYS = ("weight", "bias", "gamma", "beta", "mean", "var")


def weights_of(graph: Graph) -> dict[str, np.ndarray]:
    """``{"<node index>.<array>": array}`` for every weight, bias and BatchNorm array."""
    out = {}
    for i, node in enumerate(graph.nodes):
        for a in _ARRAYS:
            v = getattr(node.layer, a, None)
            if isinstance(v, np.ndarray) and v.dtype == np.float32:
                out[f"{i}.{a}"] = v
    return out


def save_weights(graph: Graph, path: Any) -> None:
    """Write :func:`weights_of` to an .npz file (written beside, then renamed: a crash leaves
    the previous file whole)."""
    path = os.fspath(path)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **weights_of(graph))
    os.replace(tmp, path)


def load_weights(graph: Graph, path: Any) -> None:
    """Copy the arrays of an .npz written by :func:`save_weights` into ``graph``'s layers.
    Every array must be there with its shape; nothing changes if one is not."""
    mine = weights_of(graph)
    with np.load(os.fspath(path)) as f:
        theirs = {k: f[k] for k in f.files}
    missing = sorted(set(mine) - set(theirs))
    if missing:
        raise ValueError(f"{path}: no arrays for {missing} (a graph of another architecture?)")
    for k, v in mine.items():
        if theirs[k].shape != v.shape or theirs[k].dtype != np.float32:
            raise ValueError(f"{path}: '{k}' is {theirs[k].dtype} {theirs[k].shape}, the graph's {v.shape}")
        if not np.all(np.isfinite(theirs[k])):
            raise ValueError(f"{path}: '{k}' holds NaN or infinity")
    for k in mine:
        i, a = k.split(".", 1)
        setattr(graph.nodes[int(i)].layer, a, np.ascontiguousarray(theirs[k], np.float32))
