"""BatchNorm: batch statistics while training (running statistics updated as torch does,
momentum 0.1, unbiased variance), running statistics in inference mode. The channel axis is
the last one held, so every per-channel loop (native) runs over the rows of an (N*H*W, C)
view; the small per-channel vectors are numpy, made once."""
from __future__ import annotations

import numpy as np

from ... import _core

from .base import BufferSpec, TrainOp, internal, register_trainable
from .params import own_param

MOMENTUM = 0.1


@register_trainable("batchnorm")
class BatchNormTrain(TrainOp):
    def __init__(self, layer, in_shapes, out_shape) -> None:
        super().__init__(layer, in_shapes, out_shape)
        self.gamma = own_param(layer, "gamma")
        self.beta = own_param(layer, "beta")
        self.params = [self.gamma, self.beta]
        for attr in ("mean", "var"):  # running statistics are updated in place on the layer
            a = getattr(layer, attr)
            if not (a.flags.writeable and a.flags.c_contiguous):
                setattr(layer, attr, a.copy())
        self.saved = {"xhat": BufferSpec(internal(in_shapes[0]))}
        c = in_shapes[0][0]
        # Per-channel work vectors, made once: the step allocates nothing.
        self.mean, self.var, self.invstd, self.t1, self.t2 = (np.zeros(c, np.float32) for _ in range(5))
        self.k = np.zeros((3, c), np.float32)
        self.k0, self.k1, self.k2 = self.k  # row views made once (a view is an allocation)

    def forward(self, xs, y, bufs, training):
        lay, x = self.layer, xs[0]
        t1, t2 = self.t1, self.t2
        if not training:  # y = x * gamma / sqrt(var + eps) + (beta - mean * that)
            np.add(lay.var, np.float32(lay.eps), out=t1)
            np.sqrt(t1, out=t1)
            np.divide(self.gamma.value, t1, out=t1)
            np.multiply(lay.mean, t1, out=t2)
            np.subtract(self.beta.value, t2, out=t2)
            _core.channel_scale_shift(x, t1, t2, y)
            return
        m = x.size // x.shape[-1]
        xhat = bufs["xhat"]
        _core.channel_moments(x, self.mean, self.var)
        np.add(self.var, np.float32(lay.eps), out=self.invstd)
        np.sqrt(self.invstd, out=self.invstd)
        np.reciprocal(self.invstd, out=self.invstd)
        np.multiply(self.mean, self.invstd, out=t1)
        np.negative(t1, out=t1)
        _core.channel_scale_shift(x, self.invstd, t1, xhat)          # xhat = (x - mean) * invstd
        _core.channel_scale_shift(xhat, self.gamma.value, self.beta.value, y)
        # running = (1 - momentum) * running + momentum * batch (the variance unbiased)
        for run, batch, unbias in ((lay.mean, self.mean, 1.0), (lay.var, self.var, m / max(m - 1, 1))):
            np.multiply(run, np.float32(1 - MOMENTUM), out=run)
            np.multiply(batch, np.float32(MOMENTUM * unbias), out=t1)
            np.add(run, t1, out=run)

    def backward(self, xs, y, dy, dxs, bufs):
        xhat = bufs["xhat"]
        m = dy.size // dy.shape[-1]
        dgamma, dbeta = self.gamma.grad, self.beta.grad
        _core.channel_dot(dy, xhat, dbeta, dgamma)   # sum(dy), sum(dy * xhat)
        if dxs[0] is None:
            return
        # dx = gamma * invstd * (dy - dbeta / m - xhat * dgamma / m): one pass, per-channel factors
        k0, k1, k2 = self.k0, self.k1, self.k2
        np.multiply(self.gamma.value, self.invstd, out=k0)
        np.multiply(k0, dgamma, out=k1)
        np.multiply(k1, np.float32(-1.0 / m), out=k1)
        np.multiply(k0, dbeta, out=k2)
        np.multiply(k2, np.float32(-1.0 / m), out=k2)
        _core.channel_affine2(dy, xhat, self.k, dxs[0])
