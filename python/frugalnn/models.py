"""Reference model graphs with He-initialized random weights (for demos, tests, benchmarks).

``mnist_cnn`` is the seed document's network; ``mlp`` the 784-512-256-10 perceptron. Bring
trained weights by building the same layers with your arrays.
"""
from __future__ import annotations

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
