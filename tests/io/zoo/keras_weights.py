"""Weight stripping and regeneration for the Keras zoo in ``keras/`` (made by
tools/export_keras_zoo.py).

The zoo's models have random weights anyway (the tests compare frugalnn with onnxruntime on the
same file, not with trained accuracy), so their large float initializers are stored empty and
regenerated here: a 400-KiB MobileNet costs a few KiB in the repo. Each stripped tensor keeps
its dims and data_type; its doc_string holds a JSON recipe chosen from the node consuming it,
so that regenerated values keep activations O(1) through 50-layer nets and keep divisors
positive:

* ``{"regenerate": "weight", "fan_in_axes": [...]}``: a Conv / MatMul / Gemm weight, normal
  with standard deviation sqrt(2 / fan-in) (fan-in = product of those dims; the sqrt(2) makes
  up for the half that ReLU / ReLU6 / hard-swish zero: with 1 / sqrt(fan-in) the signal shrinks
  layer by layer until MobileNet's and EfficientNet's outputs no longer depend on the input);
* ``{"regenerate": "scale"}``: a per-channel multiplier or divisor (a BatchNorm scale that
  tf2onnx did not fold into the conv), uniform in [0.5, 1.5], never near zero;
* ``{"regenerate": "shift"}``: a bias or BatchNorm shift, normal with standard deviation 0.1.

Each tensor's generator is seeded from (seed, crc32 of its name), so values do not depend on the
order of the initializers. Needs numpy and onnx only.
"""
import json
import zlib

import numpy as np

KEY = "regenerate"
# Tensors up to this many elements keep their data: shape constants, small biases, the
# first conv's weights, and the like are where an exporter's quirks live.
MAX_KEPT = 256
_FLOAT = 1  # onnx.TensorProto.FLOAT


def _recipe(op: str, slot: int, dims: list, attrs: dict) -> dict:
    """What a stripped tensor feeding input ``slot`` of an ``op`` node is regenerated as."""
    if op in ("Conv", "ConvTranspose") and slot == 1:
        return {KEY: "weight", "fan_in_axes": list(range(1, len(dims)))}  # (O, I/group, kH, kW)
    if op == "MatMul" and slot == 1 and len(dims) == 2:
        return {KEY: "weight", "fan_in_axes": [0]}  # (K, N)
    if op == "Gemm" and slot == 1 and len(dims) == 2:
        return {KEY: "weight", "fan_in_axes": [1 if attrs.get("transB") else 0]}
    if op in ("Mul", "Div"):
        return {KEY: "scale"}
    if op in ("Add", "Sub") or (op in ("Conv", "Gemm") and slot == 2):
        return {KEY: "shift"}
    raise ValueError(f"no regeneration recipe for a {dims} tensor feeding input {slot} of {op}")


def strip(model, max_kept: int = MAX_KEPT):
    """Empties, in place, every float initializer of ``model`` with more than ``max_kept``
    elements, writing its recipe into its doc_string; returns ``model``. Raises ValueError if
    a stripped tensor's consumers disagree on a recipe or none has one."""
    from onnx import helper

    consumers = {}
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        for slot, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node.op_type, slot, attrs))
    for t in model.graph.initializer:
        if t.data_type != _FLOAT or int(np.prod(t.dims)) <= max_kept:
            continue
        recipes = {json.dumps(_recipe(op, slot, list(t.dims), attrs), sort_keys=True)
                   for op, slot, attrs in consumers.get(t.name, [])}
        if len(recipes) != 1:
            raise ValueError(f"initializer {t.name!r}: recipes {sorted(recipes)} (want exactly one)")
        t.ClearField("float_data")
        t.ClearField("raw_data")
        t.doc_string = recipes.pop()
    return model


def stripped(model) -> list:
    """The names of ``model``'s initializers waiting for ``restore``."""
    return [t.name for t in model.graph.initializer if KEY in _read(t.doc_string)]


def _read(doc: str) -> dict:
    try:
        recipe = json.loads(doc)
    except ValueError:
        return {}
    return recipe if isinstance(recipe, dict) else {}


def restore(model, seed: int = 0):
    """Fills, in place, every initializer that ``strip`` emptied (deterministically for a given
    ``seed``) and clears its recipe; returns ``model``."""
    for t in model.graph.initializer:
        recipe = _read(t.doc_string)
        if KEY not in recipe:
            continue
        dims = tuple(int(d) for d in t.dims)
        rng = np.random.default_rng([seed, zlib.crc32(t.name.encode())])
        kind = recipe[KEY]
        if kind == "weight":
            fan_in = int(np.prod([dims[a] for a in recipe["fan_in_axes"]]))
            values = rng.standard_normal(dims) * np.sqrt(2.0 / fan_in)
        elif kind == "scale":
            values = rng.uniform(0.5, 1.5, dims)
        elif kind == "shift":
            values = rng.standard_normal(dims) * 0.1
        else:
            raise ValueError(f"initializer {t.name!r}: unknown recipe {recipe}")
        t.raw_data = np.ascontiguousarray(values, dtype="<f4").tobytes()
        t.doc_string = ""
    return model
