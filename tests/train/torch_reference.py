"""The oracle for training: a frugalnn Graph run by torch (NCHW, autograd), with the same
weights. Only what torch computes is trusted here, never frugalnn's own kernels."""
from __future__ import annotations

import numpy as np

torch = __import__("pytest").importorskip("torch")
F = torch.nn.functional

_ARRAYS = ("weight", "bias", "gamma", "beta")


def params(graph) -> dict[str, "torch.Tensor"]:
    """Leaf tensors (float64, requires_grad) of every trainable array, '<layer>.<array>'."""
    out = {}
    for node in graph.nodes:
        for a in _ARRAYS:
            v = getattr(node.layer, a, None)
            if isinstance(v, np.ndarray):
                out[f"{node.layer.name}.{a}"] = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    return out


def forward(graph, x: np.ndarray, p: dict, training: bool = True, dropout_keep: dict | None = None):
    """The graph's output for x (NCHW) under torch with parameters ``p``; ``dropout_keep``:
    {layer name: the kept values (NCHW bools)} of a training step's Dropout."""
    vals = {next(iter(graph.inputs)): torch.tensor(x, dtype=torch.float64)}
    for node in graph.nodes:
        L = node.layer
        xs = [vals[i] for i in node.inputs]
        op = L.op
        if op == "dense":
            y = F.linear(xs[0], p[f"{L.name}.weight"], p.get(f"{L.name}.bias"))
        elif op == "conv2d":
            t, l, b, r = L.pads(xs[0].shape[2], xs[0].shape[3])
            y = F.conv2d(F.pad(xs[0], (l, r, t, b)), p[f"{L.name}.weight"], p.get(f"{L.name}.bias"),
                         stride=L.stride, dilation=L.dilation, groups=L.groups)
        elif op == "maxpool2d":
            y = F.max_pool2d(xs[0], L.kernel, L.stride, L.padding)
        elif op == "avgpool2d":
            y = F.avg_pool2d(xs[0], L.kernel, L.stride, L.padding, count_include_pad=False)
        elif op == "global_avgpool":
            y = xs[0].mean(dim=(2, 3))
        elif op == "relu":
            y = F.relu(xs[0])
        elif op == "clip":
            y = F.hardtanh(xs[0], L.lo, L.hi)  # gradient 0 at the bounds, as frugalnn's
        elif op == "softmax":
            y = F.softmax(xs[0], dim=1)
        elif op in ("flatten", "reshape"):
            y = xs[0].reshape((xs[0].shape[0],) + tuple(graph.shapes[node.output]))
        elif op == "add":
            y = xs[0] + xs[1]
        elif op == "concat":
            y = torch.cat(xs, dim=1 + L.axis % (xs[0].ndim - 1))
        elif op == "batchnorm":
            y = F.batch_norm(xs[0], torch.tensor(L.mean, dtype=torch.float64), torch.tensor(L.var, dtype=torch.float64),
                             p[f"{L.name}.gamma"], p[f"{L.name}.beta"], training=training, eps=L.eps)
        elif op == "scale_shift":
            s, b = (torch.tensor(a, dtype=torch.float64) for a in L.scale_shift())
            shp = (1, -1) + (1,) * (xs[0].ndim - 2)
            y = xs[0] * s.reshape(shp) + b.reshape(shp)
        elif op == "sigmoid":
            y = torch.sigmoid(xs[0])
        elif op == "hard_swish":
            y = F.hardswish(xs[0])
        elif op == "dropout":
            keep = (dropout_keep or {}).get(L.name)
            y = xs[0] if keep is None else xs[0] * torch.tensor(keep, dtype=torch.float64) / (1 - L.rate)
        else:
            raise NotImplementedError(op)
        act = getattr(L, "activation", None)
        if act == "relu":
            y = F.relu(y)
        elif act == "relu6":
            y = F.hardtanh(y, 0.0, 6.0)
        vals[node.output] = y
    return vals[graph.outputs[0]]


def loss_and_grads(graph, x: np.ndarray, y: np.ndarray, training: bool = True, dropout_keep: dict | None = None):
    """Mean cross-entropy (on the logits: a trailing Softmax is taken as log) and the
    gradient of every parameter, float64."""
    p = params(graph)
    out = forward(graph, x, p, training, dropout_keep)
    last = graph.nodes[-1].layer.op
    logp = torch.log(out) if last == "softmax" else F.log_softmax(out, dim=1)
    loss = F.nll_loss(logp, torch.tensor(y))
    loss.backward()
    return float(loss.detach()), {k: v.grad.numpy() for k, v in p.items()}
