"""MaxPool2d, AvgPool2d (native NHWC kernels) and GlobalAvgPool. Max pooling stores no
indices: its backward finds each window's first maximum again in the saved input."""
from __future__ import annotations

from ... import _core
from .base import TrainOp, register_trainable


class _PoolTrain(TrainOp):
    def __init__(self, layer, in_shapes, out_shape) -> None:
        super().__init__(layer, in_shapes, out_shape)
        self._window = dict(kernel=layer.kernel, stride=layer.stride, padding=layer.padding)
        self.geometry = _core.Pool2dTrainGeometry(**self._window)


@register_trainable("maxpool2d")
class MaxPool2dTrain(_PoolTrain):
    saves_inputs = True
    saves_output = True

    def take_clamp(self, lo: float, hi: float) -> None:
        """Also do the backward of the clamp [lo, hi] that produced this pool's input."""
        self.geometry = _core.Pool2dTrainGeometry(**self._window, lo=lo, hi=hi)

    def forward(self, xs, y, bufs, training):
        _core.maxpool2d_train_forward(xs[0], y, self.geometry)

    def backward(self, xs, y, dy, dxs, bufs):
        _core.maxpool2d_backward(xs[0], y, dy, dxs[0], self.geometry)


@register_trainable("avgpool2d")
class AvgPool2dTrain(_PoolTrain):
    def forward(self, xs, y, bufs, training):
        _core.avgpool2d_train_forward(xs[0], y, self.geometry)

    def backward(self, xs, y, dy, dxs, bufs):
        _core.avgpool2d_backward(dy, dxs[0], self.geometry)


@register_trainable("global_avgpool")
class GlobalAvgPoolTrain(TrainOp):
    """(N, H, W, C) -> (N, C): the mean over the pixels."""

    def forward(self, xs, y, bufs, training):
        _core.global_avgpool_forward(xs[0], y)

    def backward(self, xs, y, dy, dxs, bufs):
        _core.global_avgpool_backward(dy, dxs[0])
