"""Graphs: a functional builder (branches, Add, Concat) and Sequential for the common case.

    g = Graph()
    x = g.input("x", (1, 28, 28))                 # per-sample shape, NCHW; batch is dynamic
    h = Conv2d(w1, b1, padding="same", activation="relu")(x)
    y = Add()(h, Conv2d(w2, b2, padding="same")(h))
    g.output(y, "y")

    model = Sequential([Conv2d(...), ReLU(), MaxPool2d(2), Flatten(), Dense(...)],
                       input_shape=(1, 28, 28))
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import numpy as np

from .layers import GraphError, Layer, Shape
from .limits import check_shape, is_int

#: Graph input dtypes: float32, or 8-bit integers with a scale and zero point.
INPUT_DTYPES = ("float32", "uint8", "int8")
_ZERO_POINT_RANGE = {"uint8": (0, 255), "int8": (-128, 127)}


@dataclass(frozen=True)
class InputQuant:
    """How a uint8 / int8 graph input maps to real values: ``real = scale * (q - zero_point)``
    (computed in float32, as ONNX DequantizeLinear does)."""

    dtype: str         # "uint8" or "int8"
    scale: float       # a positive, finite float32
    zero_point: int    # in the dtype's range

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """The float32 values of ``q`` (an array of this dtype)."""
        return (np.asarray(q).astype(np.int32) - self.zero_point).astype(np.float32) * np.float32(self.scale)


def _input_quant(label: str, dtype, scale, zero_point) -> Optional[InputQuant]:
    """The checked quantization of an input declared with these arguments (None: float32)."""
    try:
        dt = np.dtype(dtype).name
    except TypeError:
        dt = None
    if dt not in INPUT_DTYPES:
        raise TypeError(f"{label}: dtype must be one of {INPUT_DTYPES}, got {dtype!r}")
    if dt == "float32":
        if scale is not None or zero_point is not None:
            raise ValueError(f"{label}: scale and zero_point describe uint8 / int8 inputs; a float32 input takes "
                             "neither")
        return None
    if scale is None:
        raise ValueError(f"{label}: a {dt} input needs its scale (real = scale * (q - zero_point)), "
                         "e.g. scale=1/255 for a camera frame in [0, 1]")
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise TypeError(f"{label}: scale must be a number, got {type(scale).__name__}")
    try:
        f = float(scale)
    except OverflowError:  # an int beyond float64
        f = math.inf
    with np.errstate(over="ignore", under="ignore"):
        s32 = np.float32(f)
    if not (math.isfinite(f) and f > 0 and np.isfinite(s32) and s32 > 0):
        raise ValueError(f"{label}: scale must be positive and finite in float32, got {scale!r}")
    zero_point = 0 if zero_point is None else zero_point
    if isinstance(zero_point, bool) or not is_int(zero_point):
        raise TypeError(f"{label}: zero_point must be an int, got {type(zero_point).__name__}")
    lo, hi = _ZERO_POINT_RANGE[dt]
    if not lo <= int(zero_point) <= hi:
        raise ValueError(f"{label}: zero_point of a {dt} input must be in [{lo}, {hi}], got {int(zero_point)}")
    return InputQuant(dt, float(s32), int(zero_point))


@dataclass
class Node:
    layer: Layer
    inputs: list[str]
    output: str


@dataclass
class Tensor:
    """A value of the graph being built (per-sample shape; the real values, float32, also of
    a uint8 / int8 input)."""

    graph: "Graph"
    name: str
    shape: Shape

    def __repr__(self) -> str:
        return f"Tensor({self.name!r}, shape={self.shape})"


@dataclass
class Graph:
    """Inputs, nodes in topological order (the order they were added) and outputs."""

    inputs: dict[str, Shape] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    shapes: dict[str, Shape] = field(default_factory=dict)
    #: The uint8 / int8 inputs' quantization, by name (float32 inputs are not listed).
    input_quant: dict[str, InputQuant] = field(default_factory=dict)

    def input(self, name: str, shape: Sequence[int], dtype: Union[str, type, np.dtype] = "float32", *,
              scale: Optional[float] = None, zero_point: Optional[int] = None) -> Tensor:
        """Declare an input: per-sample ``shape`` (the batch dimension is added), sizes in
        [1, 2^24], at most 2^40 values per sample (the native program's caps).

        ``dtype`` is ``"float32"`` (the default), or ``"uint8"`` / ``"int8"`` for quantized
        data such as camera frames, with ``real = scale * (q - zero_point)``: ``scale`` a
        positive finite float32 (required), ``zero_point`` in the dtype's range (default 0).
        The layers see the real values; a Session then takes arrays of exactly that dtype.
        An int8 (quantized) first layer whose input parameters are the input's (which it
        takes when it has no QuantParams) reads uint8 data as it is, int8 data after one
        byte pass (q + 128, zero point + 128: exact); otherwise the runtime converts the
        input to float32 once, at the start.
        """
        quant = _input_quant(f"input '{name}'", dtype, scale, zero_point)
        shape = check_shape(f"input '{name}'", shape)
        if name in self.shapes:
            raise GraphError(f"input '{name}': the name is taken")
        self.inputs[name] = shape
        self.shapes[name] = shape
        if quant is not None:
            self.input_quant[name] = quant
        return Tensor(self, name, shape)

    def input_args(self, name: str) -> dict:
        """The keyword arguments re-declaring input ``name`` elsewhere as it is here
        (``other.input(name, shape, **g.input_args(name))``): dtype, scale, zero point."""
        q = self.input_quant.get(name)
        return {} if q is None else {"dtype": q.dtype, "scale": q.scale, "zero_point": q.zero_point}

    def _add(self, layer: Layer, inputs: list[Tensor]) -> Tensor:
        if any(t.graph is not self for t in inputs):
            raise GraphError(f"{layer.name}: inputs come from different graphs")
        if layer.arity > 0 and len(inputs) != layer.arity:
            raise GraphError(f"{layer.name}: takes {layer.arity} input(s), got {len(inputs)}")
        if any(n.layer is layer for n in self.nodes):
            raise GraphError(f"{layer.name}: a layer object can be used once per graph (weights are not shared)")
        # Every layer's output is held to the caps here, once for all layer kinds.
        out_shape = check_shape(layer._label(), layer.infer([t.shape for t in inputs]), "output shape")
        name = layer.name
        if name in self.shapes:
            raise GraphError(f"{layer.name}: the name is taken")
        self.nodes.append(Node(layer, [t.name for t in inputs], name))
        self.shapes[name] = out_shape
        return Tensor(self, name, out_shape)

    def unused_name(self, base: str, taken: Union[set, frozenset] = frozenset()) -> str:
        """``base``, or ``base_2``, ``base_3`` ...: the first name no tensor of the graph and
        nothing in ``taken`` has (importers keep their model's names in ``taken``)."""
        name, k = base, 1
        while name in taken or name in self.shapes:
            k += 1
            name = f"{base}_{k}"
        return name

    def output(self, t: Tensor, name: Optional[str] = None) -> None:
        """Mark ``t`` as an output (``name`` defaults to the producing layer's name)."""
        if not isinstance(t, Tensor) or t.graph is not self:
            raise GraphError("output: pass a tensor of this graph")
        if t.name in self.outputs:
            raise GraphError(f"output: '{t.name}' is already an output")
        if name is not None and name != t.name:
            if name in self.shapes:
                raise GraphError(f"output: the name '{name}' is taken")
            self._rename(t.name, name)
            t.name = name
        self.outputs.append(t.name)

    def _rename(self, old: str, new: str) -> None:
        self.shapes[new] = self.shapes.pop(old)
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]
            if n.output == old:
                n.output = new
        if old in self.inputs:
            self.inputs = {(new if k == old else k): v for k, v in self.inputs.items()}
        if old in self.input_quant:
            self.input_quant[new] = self.input_quant.pop(old)

    def check(self) -> None:
        if not self.inputs:
            raise GraphError("the graph has no inputs")
        if not self.outputs:
            raise GraphError("the graph has no outputs: call graph.output(tensor)")

    def summary(self) -> str:
        lines = [f"input  {n}: {s}" + (f" {q.dtype} (scale {q.scale:g}, zero point {q.zero_point})"
                                       if (q := self.input_quant.get(n)) else "")
                 for n, s in self.inputs.items()]
        for n in self.nodes:
            lines.append(f"{type(n.layer).__name__:<14} {n.output}: {self.shapes[n.output]}  <- {', '.join(n.inputs)}")
        lines += [f"output {n}" for n in self.outputs]
        return "\n".join(lines)


def Sequential(layers: Sequence[Layer], *, input_shape: Sequence[int], input_name: str = "x",
               output_name: str = "y", input_dtype: Union[str, type, np.dtype] = "float32",
               input_scale: Optional[float] = None, input_zero_point: Optional[int] = None) -> Graph:
    """A graph that applies ``layers`` in order to one input (``input_dtype``, ``input_scale``
    and ``input_zero_point`` as :meth:`Graph.input` takes them)."""
    g = Graph()
    t = g.input(input_name, input_shape, input_dtype, scale=input_scale, zero_point=input_zero_point)
    for layer in layers:
        if not isinstance(layer, Layer):
            raise GraphError(f"Sequential: expected layers, got {type(layer).__name__}")
        t = layer(t)
    g.output(t, output_name)
    return g
