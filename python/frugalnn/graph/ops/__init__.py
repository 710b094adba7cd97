"""Ops defined in one module each: the layer, its lowering onto a native step, its reference
forward, and its ONNX import and export, registered where each is looked up. Every module of
this package is imported here, and the layers it lists in ``__all__`` become names of
:mod:`frugalnn.graph` (docs/adding-an-op.md walks through one)."""
from __future__ import annotations

import importlib
import pkgutil

from ..layers import Layer


def _load() -> dict[str, type]:
    layers: dict[str, type] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name in module.__all__:
            layer = getattr(module, name)
            assert isinstance(layer, type) and issubclass(layer, Layer), f"{info.name}.{name} is not a Layer"
            layers[name] = layer
    return layers


LAYERS = _load()
