"""The seed document's MNIST CNN and the MLP trained for real, for accuracy tests.

Random-weight networks are a poor judge of int8 accuracy: fed random images their outputs
collapse onto one to four classes with tiny top-1 margins, so "agreement" measures whether
one systematic perturbation tips a whole cluster of near-ties (it swings between 96% and
100% with the weight seed). These models are trained (torch, CPU, a few seconds) on
scikit-learn's bundled 8x8 digits, upscaled to 28x28 MNIST geometry — no download.
"""
import functools

import numpy as np
import pytest

from frugalnn.graph import Conv2d, Dense

from . import models


@functools.lru_cache(maxsize=None)
def digits28():
    """(images float32 (1797, 1, 28, 28) in [0, 1], labels int64), fixed order."""
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    x = np.kron(d.images.astype(np.float32) / 16.0, np.ones((3, 3), np.float32))  # 24x24
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))[:, None]
    return np.ascontiguousarray(x), d.target.astype(np.int64)


TRAIN = 1400  # the rest (397 images) is the held-out set


@functools.lru_cache(maxsize=None)
def trained(name: str):
    """models.<name>() with weights trained on the first TRAIN digits."""
    torch = pytest.importorskip("torch")
    x, y = digits28()
    g = getattr(models, name)()
    layers = [n.layer for n in g.nodes if isinstance(n.layer, (Conv2d, Dense))]
    torch.manual_seed(0)
    params = [(torch.tensor(l.weight, requires_grad=True), torch.tensor(l.bias, requires_grad=True))
              for l in layers]
    F = torch.nn.functional

    def forward(t):
        for (w, b), layer in zip(params, layers):
            if isinstance(layer, Conv2d):
                t = F.max_pool2d(F.relu(F.conv2d(t, w, b, padding=1)), 2)
            else:
                t = F.linear(t.flatten(1), w, b)
                if layer is not layers[-1]:
                    t = F.relu(t)
        return t

    opt = torch.optim.Adam([p for pair in params for p in pair], lr=2e-3)
    xt, yt = torch.from_numpy(x[:TRAIN]), torch.from_numpy(y[:TRAIN])
    gen = torch.Generator().manual_seed(0)
    with torch.enable_grad():
        for _ in range(6):
            for idx in torch.randperm(TRAIN, generator=gen).split(64):
                opt.zero_grad()
                F.cross_entropy(forward(xt[idx]), yt[idx]).backward()
                opt.step()
    for (w, b), layer in zip(params, layers):
        layer.weight = w.detach().numpy().astype(np.float32)
        layer.bias = b.detach().numpy().astype(np.float32)
    return g
