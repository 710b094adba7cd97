"""Data for training: a prefetching batch :class:`Loader` over pooled, reused buffers, in-place
batch transforms that allocate nothing per batch, and small datasets / file readers.

    from frugalnn.data import Loader, load_digits28, transforms as T

    (x, y), _ = load_digits28()
    aug = T.Compose([T.RandomRotation(10), T.RandomShift(2), T.GaussianNoise(0.05)])
    for xb, yb in Loader(x, y, 64, transform=aug, seed=0):
        ...  # xb is valid until the next batch is asked for: xb.copy() keeps it

This directory also holds the package's data files (``digits_cnn.npz``, ``digit_samples.npz``,
``digits28.npz``).
"""
from . import transforms
from .batch_size import suggest_batch_size
from .datasets import load_digits, load_digits28, load_idx, load_mnist, load_npz
from .loader import Loader
from .transforms import Compose, GaussianNoise, Normalize, RandomRotation, RandomShift, Transform

__all__ = [
    "Compose",
    "GaussianNoise",
    "Loader",
    "Normalize",
    "RandomRotation",
    "RandomShift",
    "Transform",
    "load_digits",
    "load_digits28",
    "load_idx",
    "load_mnist",
    "load_npz",
    "suggest_batch_size",
    "transforms",
]
