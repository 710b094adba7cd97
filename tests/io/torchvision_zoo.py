"""torchvision's classification builders for the zoo tests, importable beside the CPU torch.

torchvision's wheel registers fake (meta) kernels for its compiled detection ops at import;
against a torch build whose native torchvision ops do not load, ``register_fake`` raises
("operator torchvision::nms does not exist") and the import fails. The classification
builders are pure Python and need none of those ops, so the import tolerates exactly that.
"""
from __future__ import annotations

from typing import Any

import pytest


def import_torchvision() -> Any:
    """torchvision, or a pytest skip when it (or torch) is not installed."""
    torch = pytest.importorskip("torch")
    import torch.library as tl

    original = tl.register_fake

    def tolerant(op_name: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            register = original(op_name, *args, **kwargs)
        except RuntimeError:  # the operator itself is missing
            return lambda fn: fn

        def apply(fn: Any) -> Any:
            try:
                return register(fn)
            except RuntimeError:
                return fn
        return apply

    tl.register_fake = tolerant
    try:
        import torchvision
    except ImportError:
        pytest.skip("torchvision is not installed")
    finally:
        tl.register_fake = original
    del torch
    return torchvision
