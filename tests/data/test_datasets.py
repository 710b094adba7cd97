"""Datasets and readers: scikit-learn digits (8x8 and 28x28), the packaged digits28 split,
IDX files (plain and gzip, valid and hostile) written here, MNIST pairing and .npz."""
import gzip
import importlib.util
import struct
import sys

import numpy as np
import pytest

import frugalnn
from frugalnn.data.datasets import load_digits, load_digits28, load_idx, load_mnist, load_npz

# ---------------------------------------------------------------------------- digits


def test_load_digits28_is_the_packaged_split_as_nchw():
    (x, y), (xt, yt) = load_digits28()
    assert x.shape == (1400, 1, 28, 28) and xt.shape == (397, 1, 28, 28)
    assert x.dtype == xt.dtype == np.float32 and y.dtype == yt.dtype == np.int64
    assert x.flags.c_contiguous and 0.0 <= x.min() and x.max() <= 1.0
    assert set(np.unique(y)) == set(range(10))
    raw = np.load(frugalnn.__file__.replace("__init__.py", "data/digits28.npz"))
    np.testing.assert_array_equal(x[:, 0], raw["x_train"][..., 0])  # NHWC -> NCHW, same pixels


def test_load_digits_8x8():
    pytest.importorskip("sklearn")
    x, y = load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0


def test_load_digits_28_upscales_4x_nearest_and_crops_the_centre():
    pytest.importorskip("sklearn")
    x8, _ = load_digits(8)
    x28, y = load_digits(28)
    assert x28.shape == (1797, 1, 28, 28)
    big = np.kron(x8[:, 0], np.ones((4, 4), np.float32))  # 32x32, nearest
    np.testing.assert_array_equal(x28[:, 0], big[:, 2:30, 2:30])
    # The packaged split holds exactly these images (shuffled).
    (xtr, ytr), (xte, yte) = load_digits28()
    packaged = {(a.tobytes(), int(b)) for a, b in zip(np.concatenate([xtr, xte]), np.concatenate([ytr, yte]))}
    ours = {(a.tobytes(), int(b)) for a, b in zip(x28, y)}
    assert packaged <= ours


def test_load_digits_split_is_seeded_and_disjoint():
    pytest.importorskip("sklearn")
    (x1, y1), (xt1, yt1) = load_digits(8, split=0.25)
    (x2, _), _ = load_digits(8, split=0.25)
    assert len(xt1) == round(1797 * 0.25) and len(x1) + len(xt1) == 1797
    np.testing.assert_array_equal(x1, x2)
    (x3, _), _ = load_digits(8, split=0.25, seed=1)
    assert not np.array_equal(x1, x3)


@pytest.mark.parametrize("kwargs", [dict(size=16), dict(size=True), dict(split=1.5), dict(split=0)])
def test_load_digits_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        load_digits(**kwargs)


def test_load_digits_without_scikit_learn_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import now fails
    with pytest.raises(ImportError, match="scikit-learn"):
        load_digits()


# ------------------------------------------------------------------------------- IDX


def idx_bytes(a: np.ndarray, code: int) -> bytes:
    big = a.astype(a.dtype.newbyteorder(">"))
    return bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + big.tobytes()


CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", list(CODES))
def test_idx_round_trip(tmp_path, dtype, compress):
    a = (np.random.default_rng(0).random((7, 5, 3)) * 100).astype(dtype)
    data = idx_bytes(a, CODES[dtype])
    p = tmp_path / "a.idx"
    p.write_bytes(gzip.compress(data) if compress else data)
    got = load_idx(p)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, a)


def test_idx_gzip_is_recognised_by_content_not_name(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    p = tmp_path / "labels.idx"  # no .gz suffix
    p.write_bytes(gzip.compress(idx_bytes(a, 0x08)))
    np.testing.assert_array_equal(load_idx(p), a)


def hostile_files():
    good = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4), 0x08)
    huge = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF) + b"\0" * 64
    return {
        "empty": b"",
        "short magic": b"\0\0",
        "wrong magic": b"\x12\x34" + good[2:],
        "unknown type": good[:2] + b"\x07" + good[3:],
        "zero dims": bytes([0, 0, 0x08, 0]),
        "too many dims": bytes([0, 0, 0x08, 200]) + b"\0" * 800,
        "dims cut": good[:9],
        "data truncated": good[:-1],
        "trailing bytes": good + b"\0",
        "huge dims": huge,
        "huge count 1-D": bytes([0, 0, 0x0E, 1]) + struct.pack(">I", 0xFFFFFFFF),
    }


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("name", list(hostile_files()))
def test_corrupt_idx_files_raise_value_error(tmp_path, name, compress):
    data = hostile_files()[name]
    p = tmp_path / "bad"
    p.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(ValueError):
        load_idx(p)


def test_corrupt_gzip_streams_raise_value_error(tmp_path):
    z = gzip.compress(idx_bytes(np.zeros((50, 50), np.uint8), 0x08))
    p = tmp_path / "bad.gz"
    p.write_bytes(z[: len(z) // 2])  # cut mid-stream
    with pytest.raises(ValueError):
        load_idx(p)
    p.write_bytes(z[:12] + bytes(b ^ 0xFF for b in z[12:40]) + z[40:])  # scrambled deflate data
    with pytest.raises(ValueError):
        load_idx(p)


def test_a_gzip_bomb_announcing_too_much_is_refused_before_reading(tmp_path):
    head = bytes([0, 0, 0x08, 1]) + struct.pack(">I", 1 << 31)
    p = tmp_path / "bomb.gz"
    p.write_bytes(gzip.compress(head + b"\0" * (1 << 20)))
    with pytest.raises(ValueError, match="max_bytes"):
        load_idx(p, max_bytes=1 << 30)
    with pytest.raises(ValueError, match="truncated"):  # allowed size: fails on the real length, no 2 GiB buffer
        load_idx(p)


def write_mnist(directory, kind, n, compress, dotted=False):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    sep = "." if dotted else "-"
    for stem, a in ((f"{kind}-images{sep}idx3-ubyte", images), (f"{kind}-labels{sep}idx1-ubyte", labels)):
        data = idx_bytes(a, 0x08)
        (directory / (stem + (".gz" if compress else ""))).write_bytes(gzip.compress(data) if compress else data)
    return images, labels


@pytest.mark.parametrize("compress, dotted", [(False, False), (True, False), (False, True)])
def test_load_mnist_pairs_images_and_labels(tmp_path, compress, dotted):
    images, labels = write_mnist(tmp_path, "t10k", 9, compress, dotted)
    x, y = load_mnist(tmp_path, "t10k")
    assert x.shape == (9, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x[:, 0], images / np.float32(255), rtol=1e-6)
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_errors(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        load_mnist(tmp_path, "test")
    with pytest.raises(FileNotFoundError):
        load_mnist(tmp_path, "train")
    write_mnist(tmp_path, "train", 5, False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, np.uint8), 0x08))
    with pytest.raises(ValueError, match="5 images but 4 labels"):
        load_mnist(tmp_path, "train")


def test_load_npz(tmp_path):
    p = tmp_path / "d.npz"
    x, y = np.ones((3, 2), np.float32), np.arange(3)
    np.savez(p, x=x, y=y, feats=x * 2)
    gx, gy = load_npz(p)
    np.testing.assert_array_equal(gx, x)
    np.testing.assert_array_equal(gy, y)
    np.testing.assert_array_equal(load_npz(p, x_key="feats", y_key=None), x * 2)
    with pytest.raises(KeyError, match="feats"):
        load_npz(p, y_key="labels")


# ---------------------------------------------------------------------------- package


def test_package_exports_the_public_names():
    # An editable install made before data/ became a package sees it as a namespace package
    # (until reinstalled), so load the __init__ itself rather than trust `import frugalnn.data`.
    init = frugalnn.__file__.replace("__init__.py", "data/__init__.py")
    spec = importlib.util.spec_from_file_location("frugalnn.data", init,
                                                  submodule_search_locations=[init[:-len("/__init__.py")]])
    mod = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("frugalnn.data")
    sys.modules["frugalnn.data"] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        if saved is not None:
            sys.modules["frugalnn.data"] = saved
    expected = {"Loader", "Compose", "GaussianNoise", "Normalize", "RandomRotation", "RandomShift",
                "Transform", "load_digits", "load_digits28", "load_idx", "load_mnist", "load_npz", "transforms"}
    assert expected <= set(mod.__all__)
    assert all(hasattr(mod, name) for name in mod.__all__)
