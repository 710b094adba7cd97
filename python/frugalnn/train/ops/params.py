"""Training copies of a layer's arrays: the layer's own array when it can be updated in
place (no copy, the graph holds the trained values as training goes), else a copy written
back after training. ``transform`` / ``inverse`` convert between the layer's layout and the
one the kernels want (Conv2d: OIHW <-> OHWI)."""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from .base import Param


class LayerParam(Param):
    """A Param tied to ``layer.<attr>``."""

    def __init__(self, layer: Any, attr: str, value: np.ndarray,
                 to_layer: Optional[Callable[[np.ndarray], np.ndarray]] = None,
                 from_layer: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> None:
        super().__init__(f"{layer.name}.{attr}", value)
        self.layer, self.attr = layer, attr
        self.to_layer, self.from_layer = to_layer, from_layer

    @property
    def shared(self) -> bool:
        return getattr(self.layer, self.attr) is self.value

    def write_back(self) -> None:
        if self.shared:
            return
        v = self.value if self.to_layer is None else self.to_layer(self.value)
        setattr(self.layer, self.attr, np.ascontiguousarray(v, np.float32).copy())

    def load(self) -> None:
        if self.shared:
            return
        src = getattr(self.layer, self.attr)
        np.copyto(self.value, src if self.from_layer is None else self.from_layer(src))


def own_param(layer: Any, attr: str, to_layer=None, from_layer=None) -> LayerParam:
    """The Param of ``layer.<attr>``: the array itself when it is a writeable float32
    C-contiguous array and no layout change is needed, else a converted copy."""
    a = getattr(layer, attr)
    if from_layer is None and a.flags.writeable and a.flags.c_contiguous and a.dtype == np.float32:
        return LayerParam(layer, attr, a)
    v = a if from_layer is None else from_layer(a)
    return LayerParam(layer, attr, np.ascontiguousarray(v, np.float32).copy(), to_layer, from_layer)
