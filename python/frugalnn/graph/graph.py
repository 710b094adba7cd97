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

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

from .layers import GraphError, Layer, Shape
from .limits import check_shape


@dataclass
class Node:
    layer: Layer
    inputs: list[str]
    output: str


@dataclass
class Tensor:
    """A value of the graph being built (per-sample shape, float32)."""

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

    def input(self, name: str, shape: Sequence[int]) -> Tensor:
        """Declare an input: float32, per-sample ``shape`` (the batch dimension is added):
        sizes in [1, 2^24], at most 2^40 values per sample (the native program's caps)."""
        shape = check_shape(f"input '{name}'", shape)
        if name in self.shapes:
            raise GraphError(f"input '{name}': the name is taken")
        self.inputs[name] = shape
        self.shapes[name] = shape
        return Tensor(self, name, shape)

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

    def check(self) -> None:
        if not self.inputs:
            raise GraphError("the graph has no inputs")
        if not self.outputs:
            raise GraphError("the graph has no outputs: call graph.output(tensor)")

    def summary(self) -> str:
        lines = [f"input  {n}: {s}" for n, s in self.inputs.items()]
        for n in self.nodes:
            lines.append(f"{type(n.layer).__name__:<14} {n.output}: {self.shapes[n.output]}  <- {', '.join(n.inputs)}")
        lines += [f"output {n}" for n in self.outputs]
        return "\n".join(lines)


def Sequential(layers: Sequence[Layer], *, input_shape: Sequence[int], input_name: str = "x",
               output_name: str = "y") -> Graph:
    """A graph that applies ``layers`` in order to one input."""
    g = Graph()
    t = g.input(input_name, input_shape)
    for layer in layers:
        if not isinstance(layer, Layer):
            raise GraphError(f"Sequential: expected layers, got {type(layer).__name__}")
        t = layer(t)
    g.output(t, output_name)
    return g
