"""Conv2d (any stride, padding, dilation, groups; depthwise): native NHWC kernels with the
weights held OHWI (im2col's row order). The backward recomputes im2col tiles from the saved
input instead of storing the columns (a 3x3 conv's columns are 9x its input)."""
from __future__ import annotations

import numpy as np

from ... import _core
from .base import TrainOp, register_trainable
from .params import own_param


def _ohwi(w: np.ndarray) -> np.ndarray:
    return w.transpose(0, 2, 3, 1)


def _oihw(w: np.ndarray) -> np.ndarray:
    return w.transpose(0, 3, 1, 2)


@register_trainable("conv2d")
class Conv2dTrain(TrainOp):
    saves_inputs = True
    fuses_activation = True

    def __init__(self, layer, in_shapes, out_shape) -> None:
        super().__init__(layer, in_shapes, out_shape)
        self.w = own_param(layer, "weight", to_layer=_oihw, from_layer=_ohwi)
        self.b = None if layer.bias is None else own_param(layer, "bias")
        self.params = [p for p in (self.w, self.b) if p is not None]
        _, h, w = in_shapes[0]
        self._geometry_args = dict(stride=layer.stride, dilation=layer.dilation, pads=layer.pads(h, w),
                                   groups=layer.groups)
        self.geometry = _core.Conv2dTrainGeometry(**self._geometry_args, lo=self.lo, hi=self.hi)

    def fuse(self, lo: float, hi: float) -> None:
        super().fuse(lo, hi)
        self.geometry = _core.Conv2dTrainGeometry(**self._geometry_args, lo=lo, hi=hi)

    def forward(self, xs, y, bufs, training):
        _core.conv2d_train_forward(xs[0], self.w.value, None if self.b is None else self.b.value, y,
                                   self.geometry)

    def backward(self, xs, y, dy, dxs, bufs):
        if self.clamps_in_backward:
            _core.clip_backward(y, dy, dy, self.lo, self.hi)
        _core.conv2d_backward(xs[0], self.w.value, dy, dxs[0], self.w.grad, self.geometry)
        if self.b is not None:
            _core.bias_backward(dy, self.b.grad)
