"""Softmax over the last axis. Followed by a cross-entropy loss it is not differentiated on
its own: the trainer hands the loss the logits (p - onehot is exact and cheaper)."""
from __future__ import annotations

from ... import _core
from .base import TrainOp, register_trainable


@register_trainable("softmax")
class SoftmaxTrain(TrainOp):
    saves_output = True

    def forward(self, xs, y, bufs, training):
        _core.softmax_forward(xs[0], y)

    def backward(self, xs, y, dy, dxs, bufs):
        _core.softmax_backward(y, dy, dxs[0])
