"""Pruning: magnitude pruning (unstructured or in blocks) that zeroes weights, and structured
pruning that removes whole output channels / neurons and shrinks the layer after them, so
the model is physically smaller and runs on dense kernels (the document's structural
pruning). ``GradualPruning`` raises the sparsity over epochs while ``frugalnn.train.fit``
fine-tunes, with masks keeping the pruned weights at zero.

Every function returns a new graph; the one given is never changed.
"""
from __future__ import annotations

import copy
import math
from typing import Iterable, Optional, Sequence

import numpy as np

from ..graph import layers as L
from ..graph.compile import sparse_pays
from ..graph.graph import Graph
from ..train.callbacks import Callback

__all__ = ["GradualPruning", "masks_of", "prune", "sparsity_of"]

_SCOPES = ("global", "layer")
_METHODS = ("l1", "l2")
# Layers a pruned channel passes through unchanged (channel c in, channel c out).
_PER_CHANNEL = ("relu", "clip", "maxpool2d", "avgpool2d", "batchnorm", "dropout", "sigmoid", "hard_swish")


def _check_sparsity(sparsity: object) -> float:
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float, np.floating)) \
            or not math.isfinite(float(sparsity)) or not 0.0 <= float(sparsity) < 1.0:
        raise ValueError(f"sparsity must be a number in [0, 1), got {sparsity!r}")
    return float(sparsity)


def _prunable(graph: Graph, keep: Iterable[str]) -> list[L.Layer]:
    keep = set(keep)
    names = {n.layer.name for n in graph.nodes}
    unknown = keep - names
    if unknown:
        raise ValueError(f"keep names layers the graph does not have: {sorted(unknown)}")
    return [n.layer for n in graph.nodes if isinstance(n.layer, (L.Dense, L.Conv2d)) and n.layer.name not in keep]


def _scores(w: np.ndarray, block: int, method: str) -> np.ndarray:
    """One score per group of ``block`` consecutive weights along the input axis (rows of
    the (out, in) matrix; a conv's (out, in * kh * kw) as torch flattens it)."""
    m = w.reshape(w.shape[0], -1)
    if block > 1:
        pad = (-m.shape[1]) % block
        m = np.pad(m, ((0, 0), (0, pad)))
        m = m.reshape(m.shape[0], -1, block)
    else:
        m = m[..., None]
    a = np.abs(m.astype(np.float64))
    return a.sum(axis=2) if method == "l1" else np.sqrt(np.square(a).sum(axis=2))


def _expand(keep: np.ndarray, w: np.ndarray, block: int) -> np.ndarray:
    cols = w.reshape(w.shape[0], -1).shape[1]
    return np.repeat(keep, block, axis=1)[:, :cols].reshape(w.shape)


def prune(graph: Graph, sparsity: float, *, scope: str = "global", method: str = "l1", structured: bool = False,
          block: Optional[Sequence[int]] = None, keep: Iterable[str] = ()) -> Graph:
    """A copy of ``graph`` with the smallest weights of its Dense / Conv2d layers pruned.

    Args:
        sparsity: the fraction in [0, 1) to remove: of the weights (unstructured / blocks),
            or of each layer's output channels / neurons (``structured=True``).
        scope: ``"global"``: one threshold over every prunable layer (layers with many
            small weights lose more); ``"layer"``: each layer loses ``sparsity`` of its own.
        method: ``"l1"`` or ``"l2"``: the norm ranking blocks and channels (single weights
            rank by magnitude either way).
        structured: remove whole output channels (Conv2d) / neurons (Dense) with the smallest
            norms, and the matching inputs of the next layer, so the graph is smaller and runs
            on dense kernels. Only channels that flow through per-channel layers (activations,
            pools, BatchNorm, Flatten) into exactly one Dense / Conv2d are removed; a layer
            feeding an Add, a Concat, a grouped conv or the output keeps its width.
        block: ``(1, k)``: prune groups of k consecutive weights along the input axis whole,
            the sparse kernels' best case (``compile(..., precision="sparse")`` stores them
            as 1x4 blocks).
        keep: names of layers left as they are (often the first and the last).

    Unstructured, a Dense layer whose pruned weights store in at most half the bytes as CSR
    (``frugalnn.graph.compile.sparse_pays``) gets ``precision = "sparse"``: ``compile``
    runs it on the sparse kernels.
    """
    s = _check_sparsity(sparsity)
    if scope not in _SCOPES:
        raise ValueError(f"scope must be one of {_SCOPES}, got {scope!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    bk = 1
    if block is not None:
        if structured:
            raise ValueError("block and structured are different kinds of pruning: give one")
        b = tuple(block)
        if len(b) != 2 or b[0] != 1 or not isinstance(b[1], int) or not 1 <= b[1] <= 64:
            raise ValueError(f"block must be (1, k) with k in [1, 64], got {block!r}")
        bk = b[1]
    g = copy.deepcopy(graph)
    g.check()
    if structured:
        return _prune_channels(g, s, scope, method, keep)
    layers = _prunable(g, keep)
    if not layers or s == 0.0:
        return g
    scores = [_scores(layer.weight, bk, method) for layer in layers]
    if scope == "global":
        flat = np.concatenate([sc.reshape(-1) for sc in scores])
        n_drop = int(round(s * flat.size))
        order = np.argsort(flat, kind="stable")
        drop = np.zeros(flat.size, bool)
        drop[order[:n_drop]] = True
        offsets = np.cumsum([0] + [sc.size for sc in scores])
        drops = [drop[offsets[i]:offsets[i + 1]].reshape(sc.shape) for i, sc in enumerate(scores)]
    else:
        drops = []
        for sc in scores:
            order = np.argsort(sc.reshape(-1), kind="stable")
            d = np.zeros(sc.size, bool)
            d[order[:int(round(s * sc.size))]] = True
            drops.append(d.reshape(sc.shape))
    for layer, d in zip(layers, drops):
        layer.weight = np.where(_expand(~d, layer.weight, bk), layer.weight, np.float32(0)).astype(np.float32)
        if isinstance(layer, L.Dense) and getattr(layer, "precision", None) in (None, "f32") and sparse_pays(layer.weight):
            layer.precision = "sparse"
    return g


def _consumers(graph: Graph) -> dict[str, list]:
    out: dict[str, list] = {}
    for node in graph.nodes:
        for i in node.inputs:
            out.setdefault(i, []).append(node)
    return out


def _chain(graph: Graph, node, consumers: dict) -> Optional[tuple[list, object, bool]]:
    """From a weighted node: the per-channel nodes its output passes through, the one
    Dense / Conv2d consuming the channels, and whether a Flatten sits between (the consumer
    then reads H*W columns per channel) — or None if the channels go anywhere else."""
    between, flatten = [], False
    name = node.output
    while True:
        if name in graph.outputs:
            return None
        cons = consumers.get(name, [])
        if len(cons) != 1:
            return None
        nxt = cons[0]
        layer = nxt.layer
        if isinstance(layer, L.Conv2d):
            return (between, nxt, flatten) if layer.groups == 1 and not flatten else None
        if isinstance(layer, L.Dense):
            return between, nxt, flatten
        if isinstance(layer, L.Flatten) and not flatten:
            flatten = True
        elif layer.op not in _PER_CHANNEL or flatten:
            return None
        between.append(nxt)
        name = nxt.output


def _channel_norms(w: np.ndarray, method: str) -> np.ndarray:
    m = np.abs(w.reshape(w.shape[0], -1).astype(np.float64))
    return m.sum(axis=1) if method == "l1" else np.sqrt(np.square(m).sum(axis=1))


def _prune_channels(g: Graph, s: float, scope: str, method: str, keep: Iterable[str]) -> Graph:
    prunable = {layer.name for layer in _prunable(g, keep)}
    consumers = _consumers(g)
    plans = []  # (node, chain, norms)
    for node in g.nodes:
        layer = node.layer
        if layer.name not in prunable or (isinstance(layer, L.Conv2d) and layer.groups != 1):
            continue
        chain = _chain(g, node, consumers)
        if chain is not None and layer.weight.shape[0] > 1:
            plans.append((node, chain, _channel_norms(layer.weight, method)))
    if not plans or s == 0.0:
        return g
    if scope == "global":  # norms made comparable across layers: each over its layer's mean
        flat = np.concatenate([n / max(n.mean(), 1e-30) for _, _, n in plans])
        threshold = np.sort(flat)[int(round(s * flat.size)) - 1] if int(round(s * flat.size)) > 0 else -np.inf
    for node, (between, consumer, flatten), norms in plans:
        c = norms.size
        if scope == "global":
            drop = norms / max(norms.mean(), 1e-30) <= threshold
        else:
            drop = np.zeros(c, bool)
            drop[np.argsort(norms, kind="stable")[:int(round(s * c))]] = True
        if drop.all():  # a layer keeps at least its strongest channel
            drop[np.argmax(norms)] = False
        kept = np.flatnonzero(~drop)
        if kept.size == c:
            continue
        layer = node.layer
        layer.weight = np.ascontiguousarray(layer.weight[kept])
        if layer.bias is not None:
            layer.bias = np.ascontiguousarray(layer.bias[kept])
        for b in between:
            if isinstance(b.layer, L.BatchNorm):
                for a in ("gamma", "beta", "mean", "var"):
                    setattr(b.layer, a, np.ascontiguousarray(getattr(b.layer, a)[kept]))
        cl = consumer.layer
        if flatten:  # the consumer's columns are channel-major (C, H, W): H*W per channel
            per = cl.weight.shape[1] // c
            cols = (kept[:, None] * per + np.arange(per)[None, :]).reshape(-1)
            cl.weight = np.ascontiguousarray(cl.weight[:, cols])
        else:
            cl.weight = np.ascontiguousarray(cl.weight[:, kept])
    return _rebuild(g)


def _rebuild(g: Graph) -> Graph:
    """The same layers re-added to a new graph: every shape inferred again."""
    out = Graph()
    tensors = {name: out.input(name, shape, **g.input_args(name)) for name, shape in g.inputs.items()}
    for node in g.nodes:
        tensors[node.output] = node.layer(*[tensors[i] for i in node.inputs])
    for name in g.outputs:
        out.output(tensors[name], name)
    return out


def masks_of(graph: Graph) -> dict[str, np.ndarray]:
    """``{layer name: weight != 0}`` for every Dense / Conv2d with pruned (zero) weights: pass
    to ``frugalnn.train.fit(masks=...)`` so fine-tuning keeps them at zero."""
    return {n.layer.name: n.layer.weight != 0 for n in graph.nodes
            if isinstance(n.layer, (L.Dense, L.Conv2d)) and not np.all(n.layer.weight != 0)}


def sparsity_of(graph: Graph) -> float:
    """The fraction of zero weights over every Dense / Conv2d layer."""
    ws = [n.layer.weight for n in graph.nodes if isinstance(n.layer, (L.Dense, L.Conv2d))]
    total = sum(w.size for w in ws)
    return sum(int(np.count_nonzero(w == 0)) for w in ws) / total if total else 0.0


class GradualPruning(Callback):
    """Raises unstructured sparsity over epochs while ``fit`` fine-tunes (the cubic schedule
    of Zhu & Gupta, 2017: s_e = final * (1 - (1 - e / epochs)^3), reached at ``epochs``).
    After each epoch the smallest weights are zeroed and masked: the optimizer never revives
    them. Give it a graph already pruned to the first step, or none, and its masks to fit."""

    def __init__(self, final_sparsity: float, epochs: int, *, scope: str = "global", method: str = "l1",
                 block: Optional[Sequence[int]] = None, keep: Iterable[str] = ()) -> None:
        self.final = _check_sparsity(final_sparsity)
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {epochs!r}")
        self.epochs = epochs
        self.kwargs = dict(scope=scope, method=method, block=block, keep=tuple(keep))
        self.history: list[float] = []

    def target(self, epoch: int) -> float:
        """The sparsity after epoch ``epoch`` (0-based)."""
        t = min((epoch + 1) / self.epochs, 1.0)
        return self.final * (1.0 - (1.0 - t) ** 3)

    def on_epoch_end(self, epoch, logs, trainer):
        trainer.write_back()
        pruned = prune(trainer.graph, self.target(epoch), **self.kwargs)
        by_name = {n.layer.name: n.layer for n in pruned.nodes}
        for p in trainer.params:
            layer = getattr(p, "layer", None)
            if getattr(p, "attr", None) != "weight" or layer is None or layer.name not in by_name:
                continue
            w = by_name[layer.name].weight
            keep = w != 0 if p.from_layer is None else p.from_layer(w != 0)
            mask = np.ascontiguousarray(keep, np.uint8)
            p.mask = mask if p.mask is None else np.minimum(p.mask, mask)
            np.multiply(p.value, p.mask, out=p.value, casting="unsafe")
            for state in p.state.values():
                np.multiply(state, p.mask.reshape(state.shape), out=state, casting="unsafe")
        ws = [p.value for p in trainer.params if getattr(p, "attr", None) == "weight"]
        self.history.append(sum(int(np.count_nonzero(w == 0)) for w in ws) / sum(w.size for w in ws))
        return False
