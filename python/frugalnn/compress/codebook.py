"""Non-uniform weight quantization: each Dense / Conv2d weight replaced by 2^bits k-means
centroids (one codebook per layer, or per output channel) and b-bit indices into it.

``compile`` runs such a layer at precision ``"codebook"``: the packed weights keep the indices
(two per byte up to 4 bits) and the tables, and the GEMM decodes them slice by slice, so the
program's weights and its ``.fnn`` file shrink about 32 / bits times against f32.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np

from ..graph import layers as L
from ..graph.graph import Graph
from .quantize import fold_batchnorm

__all__ = ["Codebook", "codebook", "kmeans_1d"]

INITS = ("linear", "quantile", "kmeans++")


@dataclass(eq=False)
class Codebook:
    """A layer's codebook: ``weight == centroids[channel or 0, indices]`` exactly.

    bits: index width (2..8). centroids: float32 ``(1, 2**bits)`` per layer or
    ``(out_channels, 2**bits)`` per channel, each row ascending (entries a layer with fewer
    distinct values does not need repeat its largest). indices: uint8, the weight's shape.
    """

    bits: int
    centroids: np.ndarray
    indices: np.ndarray

    @property
    def per_channel(self) -> bool:
        """One table per output channel (row 0 of ``centroids`` serves all otherwise)."""
        return self.centroids.shape[0] > 1

    def decode(self) -> np.ndarray:
        """The weight the codebook stands for, float32, the indices' shape."""
        flat = self.indices.reshape(self.indices.shape[0], -1)
        rows = np.arange(flat.shape[0])[:, None] if self.per_channel else 0
        return self.centroids[rows, flat].reshape(self.indices.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the compressed form: indices at 4 bits (bits <= 4) or 8, plus the tables."""
        per_byte = 2 if self.bits <= 4 else 1
        return -(-self.indices.size // per_byte) + self.centroids.nbytes


def kmeans_1d(values: np.ndarray, k: int, *, iterations: int = 30, init: str = "linear",
              rng: Optional[np.random.Generator] = None) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means of a 1-D sample: ``(centroids, assignment)``, centroids float32
    ascending (k of them), assignment the index of each value's nearest centroid (ties to the
    lower one).

    Works on the distinct values weighted by their counts (the same objective, far fewer
    points): with at most k distinct values every value is its own centroid, exactly.
    ``init``: ``"quantile"`` (the k weighted quantiles, deterministic) or ``"kmeans++"``
    (D^2 sampling from ``rng``). Stops when no assignment changes, or after ``iterations``.
    """
    v = np.asarray(values, np.float64).ravel()
    if v.size == 0:
        raise ValueError("kmeans_1d needs at least one value")
    u, counts = np.unique(v, return_counts=True)
    if u.size <= k:
        c = np.concatenate([u, np.full(k - u.size, u[-1])]).astype(np.float32)
        return c, _nearest(v, c)
    w = counts.astype(np.float64)
    if init == "linear":
        c = np.linspace(u[0], u[-1], k)
    elif init == "quantile":
        cum = np.cumsum(w)
        c = u[np.minimum(np.searchsorted(cum, (np.arange(k) + 0.5) / k * cum[-1]), u.size - 1)]
    elif init == "kmeans++":
        rng = rng if rng is not None else np.random.default_rng(0)
        c = np.empty(k)
        c[0] = u[rng.choice(u.size, p=w / w.sum())]
        d2 = (u - c[0]) ** 2
        for i in range(1, k):
            p = w * d2
            c[i] = u[rng.choice(u.size, p=p / p.sum())] if p.sum() > 0 else u[0]
            d2 = np.minimum(d2, (u - c[i]) ** 2)
    else:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    c = np.sort(c)
    assign = None
    for _ in range(iterations):
        a = np.searchsorted((c[1:] + c[:-1]) / 2, u, side="left")
        if assign is not None and np.array_equal(a, assign):
            break
        assign = a
        total = np.bincount(a, weights=w, minlength=k)
        sums = np.bincount(a, weights=w * u, minlength=k)
        # An empty cluster keeps its centroid (it may win values back next round).
        c = np.sort(np.where(total > 0, sums / np.maximum(total, 1), c))
    c32 = np.sort(c.astype(np.float32))
    return c32, _nearest(v, c32)


def _nearest(v: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Index of the nearest of the ascending centroids c for each value (ties: the lower),
    measured against the float32 centroids that are stored."""
    c64 = c.astype(np.float64)
    i = np.clip(np.searchsorted(c64, v), 1, c.size - 1)
    lower = v - c64[i - 1] <= c64[i] - v
    return np.where(lower, i - 1, i).astype(np.uint8) if c.size > 1 else np.zeros(v.size, np.uint8)


def _check_bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise ValueError(f"bits must be an int in 2..8, got {bits!r}")
    if not 2 <= int(bits) <= 8:
        raise ValueError(f"bits must be in 2..8, got {bits}")
    return int(bits)


def codebook(graph: Graph, bits: int = 4, *, per_channel: bool = False, keep: Iterable[str] = (),
             seed: int = 0, iterations: int = 30, init: str = "linear") -> Graph:
    """A copy of ``graph`` (BatchNorm folded) whose Dense / Conv2d weights are each replaced
    by ``2**bits`` k-means centroids (:func:`kmeans_1d`), one codebook per layer or, with
    ``per_channel``, per output channel.

    Each such layer gets ``layer.codebook`` (a :class:`Codebook`), ``layer.precision =
    "codebook"`` (compile's default for it) and ``layer.weight`` = the decoded values, so the
    float reference and training see the weights the runtime computes with. A layer with at
    most ``2**bits`` distinct values is kept exactly. Layers named in ``keep`` stay as they
    are. Deterministic for a ``seed`` (which only ``init="kmeans++"`` draws from).

    Raises ValueError for ``bits`` outside 2..8 or not an int, unknown ``keep`` names, an
    unknown ``init``, ``iterations`` < 1, or a layer carrying int8 ``QuantParams``.
    """
    bits = _check_bits(bits)
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
        raise ValueError(f"iterations must be an int >= 1, got {iterations!r}")
    keep = set(keep)
    unknown = keep - {n.layer.name for n in graph.nodes}
    if unknown:
        raise ValueError(f"keep names layers the graph does not have: {sorted(unknown)}")
    g = fold_batchnorm(graph)
    rng = np.random.default_rng(seed)
    k = 1 << bits
    for node in g.nodes:
        layer = node.layer
        if not isinstance(layer, (L.Dense, L.Conv2d)) or layer.name in keep:
            continue
        if layer.quant is not None:
            raise ValueError(f"layer '{layer.name}' carries int8 QuantParams: name it in keep")
        w = layer.weight
        groups = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
        tables = np.empty((groups.shape[0], k), np.float32)
        indices = np.empty(groups.shape, np.uint8)
        for row in range(groups.shape[0]):
            tables[row], indices[row] = kmeans_1d(groups[row], k, iterations=iterations, init=init, rng=rng)
        cb = Codebook(bits, tables, indices.reshape(w.shape))
        layer.codebook = cb
        layer.weight = cb.decode()
        layer.precision = "codebook"
    return g
