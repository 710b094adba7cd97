"""Flatten and Reshape: data in API (NCHW) order, so a (C, H, W) tensor held NHWC is
transposed on the way in and out (Dense weights keep torch's flatten order)."""
from __future__ import annotations

import numpy as np

from .base import TrainOp, register_trainable


def _api_view(a: np.ndarray, shape: tuple) -> np.ndarray:
    """A batched tensor of per-sample API shape ``shape`` seen in API order (a view)."""
    return a.transpose(0, 3, 1, 2) if len(shape) == 3 else a


@register_trainable("flatten", "reshape")
class ReshapeTrain(TrainOp):
    def _copy(self, src: np.ndarray, src_shape: tuple, dst: np.ndarray, dst_shape: tuple) -> None:
        n = src.shape[0]
        if len(src_shape) == 3 and len(dst_shape) != 3:   # NHWC -> flat NCHW order: one transposing copy
            np.copyto(dst.reshape((n,) + tuple(src_shape)), src.transpose(0, 3, 1, 2))
        elif len(src_shape) != 3 and len(dst_shape) == 3:
            np.copyto(dst, src.reshape((n,) + tuple(dst_shape)).transpose(0, 2, 3, 1))
        elif len(src_shape) == 3:                         # (C, H, W) -> (C', H', W')
            np.copyto(_api_view(dst, dst_shape), _api_view(src, src_shape).reshape((n,) + tuple(dst_shape)))
        else:
            np.copyto(dst.reshape(src.shape), src)

    def forward(self, xs, y, bufs, training):
        self._copy(xs[0], self.in_shapes[0], y, self.out_shape)

    def backward(self, xs, y, dy, dxs, bufs):
        self._copy(dy, self.out_shape, dxs[0], self.in_shapes[0])
