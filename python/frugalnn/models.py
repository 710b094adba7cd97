"""Reference model graphs (for demos, tests, benchmarks).

``mnist_cnn`` is the seed document's network and ``mlp`` the 784-512-256-10 perceptron, both
with He-initialized random weights (bring trained ones by building the same layers with your
arrays). ``digits_cnn(pretrained=True)`` is a small CNN with trained weights shipped in the
package, and ``digit_samples()`` held-out digits to run it on.
"""
from __future__ import annotations

import pathlib

import numpy as np

from .graph import Conv2d, Dense, Flatten, Graph, MaxPool2d, ReLU, Sequential, Softmax


def _he(rng: np.random.Generator, *shape: int) -> np.ndarray:
    fan_in = int(np.prod(shape[1:]))
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def _small(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.standard_normal(n) * 0.1).astype(np.float32)


def mnist_cnn(seed: int = 0) -> Graph:
    """1x28x28 -> conv 3x3 32 same + ReLU + maxpool 2 -> conv 3x3 64 same + ReLU + maxpool 2
    -> flatten -> dense 128 + ReLU -> dense 10 -> softmax (421,642 parameters)."""
    rng = np.random.default_rng(seed)
    return Sequential([
        Conv2d(_he(rng, 32, 1, 3, 3), _small(rng, 32), padding="same", name="conv1"), ReLU(), MaxPool2d(2),
        Conv2d(_he(rng, 64, 32, 3, 3), _small(rng, 64), padding="same", name="conv2"), ReLU(), MaxPool2d(2),
        Flatten(),
        Dense(_he(rng, 128, 64 * 7 * 7), _small(rng, 128), name="fc1"), ReLU(),
        Dense(_he(rng, 10, 128), _small(rng, 10), name="fc2"), Softmax(),
    ], input_shape=(1, 28, 28))


def mlp(seed: int = 1) -> Graph:
    """1x28x28 -> flatten -> 512 + ReLU -> 256 + ReLU -> 10 -> softmax."""
    rng = np.random.default_rng(seed)
    return Sequential([
        Flatten(),
        Dense(_he(rng, 512, 784), _small(rng, 512), activation="relu", name="fc1"),
        Dense(_he(rng, 256, 512), _small(rng, 256), activation="relu", name="fc2"),
        Dense(_he(rng, 10, 256), _small(rng, 10), name="fc3"), Softmax(),
    ], input_shape=(1, 28, 28))


_DATA = pathlib.Path(__file__).resolve().parent / "data"


def digits_cnn(pretrained: bool = True, seed: int = 0) -> Graph:
    """1x28x28 -> conv 3x3 8 same + ReLU + maxpool 2 -> conv 3x3 16 same + ReLU + maxpool 2
    -> flatten -> dense 64 + ReLU -> dense 10 -> softmax (52,138 parameters).

    ``pretrained=True``: the weights trained on scikit-learn's digits upscaled to 28x28
    (tools/train_digits.py; 95.5% on the 397 held-out digits), shipped as float16 (100 KB).
    ``pretrained=False``: He-initialized random weights from ``seed``.
    """
    if pretrained:
        with np.load(_DATA / "digits_cnn.npz") as f:
            w = {k: f[k].astype(np.float32) for k in f.files if k != "held_out_accuracy"}
    else:
        rng = np.random.default_rng(seed)
        w = {"conv1.weight": _he(rng, 8, 1, 3, 3), "conv1.bias": _small(rng, 8),
             "conv2.weight": _he(rng, 16, 8, 3, 3), "conv2.bias": _small(rng, 16),
             "fc1.weight": _he(rng, 64, 16 * 7 * 7), "fc1.bias": _small(rng, 64),
             "fc2.weight": _he(rng, 10, 64), "fc2.bias": _small(rng, 10)}
    return Sequential([
        Conv2d(w["conv1.weight"], w["conv1.bias"], padding="same", name="conv1"), ReLU(), MaxPool2d(2),
        Conv2d(w["conv2.weight"], w["conv2.bias"], padding="same", name="conv2"), ReLU(), MaxPool2d(2),
        Flatten(),
        Dense(w["fc1.weight"], w["fc1.bias"], name="fc1"), ReLU(),
        Dense(w["fc2.weight"], w["fc2.bias"], name="fc2"), Softmax(),
    ], input_shape=(1, 28, 28))


def digit_samples() -> tuple[np.ndarray, np.ndarray]:
    """32 held-out digits for :func:`digits_cnn`: (images float32 (32, 1, 28, 28) in [0, 1],
    labels int64 (32,))."""
    with np.load(_DATA / "digit_samples.npz") as f:
        return (f["images"].astype(np.float32) / 255.0), f["labels"].astype(np.int64)
