"""Element-wise functions with up to two constants: LeakyRelu, Elu, Selu, Tanh, Gelu, Exp,
Log, Sqrt, Pow by a constant, SiLU, HardSigmoid, Softplus, Abs, Neg, Reciprocal, Erf. One
layer, ``Unary(fn, alpha, beta)``, and one native step kind, ``unary``, with a function code
(csrc/runtime/steps/unary.cc). ReLU / Clip, Sigmoid and HardSwish keep their own kinds. After a
Conv2d or Dense, each runs fused into its epilogue (compile's register_epilogue).

The ONNX importers are here too. SiLU is what exporters write as ``x * sigmoid(x)``: the
``Mul`` importer (graph/ops/broadcast.py) turns that pair into one ``Unary("silu")``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np

from ... import _core
from ...io.onnx_export import register_exporter
from ...io.onnx_import import _Importer, op
from ...io.onnx_values import Data, malformed, unsupported
from ...reference import register_forward
from ..compile import register_epilogue, register_lowering
from ..layers import GraphError, _Elementwise

__all__ = ["Unary"]


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _qdq(x: np.ndarray, scale: float, zero_point: float) -> np.ndarray:
    return (np.clip(np.rint(x / scale) + zero_point, 0, 255) - zero_point) * scale


def _expm1_neg(x: np.ndarray) -> np.ndarray:
    return np.expm1(np.minimum(x, 0))


# fn -> (step code of csrc/runtime/steps/unary.h's UnaryOp, float64 reference f(x, alpha, beta))
_FUNCTIONS: dict[str, tuple[int, Callable[[np.ndarray, float, float], np.ndarray]]] = {
    "leaky_relu": (0, lambda x, a, b: np.where(x < 0, a * x, x)),
    "elu": (1, lambda x, a, b: np.where(x < 0, a * _expm1_neg(x), x)),
    "tanh": (2, lambda x, a, b: np.tanh(x)),
    "gelu": (3, lambda x, a, b: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    "gelu_tanh": (4, lambda x, a, b: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    "exp": (5, lambda x, a, b: np.exp(x)),
    "log": (6, lambda x, a, b: np.log(x)),
    "sqrt": (7, lambda x, a, b: np.sqrt(x)),
    "pow": (8, lambda x, a, b: np.power(x, a)),
    "silu": (9, lambda x, a, b: x / (1 + np.exp(-x))),
    "hard_sigmoid": (10, lambda x, a, b: np.clip(a * x + b, 0, 1)),
    "softplus": (11, lambda x, a, b: np.logaddexp(0, x)),
    "abs": (12, lambda x, a, b: np.abs(x)),
    "neg": (13, lambda x, a, b: -x),
    "reciprocal": (14, lambda x, a, b: 1 / x),
    "erf": (15, lambda x, a, b: _erf(x)),
    "selu": (16, lambda x, a, b: b * np.where(x < 0, a * _expm1_neg(x), x)),
    "quantize_dequantize": (17, lambda x, a, b: _qdq(x, a, b)),
    # A QDQ model's SiLU: Sigmoid -> QuantizeLinear / DequantizeLinear -> Mul (import_mul).
    "silu_quantized_gate": (20, lambda x, a, b: x * _qdq(1 / (1 + np.exp(-x)), a, b)),
}


class Unary(_Elementwise):
    """``y = fn(x)`` element-wise, for ``fn`` in :data:`FUNCTIONS` with its constants:
    leaky_relu / elu (alpha: the negative slope / scale), pow (alpha: the exponent),
    hard_sigmoid (``clamp(alpha * x + beta, 0, 1)``), selu (alpha, beta = gamma),
    quantize_dequantize (alpha: the u8 scale, beta: the zero point; the value a QDQ pair
    carries to a float op), silu_quantized_gate (``x * quantize_dequantize(sigmoid(x))``, a
    QDQ model's SiLU, with the gate's scale and zero point)."""

    op = "unary"

    def __init__(self, fn: str, alpha: float = 0.0, beta: float = 0.0, *, name: Optional[str] = None) -> None:
        super().__init__(name)
        if fn not in _FUNCTIONS:
            raise GraphError(f"{self._label()}: fn must be one of {sorted(_FUNCTIONS)}, got {fn!r}")
        for what, v in (("alpha", alpha), ("beta", beta)):
            if not (isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v)):
                raise GraphError(f"{self._label()}: {what} must be a finite number, got {v!r}")
        if fn in ("quantize_dequantize", "silu_quantized_gate") and not (
                alpha > 0 and beta == int(beta) and 0 <= beta <= 255):
            raise GraphError(f"{self._label()}: {fn} needs a positive scale (alpha) and an integer "
                             f"zero point in [0, 255] (beta), got {alpha}, {beta}")
        self.fn, self.alpha, self.beta = fn, float(np.float32(alpha)), float(np.float32(beta))


FUNCTIONS = tuple(_FUNCTIONS)


@register_lowering(Unary)
def _lower(compiler, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
    params = _core.UnaryParams(op=_FUNCTIONS[layer.fn][0], alpha=layer.alpha, beta=layer.beta)
    compiler.core.add_step("unary", layer.name, [x], compiler.writes(out_name), params, lo=lo, hi=hi)


@register_epilogue(Unary)
def _epilogue(layer: Unary) -> tuple[int, float, float]:
    return _FUNCTIONS[layer.fn][0], layer.alpha, layer.beta


@register_forward("unary")
def _forward(xs, layer, out_shape):
    with np.errstate(all="ignore"):  # log(0), sqrt(-1), exp overflow: IEEE results, as the runtime's
        return _FUNCTIONS[layer.fn][1](np.asarray(xs[0], np.float64), layer.alpha, layer.beta)


# ---------------------------------------------------------------------------------------
# ONNX: import and export

# ONNX op -> (fn, {attribute: (parameter, default)})
_ONNX: dict[str, tuple[str, dict[str, tuple[str, float]]]] = {
    "LeakyRelu": ("leaky_relu", {"alpha": ("alpha", 0.01)}),
    "Elu": ("elu", {"alpha": ("alpha", 1.0)}),
    "Selu": ("selu", {"alpha": ("alpha", 1.67326319217681884765625), "gamma": ("beta", 1.05070102214813232421875)}),
    "HardSigmoid": ("hard_sigmoid", {"alpha": ("alpha", 0.2), "beta": ("beta", 0.5)}),
    "Tanh": ("tanh", {}), "Exp": ("exp", {}), "Log": ("log", {}), "Sqrt": ("sqrt", {}),
    "Softplus": ("softplus", {}), "Abs": ("abs", {}), "Neg": ("neg", {}), "Reciprocal": ("reciprocal", {}),
    "Erf": ("erf", {}),
}


def _importer(onnx_op: str, fn: str, attrs: dict[str, tuple[str, float]]):
    def imp_fn(imp: _Importer, node: Any, a: dict) -> None:
        x = imp.data(node, 0)
        params = {}
        for attr, (param, default) in attrs.items():
            v = float(a.get(attr, default))
            if not math.isfinite(v):
                raise malformed(node, f"{attr} must be finite, got {v}")
            params[param] = v
        imp.set(node.output[0], Data(imp.emit(node, Unary(fn, name=imp.name_for(node), **params), [x.tensor])))
    op(onnx_op, " ".join(f"{k}:f" for k in attrs))(imp_fn)


for _name, (_fn, _attrs) in _ONNX.items():
    _importer(_name, _fn, _attrs)


@op("Gelu", "approximate:s")
def _gelu(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    approx = a.get("approximate", b"none")
    approx = approx.decode() if isinstance(approx, bytes) else str(approx)
    if approx not in ("none", "tanh"):
        raise unsupported(node, f"approximate={approx!r}: only 'none' and 'tanh'")
    fn = "gelu" if approx == "none" else "gelu_tanh"
    imp.set(node.output[0], Data(imp.emit(node, Unary(fn, name=imp.name_for(node)), [x.tensor])))


def import_pow(imp: _Importer, node: Any, x: Data, exponent: np.ndarray) -> bool:
    """``x ** c`` for one constant exponent as a Unary; False for another exponent shape."""
    if exponent.size != 1 or exponent.ndim > imp.rank(x):
        return False
    e = float(exponent.reshape(-1)[0])
    if not math.isfinite(e):
        raise unsupported(node, f"exponent {e}: only finite exponents")
    fn, alpha = ("sqrt", 0.0) if e == 0.5 else ("pow", e)
    imp.set(node.output[0], Data(imp.emit(node, Unary(fn, alpha, name=imp.name_for(node)), [x.tensor])))
    return True


_ONNX_EXPORT = {"leaky_relu": ("LeakyRelu", ("alpha",)), "elu": ("Elu", ("alpha",)), "tanh": ("Tanh", ()),
                "exp": ("Exp", ()), "log": ("Log", ()), "sqrt": ("Sqrt", ()), "softplus": ("Softplus", ()),
                "abs": ("Abs", ()), "neg": ("Neg", ()), "reciprocal": ("Reciprocal", ()), "erf": ("Erf", ()),
                "hard_sigmoid": ("HardSigmoid", ("alpha", "beta"))}


@register_exporter(Unary)
def _export(ex: Any, layer: Unary, x: list, y: str) -> None:
    if layer.fn in _ONNX_EXPORT:
        op_type, attrs = _ONNX_EXPORT[layer.fn]
        ex.node(op_type, x, [y], **{k: getattr(layer, k) for k in attrs})
    elif layer.fn == "selu":
        ex.node("Selu", x, [y], alpha=layer.alpha, gamma=layer.beta)
    elif layer.fn == "pow":
        ex.node("Pow", [x[0], ex.const(f"{y}_exponent", np.array(layer.alpha, np.float32), scalar=True)], [y])
    elif layer.fn == "quantize_dequantize":
        scale = ex.const(f"{y}_scale", np.array(layer.alpha, np.float32), scalar=True)
        zp = ex.const(f"{y}_zero_point", np.array(int(layer.beta), np.uint8), scalar=True)
        ex.node("QuantizeLinear", [x[0], scale, zp], [f"{y}_q"])
        ex.node("DequantizeLinear", [f"{y}_q", scale, zp], [y])
    elif layer.fn == "silu":
        ex.node("Sigmoid", x, [f"{y}_sigmoid"])
        ex.node("Mul", [x[0], f"{y}_sigmoid"], [y])
    else:  # gelu, gelu_tanh: ONNX Gelu is opset 20; older opsets spell it out
        ex.node("Div", [x[0], ex.const(f"{y}_sqrt2", np.array(math.sqrt(2), np.float32), scalar=True)], [f"{y}_s"])
        if layer.fn == "gelu":
            ex.node("Erf", [f"{y}_s"], [f"{y}_erf"])
        else:
            raise NotImplementedError(f"{layer.name}: exporting gelu_tanh to ONNX is not supported")
        ex.node("Add", [f"{y}_erf", ex.const(f"{y}_one", np.array(1, np.float32), scalar=True)], [f"{y}_1p"])
        ex.node("Mul", [x[0], f"{y}_1p"], [f"{y}_x1p"])
        ex.node("Mul", [f"{y}_x1p", ex.const(f"{y}_half", np.array(0.5, np.float32), scalar=True)], [y])
