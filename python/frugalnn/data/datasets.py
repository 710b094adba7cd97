"""Small datasets and readers: scikit-learn's bundled digits, a fixed 28x28 digits split shipped
with the package, MNIST-format IDX files and ``.npz`` archives. Everything returns numpy arrays;
images come out NCHW float32 in [0, 1] and labels int64, ready for :class:`~frugalnn.data.Loader`.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Optional, Union

import numpy as np

__all__ = ["load_digits", "load_digits28", "load_idx", "load_mnist", "load_npz"]

PathLike = Union[str, "os.PathLike[str]"]
Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

_HERE = Path(__file__).resolve().parent


def load_digits(size: int = 8, *, split: Optional[float] = None,
                seed: int = 0) -> Union[tuple[np.ndarray, np.ndarray], Split]:
    """scikit-learn's bundled handwritten digits (1,797 images, no download).

    Args:
        size: 8 for the original 8x8 images, or 28 for MNIST-sized ones: each image upscaled
            4x (nearest, 32x32) and the centre 28x28 cropped.
        split: ``None`` returns everything; a fraction in (0, 1) holds that share out as a test
            set, after a shuffle seeded by ``seed``.
        seed: seed of that shuffle.

    Returns:
        ``(x, y)``, or ``((x_train, y_train), (x_test, y_test))`` with ``split``: ``x`` float32
        ``(N, 1, size, size)`` in [0, 1], ``y`` int64 in 0..9.

    Raises:
        ImportError: scikit-learn is not installed (it is an optional extra).
    """
    if size not in (8, 28) or isinstance(size, bool):
        raise ValueError(f"size must be 8 or 28, got {size!r}")
    if split is not None:
        if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 < split < 1:
            raise ValueError(f"split must be None or a fraction in (0, 1), got {split!r}")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError:
        raise ImportError(
            "frugalnn.data.load_digits needs scikit-learn, an optional extra (its digits ship "
            "with it, no download): pip install scikit-learn") from None
    d = _sk_load_digits()
    x = d.images.astype(np.float32) / np.float32(16.0)  # pixel values 0..16
    if size == 28:
        x = np.repeat(np.repeat(x, 4, axis=1), 4, axis=2)[:, 2:30, 2:30]
    x = np.ascontiguousarray(x[:, None])
    y = d.target.astype(np.int64)
    if split is None:
        return x, y
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, min(len(x) - 1, int(round(len(x) * split))))
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test])


def load_digits28() -> Split:
    """The fixed digits split that the project's peer models were trained on (scikit-learn
    digits upscaled 4x and cropped to 28x28, shipped in the package: no scikit-learn needed).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: 1,400 and 397 images, ``x`` float32
        ``(N, 1, 28, 28)`` in [0, 1], ``y`` int64.
    """
    with np.load(_HERE / "digits28.npz", allow_pickle=False) as f:
        out = []
        for part in ("train", "test"):
            x = f[f"x_{part}"]  # stored NHWC (N, 28, 28, 1), as Keras writes it
            out.append((np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32),
                        f[f"y_{part}"].astype(np.int64)))
    return out[0], out[1]


# IDX type codes (http://yann.lecun.com/exdb/mnist/): data are big-endian.
_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_MAX_DIMS = 16
_CHUNK = 1 << 20


def _read_exact(f: BinaryIO, n: int, what: str, path: PathLike) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ValueError(f"{path}: truncated IDX file (it ends inside the {what})")
    return data


def _idx_header(f: BinaryIO, path: PathLike) -> tuple[np.dtype, tuple[int, ...], int, int]:
    """(dtype, dims, payload bytes, header bytes), every field checked."""
    head = _read_exact(f, 4, "magic number", path)
    if head[0] != 0 or head[1] != 0:
        raise ValueError(f"{path}: not an IDX file (magic {head.hex()} does not start with 0000)")
    dtype = _IDX_TYPES.get(head[2])
    if dtype is None:
        raise ValueError(f"{path}: unknown IDX data type 0x{head[2]:02x} "
                         f"(expected one of {', '.join(f'0x{k:02x}' for k in _IDX_TYPES)})")
    ndim = head[3]
    if not 1 <= ndim <= _IDX_MAX_DIMS:
        raise ValueError(f"{path}: IDX files must have 1 to {_IDX_MAX_DIMS} dimensions, the header says {ndim}")
    dims = struct.unpack(f">{ndim}I", _read_exact(f, 4 * ndim, "dimension sizes", path))
    payload = math.prod(dims) * dtype.itemsize  # Python ints: no overflow
    return dtype, tuple(int(d) for d in dims), payload, 4 + 4 * ndim


def load_idx(path: PathLike, *, max_bytes: int = 1 << 32) -> np.ndarray:
    """Read an IDX file (the MNIST format), plain or gzip-compressed.

    Every header field is checked against the file before any data is read: the magic number,
    the type code, the number of dimensions, and the sizes, whose product must match the bytes
    that follow exactly. A corrupt, truncated or oversized file raises ``ValueError``; memory
    is never reserved for more data than the file holds.

    Args:
        path: the file; gzip is recognised by its magic bytes, not the name.
        max_bytes: refuse files whose header announces more data than this.

    Returns:
        An array of the file's shape and type (native byte order).
    """
    path = os.fspath(path)
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        if not gz:
            dtype, dims, payload, header = _idx_header(raw, path)
            size = os.fstat(raw.fileno()).st_size
            if payload > max_bytes:
                raise ValueError(f"{path}: the header announces {payload} bytes of data, more than "
                                 f"max_bytes={max_bytes}")
            if size != header + payload:
                what = "truncated" if size < header + payload else "has trailing bytes"
                raise ValueError(f"{path}: IDX file {what}: dimensions {dims} of {dtype.itemsize}-byte "
                                 f"values need {payload} data bytes, the file has {size - header}")
            out = np.empty(dims, dtype.newbyteorder("="))
            view = out.reshape(-1).view(np.uint8)
            got = raw.readinto(memoryview(view))  # type: ignore[attr-defined]
            if got != payload:
                raise ValueError(f"{path}: IDX file changed while being read")
            if dtype.byteorder == ">" and dtype.itemsize > 1:
                out.byteswap(inplace=True)
            return out
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                dtype, dims, payload, _ = _idx_header(f, path)
                if payload > max_bytes:
                    raise ValueError(f"{path}: the header announces {payload} bytes of data, more "
                                     f"than max_bytes={max_bytes}")
                buf = bytearray()
                while len(buf) <= payload:  # grows with the data actually there, never ahead of it
                    chunk = f.read(min(_CHUNK, payload + 1 - len(buf)))
                    if not chunk:
                        break
                    buf += chunk
        except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
            raise ValueError(f"{path}: corrupt gzip stream ({e})") from e
    if len(buf) != payload:
        what = "truncated" if len(buf) < payload else "has trailing bytes"
        raise ValueError(f"{path}: IDX data {what}: dimensions {dims} of {dtype.itemsize}-byte values "
                         f"need {payload} bytes, the stream has {'more' if len(buf) > payload else len(buf)}")
    arr = np.frombuffer(buf, dtype=dtype).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=dtype.itemsize > 1)


def _find(directory: Path, names: list[str]) -> Path:
    for name in names:
        for cand in (directory / name, directory / (name + ".gz")):
            if cand.is_file():
                return cand
    raise FileNotFoundError(f"none of {', '.join(names)} (or .gz) in {directory}")


def load_mnist(directory: PathLike, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST (or Fashion-MNIST, KMNIST …) from its IDX files in ``directory``.

    Looks for ``{kind}-images-idx3-ubyte`` and ``{kind}-labels-idx1-ubyte`` (also with ``.``
    before ``idx``, and ``.gz``).

    Args:
        directory: where the files are.
        kind: ``"train"`` or ``"t10k"``.

    Returns:
        ``(x, y)``: ``x`` float32 ``(N, 1, H, W)`` in [0, 1], ``y`` int64.
    """
    if kind not in ("train", "t10k"):
        raise ValueError(f"kind must be 'train' or 't10k', got {kind!r}")
    d = Path(directory)
    images = load_idx(_find(d, [f"{kind}-images-idx3-ubyte", f"{kind}-images.idx3-ubyte"]))
    labels = load_idx(_find(d, [f"{kind}-labels-idx1-ubyte", f"{kind}-labels.idx1-ubyte"]))
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"MNIST images must be a 3-D uint8 IDX file, got {images.ndim}-D {images.dtype}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"MNIST labels must be a 1-D uint8 IDX file, got {labels.ndim}-D {labels.dtype}")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    x = np.empty((images.shape[0], 1) + images.shape[1:], np.float32)
    np.multiply(images[:, None], np.float32(1 / 255), out=x)
    return x, labels.astype(np.int64)


def load_npz(path: PathLike, x_key: str = "x",
             y_key: Optional[str] = "y") -> Union[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Arrays from an ``.npz`` archive (no pickles).

    Returns:
        ``(x, y)``, or ``x`` alone when ``y_key`` is None.

    Raises:
        KeyError: a key is not in the archive (the message lists the keys there are).
    """
    with np.load(os.fspath(path), allow_pickle=False) as f:
        keys = [x_key] if y_key is None else [x_key, y_key]
        for k in keys:
            if k not in f.files:
                raise KeyError(f"{os.fspath(path)} has no array {k!r}; it holds {sorted(f.files)}")
        arrays = [f[k] for k in keys]
    return arrays[0] if y_key is None else (arrays[0], arrays[1])
