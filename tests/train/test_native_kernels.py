"""The native kernels training runs on (frugalnn._core): conv2d forward / backward, pool
backward, element-wise backward and optimizer updates, against float64 numpy references
written here (and torch.optim for the optimizers), on every ISA level (CI's FRUGALNN_ISA loop)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import frugalnn
from frugalnn import _core


# ---- the bindings with their per-layer constants as keywords --------------------------------

def conv2d_train_forward(x, w, b, y, *, lo=-np.inf, hi=np.inf, **geometry):
    _core.conv2d_train_forward(x, w, b, y, _core.Conv2dTrainGeometry(lo=lo, hi=hi, **geometry))


def conv2d_backward(x, w, dy, dx, dw, db, **geometry):
    _core.conv2d_backward(x, w, dy, dx, dw, _core.Conv2dTrainGeometry(**geometry))
    if db is not None:
        _core.bias_backward(dy, db)


def _pool(fn):
    def call(*arrays, kernel, stride, padding):
        fn(*arrays, _core.Pool2dTrainGeometry(kernel=kernel, stride=stride, padding=padding))
    return call


maxpool2d_train_forward = _pool(_core.maxpool2d_train_forward)
maxpool2d_backward = _pool(_core.maxpool2d_backward)
avgpool2d_train_forward = _pool(_core.avgpool2d_train_forward)
avgpool2d_backward = _pool(_core.avgpool2d_backward)


def sgd_update(param, grad, velocity, *, mask=None, **hp):
    _core.sgd_update(param, grad, velocity, mask, _core.SgdConfig(**hp))


def adam_update(param, grad, m, v, *, mask=None, **hp):
    _core.adam_update(param, grad, m, v, mask, _core.AdamConfig(**hp))


# ---- references (float64) -----------------------------------------------------------------

def _out_extent(size, lo, hi, k, d, s):
    return (size + lo + hi - (k - 1) * d - 1) // s + 1


def _padded(x, pads):
    t, l, b, r = pads
    n, h, w, c = x.shape
    xp = np.zeros((n, h + t + b, w + l + r, c))
    xp[:, t:t + h, l:l + w] = x
    return xp


def _taps(shape_x, w_shape, stride, dilation, pads):
    """(i, j, row slice, col slice) of the padded input each kernel tap reads."""
    _, h, w, _ = shape_x
    _, kh, kw, _ = w_shape
    oh = _out_extent(h, pads[0], pads[2], kh, dilation[0], stride[0])
    ow = _out_extent(w, pads[1], pads[3], kw, dilation[1], stride[1])
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dilation[0], j * dilation[1]
            yield (i, j, slice(r0, r0 + (oh - 1) * stride[0] + 1, stride[0]),
                   slice(c0, c0 + (ow - 1) * stride[1] + 1, stride[1]))


def conv_ref(x, w, b, stride, dilation, pads, groups):
    x, w = x.astype(np.float64), w.astype(np.float64)
    o, _, _, cg = w.shape
    og = o // groups
    xp = _padded(x, pads)
    y = None
    for i, j, rs, cs in _taps(x.shape, w.shape, stride, dilation, pads):
        patch = xp[:, rs, cs]
        part = np.concatenate([np.einsum("nhwc,oc->nhwo", patch[..., g * cg:(g + 1) * cg],
                                         w[g * og:(g + 1) * og, i, j]) for g in range(groups)], axis=-1)
        y = part if y is None else y + part
    return y if b is None else y + b


def conv_backward_ref(x, w, dy, stride, dilation, pads, groups):
    x, w, dy = x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64)
    o, _, _, cg = w.shape
    og = o // groups
    xp = _padded(x, pads)
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape)
    for i, j, rs, cs in _taps(x.shape, w.shape, stride, dilation, pads):
        for g in range(groups):
            dyg = dy[..., g * og:(g + 1) * og]
            dw[g * og:(g + 1) * og, i, j] = np.einsum("nhwo,nhwc->oc", dyg, xp[:, rs, cs, g * cg:(g + 1) * cg])
            dxp[:, rs, cs, g * cg:(g + 1) * cg] += np.einsum("nhwo,oc->nhwc", dyg, w[g * og:(g + 1) * og, i, j])
    t, l = pads[0], pads[1]
    dx = dxp[:, t:t + x.shape[1], l:l + x.shape[2]]
    return dx, dw, dy.sum(axis=(0, 1, 2))


def pool_windows(h, w, kernel, stride, padding):
    oh = (h + 2 * padding[0] - kernel[0]) // stride[0] + 1
    ow = (w + 2 * padding[1] - kernel[1]) // stride[1] + 1
    for oy in range(oh):
        for ox in range(ow):
            y0, x0 = oy * stride[0] - padding[0], ox * stride[1] - padding[1]
            rows = [r for r in range(y0, y0 + kernel[0]) if 0 <= r < h]
            cols = [c for c in range(x0, x0 + kernel[1]) if 0 <= c < w]
            yield oy, ox, [(r, c) for r in rows for c in cols]


def maxpool_ref(x, dy, kernel, stride, padding):
    n, h, w, c = x.shape
    ys, dx = {}, np.zeros(x.shape)
    for oy, ox, taps in pool_windows(h, w, kernel, stride, padding):
        vals = np.stack([x[:, r, cc] for r, cc in taps])  # taps, n, c
        ys[oy, ox] = vals.max(axis=0)
        first = np.argmax(vals == ys[oy, ox], axis=0)  # first tap equal to the max
        for t, (r, cc) in enumerate(taps):
            dx[:, r, cc] += np.where(first == t, dy[:, oy, ox], 0.0)
    oh, ow = max(k[0] for k in ys) + 1, max(k[1] for k in ys) + 1
    y = np.zeros((n, oh, ow, c))
    for (oy, ox), v in ys.items():
        y[:, oy, ox] = v
    return y, dx


def avgpool_ref(x, dy, kernel, stride, padding):
    n, h, w, c = x.shape
    oh = (h + 2 * padding[0] - kernel[0]) // stride[0] + 1
    ow = (w + 2 * padding[1] - kernel[1]) // stride[1] + 1
    y, dx = np.zeros((n, oh, ow, c)), np.zeros(x.shape)
    for oy, ox, taps in pool_windows(h, w, kernel, stride, padding):
        y[:, oy, ox] = np.mean([x[:, r, cc] for r, cc in taps], axis=0)
        for r, cc in taps:
            dx[:, r, cc] += dy[:, oy, ox] / len(taps)
    return y, dx


# ---- convolution ----------------------------------------------------------------------------

# (N, H, W, C, O, kh, kw, stride, dilation, pads, groups)
CONV_CASES = [
    (2, 7, 9, 6, 8, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 1),
    (3, 8, 5, 6, 8, 3, 2, (2, 1), (1, 2), (1, 0, 2, 1), 2),
    (2, 9, 9, 5, 7, 3, 3, (2, 2), (2, 2), (2, 1, 0, 3), 1),
    (2, 6, 7, 6, 6, 3, 3, (1, 2), (1, 1), (1, 1, 1, 1), 6),      # depthwise
    (2, 6, 5, 4, 12, 3, 3, (2, 1), (2, 1), (2, 0, 1, 2), 4),     # channel multiplier 3
    (1, 2, 3, 3, 5, 5, 5, (1, 1), (1, 1), (2, 2, 2, 2), 1),      # kernel larger than the input
    (2, 5, 5, 8, 4, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0), 1),      # pointwise
    (1, 11, 13, 1, 3, 1, 1, (2, 3), (1, 1), (1, 0, 0, 1), 1),    # 1x1 with stride and pads
    (3, 5, 4, 13, 17, 2, 3, (1, 1), (1, 1), (0, 2, 1, 0), 1),    # primes
    (0, 6, 6, 4, 8, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 2),      # empty batch
    (0, 6, 6, 4, 4, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 4),      # empty batch, depthwise
]


def _conv_args(case, seed=0):
    n, h, w, c, o, kh, kw, stride, dilation, pads, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    wt = rng.standard_normal((o, kh, kw, c // groups)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    kwargs = dict(stride=stride, dilation=dilation, pads=pads, groups=groups)
    return x, wt, b, kwargs


def _tol(k):
    return 2e-6 * max(1.0, float(k))


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_and_backward(isa, case):
    x, w, b, kw = _conv_args(case)
    ref = conv_ref(x, w, b, **kw)
    y = np.full(ref.shape, np.nan, np.float32)
    conv2d_train_forward(x, w, b, y, **kw)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=_tol(w[0].size))
    conv2d_train_forward(x, w, None, y, lo=0.0, hi=1.5, **kw)
    np.testing.assert_allclose(y, np.clip(ref - b, 0.0, 1.5), rtol=1e-5, atol=_tol(w[0].size))

    dy = np.random.default_rng(1).standard_normal(ref.shape).astype(np.float32)
    dx_ref, dw_ref, db_ref = conv_backward_ref(x, w, dy, **kw)
    dx = np.full(x.shape, np.nan, np.float32)
    dw = np.full(w.shape, np.nan, np.float32)
    db = np.full(b.shape, np.nan, np.float32)
    conv2d_backward(x, w, dy, dx, dw, db, **kw)
    pixels = max(1, dy.shape[0] * dy.shape[1] * dy.shape[2])
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=_tol(w.shape[0] * w.shape[1] * w.shape[2]))
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-5, atol=_tol(pixels))
    np.testing.assert_allclose(db, db_ref, rtol=1e-5, atol=_tol(pixels))
    dw2 = np.full(w.shape, np.nan, np.float32)
    conv2d_backward(x, w, dy, None, dw2, None, **kw)  # dx and db skipped
    np.testing.assert_array_equal(dw2, dw)


@pytest.mark.parametrize("case", [CONV_CASES[1], CONV_CASES[3], CONV_CASES[4]])
def test_conv2d_is_independent_of_threads(case):
    n, *rest = case
    case = (19, *rest)  # more images than weight-gradient parts
    x, w, b, kw = _conv_args(case, seed=5)
    y_shape = conv_ref(x[:1], w, None, **kw).shape[1:]
    dy = np.random.default_rng(6).standard_normal((19, *y_shape)).astype(np.float32)
    before = frugalnn.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            frugalnn.set_num_threads(threads)
            y = np.empty(dy.shape, np.float32)
            dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
            conv2d_train_forward(x, w, b, y, **kw)
            conv2d_backward(x, w, dy, dx, dw, db, **kw)
            results.append((y, dx, dw, db))
    finally:
        frugalnn.set_num_threads(before)
    for a, b_ in zip(*results):
        np.testing.assert_array_equal(a, b_)


def test_conv2d_rejects_bad_arguments():
    x, w, b, kw = _conv_args(CONV_CASES[1])
    y = np.empty(conv_ref(x, w, b, **kw).shape, np.float32)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    with pytest.raises(TypeError, match="x has dtype float64"):
        conv2d_train_forward(x.astype(np.float64), w, b, y, **kw)
    with pytest.raises(ValueError, match="w must be 4-D"):
        conv2d_train_forward(x, w[0], b, y, **kw)
    with pytest.raises(ValueError, match="C // groups"):
        conv2d_train_forward(x, w, b, y, **{**kw, "groups": 1})
    with pytest.raises(ValueError, match="groups = 4 must divide"):
        conv2d_train_forward(x, w, b, y, **{**kw, "groups": 4})
    with pytest.raises(ValueError, match="y has shape"):
        conv2d_train_forward(x, w, b, np.empty(y[:, :-1].shape, np.float32), **kw)
    with pytest.raises(ValueError, match="bias has shape"):
        conv2d_train_forward(x, w, b[:-1], y, **kw)
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        conv2d_train_forward(np.asfortranarray(x), w, b, y, **kw)
    with pytest.raises(ValueError, match="stride"):
        conv2d_train_forward(x, w, b, y, **{**kw, "stride": (0, 1)})
    with pytest.raises(ValueError, match="pads"):
        conv2d_train_forward(x, w, b, y, **{**kw, "pads": (-1, 0, 0, 0)})
    with pytest.raises(ValueError, match="exceeds the padded input"):
        conv2d_train_forward(x[:, :1].copy(), w, b, y, **{**kw, "pads": (0, 0, 0, 0)})
    with pytest.raises(ValueError, match="dy has shape"):
        conv2d_backward(x, w, np.empty(y[:, :, :-1].shape, np.float32), dx, dw, db, **kw)
    with pytest.raises(ValueError, match="dx has shape"):
        conv2d_backward(x, w, y, dx[:1], dw, db, **kw)
    with pytest.raises(ValueError, match="dw has shape"):
        conv2d_backward(x, w, y, dx, dw[:1], db, **kw)
    with pytest.raises(TypeError, match="db has dtype"):
        conv2d_backward(x, w, y, dx, dw, db.astype(np.float64), **kw)
    with pytest.raises(ValueError, match="overlaps"):
        conv2d_backward(x, w, y, dx, x.reshape(-1)[:w.size].reshape(w.shape), None, **kw)
    with pytest.raises(ValueError, match="overlaps"):
        _core.bias_backward(y, y.reshape(-1)[:y.shape[-1]])
    ro = np.empty_like(w)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        conv2d_backward(x, w, y, dx, ro, db, **kw)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 3), h=st.integers(1, 7), w=st.integers(1, 7),
       cg=st.integers(1, 4), og=st.integers(1, 4), groups=st.sampled_from([1, 2, 3]),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       dh=st.integers(1, 2), dw=st.integers(1, 2), pads=st.tuples(*[st.integers(0, 3)] * 4),
       depthwise=st.booleans())
def test_conv2d_backward_shapes(n, h, w, cg, og, groups, kh, kw, sh, sw, dh, dw, pads, depthwise):
    c, o = cg * groups, og * groups
    if depthwise:
        groups, c = c, c  # channel multiplier og * cg... o = multiple of c
        o = c * og
    if h + pads[0] + pads[2] < (kh - 1) * dh + 1 or w + pads[1] + pads[3] < (kw - 1) * dw + 1:
        return
    case = (n, h, w, c, o, kh, kw, (sh, sw), (dh, dw), pads, groups)
    x, wt, b, kwargs = _conv_args(case, seed=n + h * 7 + w * 49)
    y_ref = conv_ref(x, wt, b, **kwargs)
    y = np.empty(y_ref.shape, np.float32)
    conv2d_train_forward(x, wt, b, y, **kwargs)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-4)
    dy = np.random.default_rng(2).standard_normal(y_ref.shape).astype(np.float32)
    dx_ref, dw_ref, db_ref = conv_backward_ref(x, wt, dy, **kwargs)
    dx, dwt, db = np.empty_like(x), np.empty_like(wt), np.empty_like(b)
    conv2d_backward(x, wt, dy, dx, dwt, db, **kwargs)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dwt, dw_ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(db, db_ref, rtol=1e-5, atol=1e-4)


# ---- pools ----------------------------------------------------------------------------------

# (N, H, W, C, kernel, stride, padding)
POOL_CASES = [
    (2, 6, 6, 3, (2, 2), (2, 2), (0, 0)),
    (2, 7, 5, 5, (3, 3), (1, 1), (1, 1)),        # overlapping windows
    (1, 9, 8, 17, (3, 2), (2, 3), (1, 1)),
    (3, 2, 3, 4, (3, 3), (1, 1), (2, 1)),        # kernel larger than the input, padded
    (0, 4, 4, 2, (2, 2), (2, 2), (0, 0)),        # empty batch
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("ties", [False, True])
def test_pools(isa, case, ties):
    n, h, w, c, kernel, stride, padding = case
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    if ties:
        x = np.round(x).astype(np.float32)  # many equal maxima: the first one takes dy
    oh = (h + 2 * padding[0] - kernel[0]) // stride[0] + 1
    ow = (w + 2 * padding[1] - kernel[1]) // stride[1] + 1
    dy = rng.standard_normal((n, oh, ow, c)).astype(np.float32)
    kw = dict(kernel=kernel, stride=stride, padding=padding)
    if n:
        y_ref, dx_ref = maxpool_ref(x.astype(np.float64), dy.astype(np.float64), **kw)
        ya_ref, dxa_ref = avgpool_ref(x.astype(np.float64), dy.astype(np.float64), **kw)
    else:
        y_ref = ya_ref = np.zeros((0, oh, ow, c))
        dx_ref = dxa_ref = np.zeros(x.shape)
    y = np.full((n, oh, ow, c), np.nan, np.float32)
    maxpool2d_train_forward(x, y, **kw)
    np.testing.assert_array_equal(y, y_ref.astype(np.float32))
    dx = np.full(x.shape, np.nan, np.float32)
    maxpool2d_backward(x, y, dy, dx, **kw)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-6, atol=1e-6)
    avgpool2d_train_forward(x, y, **kw)
    np.testing.assert_allclose(y, ya_ref, rtol=1e-6, atol=1e-6)
    dx = np.full(x.shape, np.nan, np.float32)
    avgpool2d_backward(dy, dx, **kw)
    np.testing.assert_allclose(dx, dxa_ref, rtol=1e-6, atol=1e-6)


def test_pools_are_independent_of_threads():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((9, 11, 10, 6)).astype(np.float32)
    kw = dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1))
    dy = rng.standard_normal((9, 6, 5, 6)).astype(np.float32)
    y = np.empty_like(dy)
    maxpool2d_train_forward(x, y, **kw)
    before = frugalnn.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            frugalnn.set_num_threads(threads)
            dxm, dxa = np.empty_like(x), np.empty_like(x)
            maxpool2d_backward(x, y, dy, dxm, **kw)
            avgpool2d_backward(dy, dxa, **kw)
            results.append((dxm, dxa))
    finally:
        frugalnn.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_pools_reject_bad_arguments():
    x = np.ones((2, 6, 6, 3), np.float32)
    y = np.empty((2, 3, 3, 3), np.float32)
    kw = dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0))
    with pytest.raises(TypeError, match="x has dtype"):
        maxpool2d_train_forward(x.astype(np.float64), y, **kw)
    with pytest.raises(ValueError, match="y has shape"):
        maxpool2d_train_forward(x, np.empty(y[:, :2].shape, np.float32), **kw)
    with pytest.raises(ValueError, match="padding must be smaller than the kernel"):
        avgpool2d_train_forward(x, y, **{**kw, "padding": (2, 0)})
    with pytest.raises(ValueError, match="dy has shape"):
        maxpool2d_backward(x, y, y[:1], np.empty_like(x), **kw)
    with pytest.raises(ValueError, match="dx must be C-contiguous"):
        avgpool2d_backward(y, np.empty((2, 6, 6, 3), np.float32, order="F"), **kw)
    with pytest.raises(ValueError, match="kernel"):
        avgpool2d_backward(y, np.empty_like(x), **{**kw, "kernel": (0, 2)})


# ---- element-wise backward ------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (3, 5, 17), (1 << 17,)])
@pytest.mark.parametrize("lo,hi", [(0.0, np.inf), (0.0, 6.0), (-1.0, 1.0)])
def test_clip_backward(shape, lo, hi):
    rng = np.random.default_rng(9)
    y = np.clip(rng.standard_normal(shape) * 4, lo, hi).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    ref = np.where((y > lo) & (y < hi), dy, 0.0).astype(np.float32)
    dx = np.full(shape, np.nan, np.float32)
    _core.clip_backward(y, dy, dx, lo, hi)
    np.testing.assert_array_equal(dx, ref)
    _core.clip_backward(y, dy, dy, lo, hi)  # in place: dx is dy
    np.testing.assert_array_equal(dy, ref)


@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (3, 5, 17), (1 << 17,)])
def test_sigmoid_backward(shape):
    rng = np.random.default_rng(10)
    y = (1 / (1 + np.exp(-rng.standard_normal(shape) * 3))).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    ref = dy.astype(np.float64) * y * (1 - y.astype(np.float64))
    dx = np.full(shape, np.nan, np.float32)
    _core.sigmoid_backward(y, dy, dx)
    np.testing.assert_allclose(dx, ref, rtol=1e-6, atol=1e-7)
    _core.sigmoid_backward(y, dy, dy)
    np.testing.assert_array_equal(dy, dx)


def test_eltwise_backward_rejects_bad_arguments():
    y = np.ones(10, np.float32)
    with pytest.raises(ValueError, match="dy has 9 elements"):
        _core.clip_backward(y, y[:9].copy(), np.empty(10, np.float32), 0.0, 6.0)
    with pytest.raises(TypeError, match="dx has dtype"):
        _core.sigmoid_backward(y, y.copy(), np.empty(10))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.sigmoid_backward(np.ones(20, np.float32)[::2], y.copy(), np.empty(10, np.float32))
    with pytest.raises(ValueError, match="overlaps"):
        buf = np.ones(11, np.float32)
        _core.sigmoid_backward(y, buf[:10], buf[1:])


# ---- optimizer updates ----------------------------------------------------------------------

def _opt_problem(n=1037, pruned=True, seed=11):
    rng = np.random.default_rng(seed)
    param = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(5)]
    mask = (rng.random(n) > 0.3).astype(np.uint8) if pruned else None
    return param, grads, mask


SGD_CASES = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
             dict(lr=0.02, momentum=0.8, weight_decay=1e-2), dict(lr=0.1, weight_decay=5e-4)]


@pytest.mark.parametrize("hp", SGD_CASES)
def test_sgd_matches_torch(hp):
    torch = pytest.importorskip("torch")
    param, grads, _ = _opt_problem()
    p_t = torch.nn.Parameter(torch.from_numpy(param.copy()))
    opt = torch.optim.SGD([p_t], foreach=False, **hp)
    p = param.copy()
    vel = np.zeros_like(p) if hp.get("momentum", 0) else None
    for g in grads:
        p_t.grad = torch.from_numpy(g.copy())
        opt.step()
        sgd_update(p, g.copy(), vel, **hp)
    np.testing.assert_allclose(p, p_t.detach().numpy(), rtol=1e-6, atol=1e-7)
    if vel is not None:
        np.testing.assert_allclose(vel, opt.state[p_t]["momentum_buffer"].numpy(), rtol=1e-6, atol=1e-7)


ADAM_CASES = [dict(lr=1e-3), dict(lr=1e-2, weight_decay=1e-2), dict(lr=1e-2, weight_decay=1e-2, decoupled=True),
              dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6)]


@pytest.mark.parametrize("hp", ADAM_CASES)
def test_adam_matches_torch(hp):
    torch = pytest.importorskip("torch")
    param, grads, _ = _opt_problem()
    hp = dict(hp)
    decoupled = hp.pop("decoupled", False)
    betas, eps = hp.pop("betas", (0.9, 0.999)), hp.pop("eps", 1e-8)
    p_t = torch.nn.Parameter(torch.from_numpy(param.copy()))
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    opt = cls([p_t], betas=betas, eps=eps, foreach=False, weight_decay=hp.get("weight_decay", 0.0), lr=hp["lr"])
    p, m, v = param.copy(), np.zeros_like(param), np.zeros_like(param)
    for step, g in enumerate(grads, 1):
        p_t.grad = torch.from_numpy(g.copy())
        opt.step()
        adam_update(p, g.copy(), m, v, lr=hp["lr"], beta1=betas[0], beta2=betas[1], eps=eps,
                          weight_decay=hp.get("weight_decay", 0.0), decoupled=decoupled, step=step)
    st_ = opt.state[p_t]
    np.testing.assert_allclose(p, p_t.detach().numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(m, st_["exp_avg"].numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(v, st_["exp_avg_sq"].numpy(), rtol=1e-6, atol=1e-9)


def test_masked_updates_keep_pruned_weights_and_state_zero():
    param, grads, mask = _opt_problem()
    p_sgd, vel = param.copy(), np.zeros_like(param)
    p_adam, m, v = param.copy(), np.zeros_like(param), np.zeros_like(param)
    for step, g in enumerate(grads, 1):
        g1, g2 = g.copy(), g.copy()
        sgd_update(p_sgd, g1, vel, lr=0.1, momentum=0.9, weight_decay=1e-3, mask=mask)
        adam_update(p_adam, g2, m, v, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8,
                          weight_decay=1e-2, decoupled=True, step=step, mask=mask)
        for arr in (g1, g2):
            assert np.all(arr[mask == 0] == 0)
    for arr in (p_sgd, vel, p_adam, m, v):
        assert np.all(arr[mask == 0] == 0)
        assert np.signbit(arr[mask == 0]).sum() == 0
    # Unpruned positions move exactly as without a mask.
    p_ref, vel_ref = param.copy(), np.zeros_like(param)
    for g in grads:
        sgd_update(p_ref, g.copy(), vel_ref, lr=0.1, momentum=0.9, weight_decay=1e-3)
    np.testing.assert_array_equal(p_sgd[mask == 1], p_ref[mask == 1])


def test_updates_are_independent_of_threads():
    param, grads, _ = _opt_problem(n=300_001, pruned=False)
    before = frugalnn.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            frugalnn.set_num_threads(threads)
            p, m, v = param.copy(), np.zeros_like(param), np.zeros_like(param)
            for step, g in enumerate(grads, 1):
                adam_update(p, g.copy(), m, v, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, step=step)
            results.append(p)
    finally:
        frugalnn.set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[1])


def test_updates_reject_bad_arguments():
    p = np.ones(10, np.float32)
    g = np.ones(10, np.float32)
    with pytest.raises(ValueError, match="velocity is required"):
        sgd_update(p, g, None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="grad has 9 elements"):
        sgd_update(p, g[:9].copy(), None, lr=0.1)
    with pytest.raises(TypeError, match="mask has dtype"):
        sgd_update(p, g, None, lr=0.1, mask=np.ones(10, bool))
    with pytest.raises(ValueError, match="mask has 9 elements"):
        sgd_update(p, g, None, lr=0.1, mask=np.ones(9, np.uint8))
    with pytest.raises(TypeError, match="param has dtype"):
        sgd_update(p.astype(np.float64), g, None, lr=0.1)
    with pytest.raises(ValueError, match="step is 1-based"):
        adam_update(p, g, np.zeros(10, np.float32), np.zeros(10, np.float32), lr=1e-3,
                          beta1=0.9, beta2=0.999, eps=1e-8, step=0)
    with pytest.raises(ValueError, match="overlaps"):
        adam_update(p, g, p, np.zeros(10, np.float32), lr=1e-3, beta1=0.9, beta2=0.999,
                          eps=1e-8, step=1)
    with pytest.raises(ValueError, match="lr must be finite"):
        sgd_update(p, g, None, lr=float("nan"))


def test_steady_state_allocates_nothing_from_the_os():
    rng = np.random.default_rng(12)
    x, w, b, kw = _conv_args(CONV_CASES[0], seed=12)
    y = np.empty(conv_ref(x, w, b, **kw).shape, np.float32)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    a = rng.standard_normal((40, 30)).astype(np.float32)
    out = np.empty((30, 20), np.float32)
    bm = rng.standard_normal((40, 20)).astype(np.float32)

    def step():
        conv2d_train_forward(x, w, b, y, **kw)
        conv2d_backward(x, w, dy, dx, dw, db, **kw)
        _core.sgemm(a, bm, out, trans="tn")

    step()
    before = _core._scratch_pool().stats()["os_allocations"]
    for _ in range(3):
        step()
    assert _core._scratch_pool().stats()["os_allocations"] == before
