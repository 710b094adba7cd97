"""The numpy reference forward against torch (when installed): the oracle must be right."""
import numpy as np
import pytest

from frugalnn import reference
from frugalnn.graph import AvgPool2d, BatchNorm, Conv2d, Dense, GlobalAvgPool, MaxPool2d, Sequential, Softmax

torch = pytest.importorskip("torch")
F = torch.nn.functional


def r(*shape, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 0.5).astype(np.float32)


@pytest.mark.parametrize(
    "kw",
    [dict(padding="same"), dict(stride=2, padding=1, dilation=2), dict(groups=3, padding=(1, 2)),
     dict(groups=6, stride=(2, 1)), dict(padding="same", stride=2)],
)
def test_conv2d(kw):
    x = r(2, 6, 11, 9)
    g = kw.get("groups", 1)
    wt, b = r(12, 6 // g, 3, 3, seed=1), r(12, seed=2)
    y = reference.forward(Sequential([Conv2d(wt, b, **kw)], input_shape=(6, 11, 9)), x)["y"]
    tx = torch.from_numpy(x)
    pad = kw.get("padding", 0)
    if pad == "same" and kw.get("stride", 1) != 1:  # torch has no strided "same": pad as ONNX SAME_UPPER
        tx = F.pad(tx, (1, 1, 1, 1))  # 11x9, k3, s2 -> total 2 on both axes
        pad = 0
    t = F.conv2d(tx, torch.from_numpy(wt), torch.from_numpy(b), stride=kw.get("stride", 1),
                 padding=pad, dilation=kw.get("dilation", 1), groups=g).numpy()
    assert y.shape == t.shape and np.allclose(y, t, atol=1e-5)


def test_pools_dense_softmax_batchnorm():
    x = r(3, 4, 9, 9)
    bn = (r(4, seed=3), r(4, seed=4), r(4, seed=5), np.abs(r(4, seed=6)) + 0.1)
    g = Sequential([BatchNorm(*bn), MaxPool2d(3, 2, 1), AvgPool2d(2, 1, 1), GlobalAvgPool(),
                    Dense(r(5, 4, seed=7), r(5, seed=8)), Softmax()], input_shape=(4, 9, 9))
    t = F.batch_norm(torch.from_numpy(x), torch.from_numpy(bn[2]), torch.from_numpy(bn[3]),
                     torch.from_numpy(bn[0]), torch.from_numpy(bn[1]), eps=1e-5)
    t = F.avg_pool2d(F.max_pool2d(t, 3, 2, 1), 2, 1, 1, count_include_pad=False).mean(dim=(2, 3))
    t = F.softmax(F.linear(t, torch.from_numpy(r(5, 4, seed=7)), torch.from_numpy(r(5, seed=8))), dim=1)
    assert np.allclose(reference.forward(g, x)["y"], t.numpy(), atol=1e-6)
