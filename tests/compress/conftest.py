"""The document's CNN trained on digits-28, shared by the compression tests (a session-wide
fixture: trained once)."""
from __future__ import annotations

import pytest

from frugalnn import models


@pytest.fixture(scope="session")
def trained():
    """(graph, train x, (test x, test y)): 5 epochs, seed 0. Tests copy before changing it."""
    from frugalnn.data import load_digits28
    from frugalnn.train import fit

    (x, y), (xt, yt) = load_digits28()
    g = models.mnist_cnn()
    fit(g, (x, y), epochs=5, seed=0, progress=False)
    return g, x, (xt, yt)
