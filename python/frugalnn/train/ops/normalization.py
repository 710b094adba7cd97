"""BatchNorm: batch statistics while training (running statistics updated as torch does,
momentum 0.1, unbiased variance), running statistics in inference mode. The channel axis is
the last one held, so every reduction is over the rows of an (N*H*W, C) view."""
from __future__ import annotations

import numpy as np

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

    def forward(self, xs, y, bufs, training):
        c = self.gamma.value.shape[0]
        x2, y2 = xs[0].reshape(-1, c), y.reshape(-1, c)
        lay = self.layer
        if not training:
            np.add(lay.var, np.float32(lay.eps), out=self.t1)
            np.sqrt(self.t1, out=self.t1)
            np.divide(self.gamma.value, self.t1, out=self.t1)       # scale
            np.multiply(lay.mean, self.t1, out=self.t2)
            np.subtract(self.beta.value, self.t2, out=self.t2)       # shift
            np.multiply(x2, self.t1, out=y2)
            np.add(y2, self.t2, out=y2)
            return
        m = x2.shape[0]
        xhat = bufs["xhat"].reshape(-1, c)
        np.mean(x2, axis=0, out=self.mean)
        np.subtract(x2, self.mean, out=xhat)
        np.einsum("ij,ij->j", xhat, xhat, out=self.var)
        np.divide(self.var, np.float32(m), out=self.var)
        np.add(self.var, np.float32(lay.eps), out=self.invstd)
        np.sqrt(self.invstd, out=self.invstd)
        np.reciprocal(self.invstd, out=self.invstd)
        np.multiply(xhat, self.invstd, out=xhat)
        np.multiply(xhat, self.gamma.value, out=y2)
        np.add(y2, self.beta.value, out=y2)
        # running = (1 - momentum) * running + momentum * batch (the variance unbiased)
        for run, batch, unbias in ((lay.mean, self.mean, 1.0), (lay.var, self.var, m / max(m - 1, 1))):
            np.multiply(run, np.float32(1 - MOMENTUM), out=run)
            np.multiply(batch, np.float32(MOMENTUM * unbias), out=self.t1)
            np.add(run, self.t1, out=run)

    def backward(self, xs, y, dy, dxs, bufs):
        c = self.gamma.value.shape[0]
        dy2 = dy.reshape(-1, c)
        xhat = bufs["xhat"].reshape(-1, c)
        m = dy2.shape[0]
        dgamma, dbeta = self.gamma.grad, self.beta.grad
        np.sum(dy2, axis=0, out=dbeta)
        np.einsum("ij,ij->j", dy2, xhat, out=dgamma)
        if dxs[0] is None:
            return
        # dx = gamma * invstd / m * (m * dy - dbeta - xhat * dgamma)
        dx2 = dxs[0].reshape(-1, c)
        np.divide(dgamma, np.float32(m), out=self.t1)
        np.multiply(xhat, self.t1, out=dx2)
        np.subtract(dy2, dx2, out=dx2)
        np.divide(dbeta, np.float32(m), out=self.t1)
        np.subtract(dx2, self.t1, out=dx2)
        np.multiply(self.gamma.value, self.invstd, out=self.t1)
        np.multiply(dx2, self.t1, out=dx2)
