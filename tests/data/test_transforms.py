"""Batch transforms against straightforward references: np.rot90, a per-pixel bilinear /
nearest rotation written out, scipy.ndimage.rotate, slicing for shifts, the formula for
Normalize; plus randomness, determinism, workspace reuse and argument checks."""
import math

import numpy as np
import pytest

from frugalnn.data.transforms import (
    CHUNK,
    Compose,
    GaussianNoise,
    Normalize,
    RandomRotation,
    RandomShift,
    Transform,
)


def images(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


# ------------------------------------------------------------------------ references


def rotate_reference(img, degrees, interpolation):
    """Rotate one (H, W) image about ((H-1)/2, (W-1)/2), counter-clockwise as displayed,
    pixel by pixel; zero outside the image."""
    h, w = img.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)

    def at(i, j):
        return float(img[i, j]) if 0 <= i < h and 0 <= j < w else 0.0

    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            u, v = i - cy, j - cx
            ys, xs = c * u + s * v + cy, -s * u + c * v + cx
            if interpolation == "nearest":
                out[i, j] = at(int(np.rint(ys)), int(np.rint(xs)))
                continue
            y0, x0 = math.floor(ys), math.floor(xs)
            wy, wx = ys - y0, xs - x0
            out[i, j] = ((1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x0 + 1))
                         + wy * ((1 - wx) * at(y0 + 1, x0) + wx * at(y0 + 1, x0 + 1)))
    return out


def shift_reference(img, dy, dx):
    """out[..., y, x] = img[..., y - dy, x - dx], zero outside: by slicing."""
    h, w = img.shape[-2:]
    out = np.zeros_like(img)
    ys, yd = slice(max(0, -dy), h - max(0, dy)), slice(max(0, dy), h - max(0, -dy))
    xs, xd = slice(max(0, -dx), w - max(0, dx)), slice(max(0, dx), w - max(0, -dx))
    out[..., yd, xd] = img[..., ys, xs]
    return out


# ------------------------------------------------------------------------- rotation


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("shape", [(5, 1, 28, 28), (3, 3, 9, 9), (4, 10, 10), (2, 2, 7, 7)])
@pytest.mark.parametrize("k", [1, 2, 3, -1])
def test_rotation_by_multiples_of_90_equals_rot90(shape, interpolation, k):
    x = images(shape)
    got = x.copy()
    RandomRotation((90 * k, 90 * k), interpolation=interpolation)(got, np.random.default_rng(0))
    np.testing.assert_allclose(got, np.rot90(x, k, axes=(-2, -1)), atol=1e-5, rtol=0)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("shape", [(4, 1, 7, 9), (3, 2, 6, 5), (40, 8, 8)])  # 40 > CHUNK: two chunks
def test_rotation_matches_the_per_pixel_reference(shape, interpolation):
    x = images(shape, seed=1)
    angles = np.random.default_rng(2).uniform(-170, 170, shape[0])
    got = x.copy()
    RandomRotation(180, interpolation=interpolation).apply(got, angles)
    x4 = x.reshape(shape[0], -1, *shape[-2:])
    ref = np.stack([[rotate_reference(x4[i, c], angles[i], interpolation) for c in range(x4.shape[1])]
                    for i in range(shape[0])]).reshape(shape)
    np.testing.assert_allclose(got, ref, atol=2e-6, rtol=0)


def test_rotation_matches_scipy_ndimage():
    ndimage = pytest.importorskip("scipy.ndimage")
    x = images((6, 1, 28, 28), seed=3)
    angles = np.random.default_rng(4).uniform(-30, 30, 6)
    got = x.copy()
    RandomRotation(30).apply(got, angles)
    for i in range(6):
        # grid-constant: bilinear with zeros beyond the edge, as here.
        ref = ndimage.rotate(x[i, 0], angles[i], reshape=False, order=1, mode="grid-constant", cval=0.0)
        np.testing.assert_allclose(got[i, 0], ref, atol=1e-5)


def test_random_rotation_draws_angles_in_range():
    x = images((64, 1, 15, 15))
    got = x.copy()
    t = RandomRotation(20)
    t(got, np.random.default_rng(5))
    # Recover each sample's angle: the reference at the right angle matches.
    candidates = np.linspace(-20, 20, 81)
    for i in (0, 17, 63):
        errs = [np.abs(rotate_reference(x[i, 0], a, "bilinear") - got[i, 0]).max() for a in candidates]
        assert min(errs) < 0.05
    assert not np.array_equal(got[0], got[1])


def test_zero_degrees_is_the_identity():
    x = images((3, 2, 8, 8))
    got = x.copy()
    RandomRotation(0)(got, np.random.default_rng(0))
    np.testing.assert_allclose(got, x, atol=1e-6)


# ---------------------------------------------------------------------------- shift


@pytest.mark.parametrize("shape", [(6, 1, 10, 12), (5, 3, 8, 8), (40, 9, 9)])
def test_shift_matches_slicing(shape):
    x = images(shape)
    rng = np.random.default_rng(1)
    dy, dx = rng.integers(-3, 4, shape[0]), rng.integers(-3, 4, shape[0])
    got = x.copy()
    RandomShift(3).apply(got, dy, dx)
    for i in range(shape[0]):
        np.testing.assert_array_equal(got[i], shift_reference(x[i], int(dy[i]), int(dx[i])))


def test_random_shift_moves_each_sample_by_an_allowed_whole_shift():
    x = images((50, 1, 9, 9)) + 0.5  # positive everywhere: shifts are identifiable
    got = x.copy()
    RandomShift(2)(got, np.random.default_rng(3))
    seen = set()
    for i in range(50):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(got[i], shift_reference(x[i], dy, dx))]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 10  # draws cover the range


def test_shift_zero_and_bad_apply_arguments():
    x = images((4, 1, 6, 6))
    got = x.copy()
    RandomShift(0)(got, np.random.default_rng(0))
    np.testing.assert_array_equal(got, x)
    t = RandomShift(2)
    with pytest.raises(ValueError, match="dy"):
        t.apply(got, [3, 0, 0, 0], [0, 0, 0, 0])
    with pytest.raises(ValueError, match="dx"):
        t.apply(got, [0, 0, 0, 0], [0.5, 0, 0, 0])
    with pytest.raises(ValueError, match="one value per sample"):
        t.apply(got, [0, 0], [0, 0])


# ------------------------------------------------------------------ normalize, noise


def test_normalize_scalar_and_per_channel():
    x = images((40, 3, 5, 5))  # 40 > CHUNK
    got = x.copy()
    Normalize(0.5, 0.25)(got, None)
    np.testing.assert_allclose(got, (x - np.float32(0.5)) / np.float32(0.25), rtol=1e-6)
    mean, std = [0.1, 0.2, 0.3], [0.5, 1.0, 2.0]
    got = x.copy()
    Normalize(mean, std)(got, None)
    ref = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    with pytest.raises(ValueError, match="channel"):
        Normalize(mean, std)(images((2, 2, 4, 4)), None)


def test_gaussian_noise_statistics_and_determinism():
    x = np.zeros((64, 1, 32, 32), np.float32)
    a, b = x.copy(), x.copy()
    GaussianNoise(0.5)(a, np.random.default_rng(9))
    GaussianNoise(0.5)(b, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean()) < 0.01 and abs(a.std() - 0.5) < 0.01
    c = x.copy()
    GaussianNoise(0.0)(c, np.random.default_rng(9))
    assert not c.any()


def test_compose_applies_in_order():
    calls = []

    class Tag(Transform):
        def __init__(self, name):
            self.name = name

        def prepare(self, shape):
            calls.append(("prepare", self.name, tuple(shape)))

        def __call__(self, xb, rng):
            calls.append(("call", self.name))
            xb *= 2 if self.name == "double" else 1
            xb += 1 if self.name == "inc" else 0

    t = Compose([Tag("double"), Tag("inc")])
    t.prepare((8, 1, 4, 4))
    x = np.ones((8, 1, 4, 4), np.float32)
    t(x, np.random.default_rng(0))
    assert np.all(x == 3)  # (1 * 2) + 1, not (1 + 1) * 2
    assert calls == [("prepare", "double", (8, 1, 4, 4)), ("prepare", "inc", (8, 1, 4, 4)),
                     ("call", "double"), ("call", "inc")]


# ------------------------------------------------------------------ workspace reuse


@pytest.mark.parametrize("make", [lambda: RandomRotation(10), lambda: RandomRotation(10, interpolation="nearest"),
                                  lambda: RandomShift(2), lambda: GaussianNoise(0.1),
                                  lambda: Normalize([0.1, 0.2], [1, 2])])
def test_workspace_is_made_once_for_the_largest_batch(make):
    t = make()
    t.prepare((70, 2, 12, 12))
    before = {k: id(v) for k, v in vars(t).items() if isinstance(v, np.ndarray)}
    rng = np.random.default_rng(0)
    for n in (70, 5, 33, 70, 1):
        t(images((n, 2, 12, 12)), rng)
    after = {k: id(v) for k, v in vars(t).items() if isinstance(v, np.ndarray)}
    assert before == after  # no workspace was remade for any batch size up to the largest
    ws = sum(v.nbytes for v in vars(t).values() if isinstance(v, np.ndarray))
    assert ws < 64 * CHUNK * 2 * 12 * 12 * 2  # bounded by the chunk, not the batch


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("t", [RandomRotation(5), RandomShift(1), GaussianNoise(0.1), Normalize(0, 1)])
def test_batches_must_be_contiguous_float32(t):
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="float32"):
        t(np.zeros((2, 1, 4, 4)), rng)
    with pytest.raises(ValueError, match="contiguous"):
        t(np.zeros((2, 1, 4, 8), np.float32)[..., ::2], rng)
    with pytest.raises(TypeError, match="numpy array"):
        t([[0.0]], rng)


def test_geometric_transforms_need_image_layouts():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        RandomRotation(5)(np.zeros((2, 16), np.float32), np.random.default_rng(0))


@pytest.mark.parametrize("make, exc", [
    (lambda: RandomRotation(-1), ValueError),
    (lambda: RandomRotation((10, -10)), ValueError),
    (lambda: RandomRotation(float("nan")), ValueError),
    (lambda: RandomRotation(5, interpolation="cubic"), ValueError),
    (lambda: RandomShift(-1), ValueError),
    (lambda: RandomShift(1.5), TypeError),
    (lambda: GaussianNoise(-0.1), ValueError),
    (lambda: Normalize(0, 0), ValueError),
    (lambda: Normalize([0, 0], [1, 1, 1]), ValueError),
    (lambda: Compose([1]), TypeError),
])
def test_bad_parameters(make, exc):
    with pytest.raises(exc):
        make()
