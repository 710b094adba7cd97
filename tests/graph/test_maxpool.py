"""Max-pool steps, float32 and uint8, against numpy: channel counts that take each of the
kernel's paths (64-byte blocks, single 16-byte vectors, single channels), windows that overlap,
stride == window, and padding (which never enters a max)."""
import numpy as np
import pytest

from frugalnn.graph import Conv2d, Graph, MaxPool2d, QuantParams, Session, compile

# float32: 16 channels a block, 4 a vector; uint8: 64 a block, 16 a vector.
CHANNELS = [1, 3, 4, 15, 16, 17, 20, 63, 64, 65, 80, 131]
WINDOWS = [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0)]


def maxpool_nchw(x, k, s, p):
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * p, w + 2 * p), -np.inf, np.float64)
    xp[:, :, p:p + h, p:p + w] = x
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    y = np.full((n, c, oh, ow), -np.inf)
    for dy in range(k):
        for dx in range(k):
            y = np.maximum(y, xp[:, :, dy:dy + s * oh:s, dx:dx + s * ow:s])
    return y


def pooled(shape, window, **quant):
    g = Graph()
    x = g.input("x", shape, **quant)
    g.output(MaxPool2d(window[0], stride=window[1], padding=window[2])(x), "y")
    return Session(compile(g), max_batch=4)


@pytest.mark.parametrize("window", WINDOWS, ids=str)
@pytest.mark.parametrize("c", CHANNELS)
def test_float32(c, window):
    x = np.random.default_rng(c).standard_normal((3, c, 7, 5)).astype(np.float32)
    s = pooled((c, 7, 5), window)
    np.testing.assert_array_equal(s.run(x), maxpool_nchw(x, *window).astype(np.float32))


def u8_then_conv(shape, window, w):
    """uint8 frames, max-pooled (or not: window None), then an int8 1x1 conv that takes the
    input's own parameters: the pool runs on the u8 values and the conv reads them as they are."""
    g = Graph()
    x = g.input("x", shape, dtype="uint8", scale=0.5, zero_point=7)
    if window is not None:
        x = MaxPool2d(window[0], stride=window[1], padding=window[2])(x)
    conv = Conv2d(w, None, name="conv")
    g.output(conv(x), "y")
    conv.quant = QuantParams(0.5, 7)  # the input's own: no requantization before the conv
    return compile(g, precision="int8")


@pytest.mark.parametrize("window", WINDOWS, ids=str)
@pytest.mark.parametrize("c", CHANNELS)
def test_uint8(c, window):
    """The u8 pool, then the conv, bit for bit as the conv alone on frames numpy pooled."""
    rng = np.random.default_rng(c)
    q = rng.integers(0, 256, (3, c, 7, 5), dtype=np.uint8)
    w = rng.standard_normal((4, c, 1, 1)).astype(np.float32)
    p = u8_then_conv((c, 7, 5), window, w)
    assert [s.kind for s in p.steps if "pool" in s.kind or "quantize" in s.kind] == ["maxpool2d"]
    pooled_q = maxpool_nchw(q.astype(np.float64), *window).astype(np.uint8)
    alone = u8_then_conv(pooled_q.shape[1:], None, w)
    np.testing.assert_array_equal(Session(p, max_batch=4).run(q), Session(alone, max_batch=4).run(pooled_q))
