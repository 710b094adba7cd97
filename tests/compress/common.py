"""Helpers of the compression tests."""
from __future__ import annotations

import numpy as np

from frugalnn.graph import Session


def accuracy(program, xt, yt) -> float:
    """Top-1 accuracy of a compiled program on (xt, yt)."""
    return float(np.mean(Session(program, max_batch=len(xt)).run(xt).argmax(1) == yt))
