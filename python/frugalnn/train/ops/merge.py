"""Add (with a fused clamp) and Concat."""
from __future__ import annotations

import numpy as np

from ... import _core
from .base import TrainOp, clamp, register_trainable


@register_trainable("add")
class AddTrain(TrainOp):
    fuses_activation = True

    def forward(self, xs, y, bufs, training):
        np.add(xs[0], xs[1], out=y)
        clamp(y, self.lo, self.hi)

    def backward(self, xs, y, dy, dxs, bufs):
        if self.clamps_in_backward:
            _core.clip_backward(y, dy, dy, self.lo, self.hi)
        for dx in dxs:
            if dx is not None:
                np.copyto(dx, dy)


@register_trainable("concat")
class ConcatTrain(TrainOp):
    def __init__(self, layer, in_shapes, out_shape) -> None:
        super().__init__(layer, in_shapes, out_shape)
        rank = len(out_shape)
        a = layer.axis % rank
        self.axis = 1 + ((a + rank - 1) % rank if rank == 3 else a)  # the held (NHWC) batched axis
        sizes = [s[a] for s in in_shapes]
        self.bounds = [(sum(sizes[:i]), sum(sizes[:i + 1])) for i in range(len(sizes))]

    def _part(self, a: np.ndarray, i: int) -> np.ndarray:
        lo, hi = self.bounds[i]
        idx = [slice(None)] * a.ndim
        idx[self.axis] = slice(lo, hi)
        return a[tuple(idx)]

    def forward(self, xs, y, bufs, training):
        for i, x in enumerate(xs):
            np.copyto(self._part(y, i), x)

    def backward(self, xs, y, dy, dxs, bufs):
        for i, dx in enumerate(dxs):
            if dx is not None:
                np.copyto(dx, self._part(dy, i))
