"""Batch transforms that work in place and allocate nothing per batch.

A transform is a callable ``t(xb, rng) -> None`` that rewrites a whole batch ``xb`` in place:
a C-contiguous float32 array laid out NCHW ``(N, C, H, W)`` (``(N, H, W)`` is read as one
channel; :class:`Normalize` and :class:`GaussianNoise` take any shape). ``rng`` is a
``numpy.random.Generator``; the :class:`~frugalnn.data.Loader` owns it and seeds it, so the
same seed gives the same augmented batches.

Each transform makes its workspace once, when :meth:`Transform.prepare` is told the largest
batch shape (the loader does this at construction; called directly, the first batch prepares
it), and then works through numpy calls with ``out=`` only: no allocation per batch. Work is
done ``chunk`` samples at a time, so the workspace does not grow with the batch size.

Geometric transforms (:class:`RandomShift`, :class:`RandomRotation`) are gathers: each output
pixel reads its source through a precomputed zero-padded copy of the input, so pixels that come
from outside the image are zero. Their deterministic core, ``apply(xb, ...)``, takes explicit
parameters.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import numpy as np

__all__ = [
    "Compose",
    "GaussianNoise",
    "Normalize",
    "RandomRotation",
    "RandomShift",
    "Transform",
]

#: Samples processed per inner step: bounds every workspace independently of the batch size.
CHUNK = 32

BatchTransform = Callable[[np.ndarray, np.random.Generator], None]


def _check_batch(xb: Any, name: str = "xb") -> np.ndarray:
    if not isinstance(xb, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(xb).__name__}")
    if xb.dtype != np.float32:
        raise TypeError(f"{name} must be float32, got {xb.dtype}")
    if not xb.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (transforms work in place)")
    if not xb.flags.writeable:
        raise ValueError(f"{name} must be writeable (transforms work in place)")
    if xb.ndim < 1:
        raise ValueError(f"{name} must have a batch dimension, got shape {xb.shape}")
    return xb


def _planes_of(shape: tuple[int, ...], what: str) -> tuple[int, int, int, int]:
    """(N, C, H, W) of an NCHW or NHW batch shape."""
    if len(shape) == 4:
        n, c, h, w = shape
    elif len(shape) == 3:
        (n, h, w), c = shape, 1
    else:
        raise ValueError(f"{what} needs images laid out (N, C, H, W) or (N, H, W), got shape {shape}")
    return n, c, h, w


def _planes(xb: np.ndarray, what: str) -> tuple[int, int, int, int]:
    return _planes_of(xb.shape, what)


def _number(name: str, value: Any, *, minimum: Optional[float] = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


class Transform:
    """Base class of the batch transforms: ``t(xb, rng)`` rewrites ``xb`` in place."""

    def prepare(self, shape: Sequence[int]) -> None:
        """Make the workspace for batches up to ``shape`` (the largest batch: N first).

        Optional: a transform called on a batch it has no workspace for makes it then."""

    def __call__(self, xb: np.ndarray, rng: np.random.Generator) -> None:
        raise NotImplementedError


class Compose(Transform):
    """Apply ``transforms`` in order, each in place on the same batch."""

    def __init__(self, transforms: Iterable[BatchTransform]) -> None:
        ts = list(transforms)
        for i, t in enumerate(ts):
            if not callable(t):
                raise TypeError(f"transforms[{i}] must be callable as t(xb, rng), got {type(t).__name__}")
        self.transforms = ts

    def prepare(self, shape: Sequence[int]) -> None:
        for t in self.transforms:
            prep = getattr(t, "prepare", None)
            if prep is not None:
                prep(shape)

    def __call__(self, xb: np.ndarray, rng: np.random.Generator) -> None:
        for t in self.transforms:
            t(xb, rng)

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class Normalize(Transform):
    """``x = (x - mean) / std``, with scalars or one value per channel (axis 1).

    Args:
        mean: a number, or a sequence with one value per channel.
        std: a positive number, or a sequence with one positive value per channel.
    """

    def __init__(self, mean: Union[float, Sequence[float]], std: Union[float, Sequence[float]]) -> None:
        m = np.asarray(mean, dtype=np.float64)
        s = np.asarray(std, dtype=np.float64)
        if m.ndim > 1 or s.ndim > 1:
            raise ValueError("mean and std must be numbers or 1-D sequences (one value per channel)")
        if m.size == 0 or s.size == 0:
            raise ValueError("mean and std must not be empty")
        if not np.all(np.isfinite(m)):
            raise ValueError(f"mean must be finite, got {mean!r}")
        if not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise ValueError(f"std must be finite and positive, got {std!r}")
        if m.size > 1 and s.size > 1 and m.size != s.size:
            raise ValueError(f"mean has {m.size} channels but std has {s.size}")
        self.channels = max(m.size, s.size)
        self.mean = np.broadcast_to(m.reshape(-1), (self.channels,)).astype(np.float32)
        self.std = np.broadcast_to(s.reshape(-1), (self.channels,)).astype(np.float32)
        self._sample_shape: Optional[tuple[int, ...]] = None
        self._mean_ws: Optional[np.ndarray] = None  # (rows, sample size): mean, channel by channel
        self._std_ws: Optional[np.ndarray] = None

    def prepare(self, shape: Sequence[int]) -> None:
        shape = tuple(int(d) for d in shape)
        if self.channels == 1:
            return  # scalars: nothing to precompute
        if len(shape) < 2 or shape[1] != self.channels:
            raise ValueError(
                f"Normalize has {self.channels} channel values but batches of shape {shape} "
                f"have {shape[1] if len(shape) > 1 else 'no'} channels on axis 1"
            )
        rows = max(1, min(CHUNK, shape[0]))
        sample = shape[1:]
        per_channel = int(np.prod(sample[1:], dtype=np.int64))
        m = np.repeat(self.mean, per_channel).reshape(1, -1)
        s = np.repeat(self.std, per_channel).reshape(1, -1)
        self._mean_ws = np.ascontiguousarray(np.broadcast_to(m, (rows, m.shape[1])))
        self._std_ws = np.ascontiguousarray(np.broadcast_to(s, (rows, s.shape[1])))
        self._sample_shape = sample

    def __call__(self, xb: np.ndarray, rng: Optional[np.random.Generator] = None) -> None:
        xb = _check_batch(xb)
        if self.channels == 1:
            np.subtract(xb, float(self.mean[0]), out=xb)
            np.divide(xb, float(self.std[0]), out=xb)
            return
        n = xb.shape[0]
        if (self._sample_shape != xb.shape[1:] or self._mean_ws is None
                or self._mean_ws.shape[0] < min(CHUNK, n)):
            self.prepare(xb.shape)
        mw, sw = self._mean_ws, self._std_ws
        assert mw is not None and sw is not None
        x2 = xb.reshape(n, -1)
        rows = mw.shape[0]
        for s in range(0, n, rows):
            blk = x2[s:s + rows]
            k = blk.shape[0]
            np.subtract(blk, mw[:k], out=blk)
            np.divide(blk, sw[:k], out=blk)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class GaussianNoise(Transform):
    """Add independent ``N(0, std²)`` noise to every element.

    Args:
        std: standard deviation of the noise (>= 0; 0 leaves the batch unchanged).
    """

    def __init__(self, std: float) -> None:
        self.std = _number("std", std, minimum=0.0)
        self._ws: Optional[np.ndarray] = None

    def prepare(self, shape: Sequence[int]) -> None:
        shape = tuple(int(d) for d in shape)
        rows = max(1, min(CHUNK, shape[0]))
        size = int(np.prod(shape[1:], dtype=np.int64))
        self._ws = np.empty((rows, size), np.float32)

    def __call__(self, xb: np.ndarray, rng: np.random.Generator) -> None:
        xb = _check_batch(xb)
        if self.std == 0.0:
            return
        n = xb.shape[0]
        size = xb.size // n if n else 0
        ws = self._ws
        if ws is None or ws.shape[1] != size or ws.shape[0] < min(CHUNK, n):
            self.prepare(xb.shape)
            ws = self._ws
        assert ws is not None
        x2 = xb.reshape(n, -1)
        rows = ws.shape[0]
        for s in range(0, n, rows):
            blk = x2[s:s + rows]
            w = ws[:blk.shape[0]]
            rng.standard_normal(out=w, dtype=np.float32)
            np.multiply(w, self.std, out=w)
            np.add(blk, w, out=blk)

    def __repr__(self) -> str:
        return f"GaussianNoise(std={self.std})"


class _Gather(Transform):
    """Shared machinery of the geometric transforms: a zero-padded copy of up to ``CHUNK``
    samples' planes, and per-plane rows of coefficients that ``np.dot`` turns into source
    coordinates for every pixel (a broadcast without numpy's broadcasting machinery, which
    allocates an iterator per call).

    The slices of the workspace for a chunk of ``k`` planes are made once per ``k`` and kept
    (a batch has at most two chunk sizes): numpy keeps only a few freed dimension buffers
    for reuse, so making a dozen views per chunk would go back to the heap every batch."""

    _geometry: Optional[tuple[int, int, int]] = None  # (C, H, W) the workspace is made for
    _MAX_CACHED_VIEWS = 8

    def _pads(self, h: int, w: int) -> tuple[int, int]:
        raise NotImplementedError

    def _make(self, planes: int, c: int, h: int, w: int) -> None:
        raise NotImplementedError

    def _slices(self, kc: int) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def prepare(self, shape: Sequence[int]) -> None:
        shape = tuple(int(d) for d in shape)
        n, c, h, w = _planes_of(shape, type(self).__name__)
        samples = max(1, min(CHUNK, n))
        py, px = self._pads(h, w)
        hp, wp = h + 2 * py, w + 2 * px
        self._samples = samples
        self._c, self._h, self._w, self._py, self._px, self._hp, self._wp = c, h, w, py, px, hp, wp
        self._pad = np.zeros((samples, c, hp, wp), np.float32)  # borders stay zero for good
        self._pad_flat = self._pad.reshape(-1)
        self._inner = self._pad[:, :, py:py + h, px:px + w]
        planes = samples * c
        # Plane p = (sample i, channel ch) starts at row p * hp of the stacked padded planes.
        self._plane_rows = np.arange(planes, dtype=np.float64) * hp
        self._rep = np.repeat(np.arange(samples, dtype=np.intp), c)  # plane -> sample
        self._spread = np.empty(planes, np.float64)
        self._params = np.empty(max(n, 1), np.float64)
        self._params2 = np.empty(max(n, 1), np.float64)
        self._views: dict[int, tuple[np.ndarray, ...]] = {}
        self._make(planes, c, h, w)
        self._geometry = (c, h, w)

    def _ensure(self, xb: np.ndarray) -> tuple[int, int, int, int]:
        n, c, h, w = _planes(xb, type(self).__name__)
        if self._geometry != (c, h, w):
            self.prepare((n, c, h, w))
        elif self._samples < min(CHUNK, n) or self._params.shape[0] < n:
            self.prepare((max(n, self._params.shape[0]), c, h, w))
        return n, c, h, w

    def _chunk_views(self, k: int) -> tuple[np.ndarray, ...]:
        """(inner pad of k samples, then the subclass's slices for k * C planes)."""
        v = self._views.get(k)
        if v is None:
            v = (self._inner[:k], self._rep[:k * self._c], self._spread[:k * self._c]) + self._slices(k * self._c)
            if len(self._views) < self._MAX_CACHED_VIEWS:
                self._views[k] = v
        return v

    def _per_plane(self, values: np.ndarray, rep: np.ndarray, spread: np.ndarray,
                   out_col: np.ndarray) -> None:
        """out_col[p] = values[sample of plane p] (values: this chunk's per-sample values)."""
        if self._c == 1:
            np.copyto(out_col, values)
        else:
            np.take(values, rep, out=spread, mode="clip")
            np.copyto(out_col, spread)


class RandomShift(_Gather):
    """Shift each sample by its own random whole number of pixels, filling with zeros.

    Each sample moves by ``(dy, dx)`` drawn uniformly from ``[-max_pixels, max_pixels]``
    (down / right positive): ``out[..., y, x] = in[..., y - dy, x - dx]``, zero where that
    falls outside the image.

    Args:
        max_pixels: the largest shift along each axis (>= 0).
    """

    def __init__(self, max_pixels: int) -> None:
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral):
            raise TypeError(f"max_pixels must be an int, got {type(max_pixels).__name__}")
        if max_pixels < 0:
            raise ValueError(f"max_pixels must be >= 0, got {max_pixels}")
        self.max_pixels = int(max_pixels)

    def _pads(self, h: int, w: int) -> tuple[int, int]:
        return self.max_pixels, self.max_pixels

    def _make(self, planes: int, c: int, h: int, w: int) -> None:
        py, px, wp = self._py, self._px, self._wp
        yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
        # flat index in the padded stack = plane offset - dy * wp - dx + grid
        self._basis = np.stack([np.ones(h * w), ((yy + py) * wp + (xx + px)).reshape(-1)])
        self._coef = np.ones((planes, 2), np.float64)
        self._off = np.empty(planes, np.float64)
        self._tmp = np.empty(planes, np.float64)
        self._flat = np.empty((planes, h * w), np.float64)
        self._idx = np.empty((planes, h * w), np.intp)
        self._plane_offsets = self._plane_rows * wp

    def _slices(self, kc: int) -> tuple[np.ndarray, ...]:
        return (self._off[:kc], self._tmp[:kc], self._plane_offsets[:kc], self._coef[:kc],
                self._coef[:kc, 0], self._flat[:kc], self._idx[:kc])

    def __call__(self, xb: np.ndarray, rng: np.random.Generator) -> None:
        xb = _check_batch(xb)
        n, *_ = self._ensure(xb)
        m = self.max_pixels
        dy, dx = self._params[:n], self._params2[:n]
        for d in (dy, dx):
            rng.random(out=d)
            np.multiply(d, 2 * m + 1, out=d)
            np.floor(d, out=d)
            np.subtract(d, m, out=d)
        self._apply(xb, dy, dx)

    def apply(self, xb: np.ndarray, dy: Any, dx: Any) -> None:
        """Shift sample ``i`` of ``xb`` by ``(dy[i], dx[i])`` pixels, in place (the
        deterministic core of the transform; ``|dy|, |dx| <= max_pixels``)."""
        xb = _check_batch(xb)
        n, *_ = self._ensure(xb)
        dyv = np.asarray(dy, dtype=np.float64).reshape(-1)
        dxv = np.asarray(dx, dtype=np.float64).reshape(-1)
        for name, v in (("dy", dyv), ("dx", dxv)):
            if v.shape != (n,):
                raise ValueError(f"{name} must have one value per sample ({n}), got {v.shape[0]}")
            if np.any(v != np.round(v)) or np.any(np.abs(v) > self.max_pixels):
                raise ValueError(f"{name} must hold whole numbers in [-{self.max_pixels}, {self.max_pixels}]")
        self._apply(xb, np.ascontiguousarray(dyv), np.ascontiguousarray(dxv))

    def _apply(self, xb: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> None:
        n, c, h, w = _planes(xb, "RandomShift")
        if self.max_pixels == 0 or n == 0:
            return
        x4 = xb.reshape(n, c, h, w)
        out = xb.reshape(n * c, h * w)
        wp, S = self._wp, self._samples
        for s in range(0, n, S):
            k = min(S, n - s)
            inner, rep, spread, off, tmp, plane_off, coef, coef_off, flat, idx = self._chunk_views(k)
            np.copyto(inner, x4[s:s + k])
            self._per_plane(dy[s:s + k], rep, spread, off)
            np.multiply(off, -wp, out=off)
            np.add(off, plane_off, out=off)
            self._per_plane(dx[s:s + k], rep, spread, tmp)
            np.subtract(off, tmp, out=off)
            np.copyto(coef_off, off)
            np.dot(coef, self._basis, out=flat)
            np.copyto(idx, flat, casting="unsafe")
            np.take(self._pad_flat, idx, out=out[s * c:(s + k) * c], mode="clip")

    def __repr__(self) -> str:
        return f"RandomShift(max_pixels={self.max_pixels})"


class RandomRotation(_Gather):
    """Rotate each sample about its centre by its own random angle, filling with zeros.

    Angles are drawn uniformly from ``[-max_degrees, max_degrees]`` (or ``[lo, hi]`` given a
    pair); positive is counter-clockwise as the image is displayed (row 0 on top), the
    convention of ``np.rot90``: a rotation by 90 degrees equals ``np.rot90(x, axes=(-2, -1))``
    on square images. The centre is ``((H - 1) / 2, (W - 1) / 2)``. Interpolation is bilinear
    (pixels outside the image count as zero) or nearest.

    Args:
        max_degrees: the largest angle in degrees (>= 0), or a ``(lo, hi)`` range.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
    """

    def __init__(self, max_degrees: Union[float, tuple[float, float]], *,
                 interpolation: str = "bilinear") -> None:
        if isinstance(max_degrees, (tuple, list)):
            if len(max_degrees) != 2:
                raise ValueError(f"max_degrees as a range must be (lo, hi), got {max_degrees!r}")
            lo = _number("max_degrees[0]", max_degrees[0])
            hi = _number("max_degrees[1]", max_degrees[1])
            if hi < lo:
                raise ValueError(f"max_degrees range must have lo <= hi, got {max_degrees!r}")
        else:
            d = _number("max_degrees", max_degrees, minimum=0.0)
            lo, hi = -d, d
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
        self.degrees = (lo, hi)
        self.interpolation = interpolation

    def _pads(self, h: int, w: int) -> tuple[int, int]:
        # Any angle maps the image into the disc of the corner radius about the centre; two
        # more pixels keep every bilinear neighbour inside the padded plane (no clipping).
        cy, cx = (h - 1) / 2, (w - 1) / 2
        r = math.hypot(cy, cx)
        return int(math.ceil(r - cy)) + 2, int(math.ceil(r - cx)) + 2

    def _make(self, planes: int, c: int, h: int, w: int) -> None:
        cy, cx = (h - 1) / 2, (w - 1) / 2
        yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
        p = h * w
        self._basis = np.stack([(yy - cy).reshape(-1), (xx - cx).reshape(-1), np.ones(p)])
        # Source row (in the stacked padded planes) =  cos*u + sin*v + plane row + pad + cy
        # source column                             = -sin*u + cos*v + pad + cx
        self._coef_y = np.empty((planes, 3), np.float64)
        self._coef_y[:, 2] = self._plane_rows + self._py + cy
        self._coef_x = np.empty((planes, 3), np.float64)
        self._coef_x[:, 2] = self._px + cx
        self._cos = np.empty(self._params.shape[0], np.float64)
        self._sin = np.empty(self._params.shape[0], np.float64)
        self._tmp = np.empty(planes, np.float64)
        self._ys = np.empty((planes, p), np.float64)
        self._xs = np.empty((planes, p), np.float64)
        self._idx = self._xs.view(np.intp)  # xs is spent (copied to weights) before idx is set
        if self.interpolation == "bilinear":
            self._fy = np.empty((planes, p), np.float64)
            self._fx = np.empty((planes, p), np.float64)
            self._idx2 = self._ys.view(np.intp)  # likewise ys
            self._wy = np.empty((planes, p), np.float32)
            self._wx = np.empty((planes, p), np.float32)
            self._g = np.empty((3, planes, p), np.float32)

    def _slices(self, kc: int) -> tuple[np.ndarray, ...]:
        cy_, cx_ = self._coef_y[:kc], self._coef_x[:kc]
        common = (cy_, cx_, cy_[:, 0], cy_[:, 1], cx_[:, 0], cx_[:, 1], self._tmp[:kc],
                  self._ys[:kc], self._xs[:kc], self._idx[:kc])
        if self.interpolation != "bilinear":
            return common
        return common + (self._fy[:kc], self._fx[:kc], self._wy[:kc], self._wx[:kc],
                         self._idx2[:kc], self._g[0, :kc], self._g[1, :kc], self._g[2, :kc])

    def __call__(self, xb: np.ndarray, rng: np.random.Generator) -> None:
        xb = _check_batch(xb)
        n, *_ = self._ensure(xb)
        lo, hi = self.degrees
        a = self._params[:n]
        rng.random(out=a)
        np.multiply(a, hi - lo, out=a)
        np.add(a, lo, out=a)
        self._apply(xb, a)

    def apply(self, xb: np.ndarray, degrees: Any) -> None:
        """Rotate sample ``i`` of ``xb`` by ``degrees[i]`` in place (the deterministic core of
        the transform; any angles)."""
        xb = _check_batch(xb)
        n, *_ = self._ensure(xb)
        a = np.asarray(degrees, dtype=np.float64).reshape(-1)
        if a.shape != (n,):
            raise ValueError(f"degrees must have one value per sample ({n}), got {a.shape[0]}")
        if not np.all(np.isfinite(a)):
            raise ValueError("degrees must be finite")
        np.copyto(self._params[:n], a)
        self._apply(xb, self._params[:n])

    def _apply(self, xb: np.ndarray, degrees: np.ndarray) -> None:
        n, c, h, w = _planes(xb, "RandomRotation")
        if n == 0:
            return
        rad = degrees  # converted in place: callers pass the transform's own buffer
        np.multiply(rad, math.pi / 180.0, out=rad)
        cos, sin = self._cos[:n], self._sin[:n]
        np.cos(rad, out=cos)
        np.sin(rad, out=sin)
        x4 = xb.reshape(n, c, h, w)
        out = xb.reshape(n * c, h * w)
        wp, S, pad, basis = self._wp, self._samples, self._pad_flat, self._basis
        bilinear = self.interpolation == "bilinear"
        for s in range(0, n, S):
            k = min(S, n - s)
            v = self._chunk_views(k)
            inner, rep, spread, cy_, cx_, cy_cos, cy_sin, cx_nsin, cx_cos, tmp, ys, xs, idx = v[:13]
            np.copyto(inner, x4[s:s + k])
            self._per_plane(cos[s:s + k], rep, spread, cy_cos)
            self._per_plane(cos[s:s + k], rep, spread, cx_cos)
            self._per_plane(sin[s:s + k], rep, spread, cy_sin)
            np.negative(cy_sin, out=tmp)
            np.copyto(cx_nsin, tmp)
            np.dot(cy_, basis, out=ys)
            np.dot(cx_, basis, out=xs)
            dst = out[s * c:(s + k) * c]
            if not bilinear:
                np.rint(ys, out=ys)
                np.rint(xs, out=xs)
                np.multiply(ys, wp, out=ys)
                np.add(ys, xs, out=ys)
                np.copyto(idx, ys, casting="unsafe")
                np.take(pad, idx, out=dst, mode="clip")
                continue
            fy, fx, wy, wx, idx2, g0, g1, g2 = v[13:]
            np.floor(ys, out=fy)
            np.subtract(ys, fy, out=ys)
            np.copyto(wy, ys, casting="same_kind")
            np.floor(xs, out=fx)
            np.subtract(xs, fx, out=xs)
            np.copyto(wx, xs, casting="same_kind")
            np.multiply(fy, wp, out=fy)
            np.add(fy, fx, out=fy)
            np.copyto(idx, fy, casting="unsafe")  # top-left neighbour, flat
            # top = g(y0, x0) + wx * (g(y0, x0 + 1) - g(y0, x0))
            np.take(pad, idx, out=g0, mode="clip")
            np.add(idx, 1, out=idx2)
            np.take(pad, idx2, out=g1, mode="clip")
            np.subtract(g1, g0, out=g1)
            np.multiply(g1, wx, out=g1)
            np.add(g0, g1, out=g0)
            # bottom = g(y0 + 1, x0) + wx * (g(y0 + 1, x0 + 1) - g(y0 + 1, x0))
            np.add(idx, wp, out=idx2)
            np.take(pad, idx2, out=g1, mode="clip")
            np.add(idx, wp + 1, out=idx2)
            np.take(pad, idx2, out=g2, mode="clip")
            np.subtract(g2, g1, out=g2)
            np.multiply(g2, wx, out=g2)
            np.add(g1, g2, out=g1)
            # out = top + wy * (bottom - top)
            np.subtract(g1, g0, out=g1)
            np.multiply(g1, wy, out=g1)
            np.add(g0, g1, out=dst)

    def __repr__(self) -> str:
        lo, hi = self.degrees
        return f"RandomRotation(({lo}, {hi}), interpolation={self.interpolation!r})"
