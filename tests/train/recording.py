"""An optimizer that records each gradient it is handed and changes nothing: the gradients
of one training step, as the trainer computes them, in the layers' own layouts."""
from __future__ import annotations

import numpy as np

from frugalnn.train import Optimizer


class Recorder(Optimizer):
    def __init__(self) -> None:
        super().__init__(0.0, 0.0, None)
        self.grads: dict[str, np.ndarray] = {}

    def update(self, p) -> None:
        g = p.grad.copy()
        if getattr(p, "to_layer", None) is not None:
            g = np.ascontiguousarray(p.to_layer(g))
        self.grads[p.name] = g
