"""Constant folding for load_onnx, under a budget.

A node whose inputs are all constants is evaluated at import by onnx's reference
evaluator. Left unbounded, that is a way to hang the process or to exhaust memory from a
few bytes of model (``Loop`` with trip count 2^62, ``ConstantOfShape([2^40])``). The
evaluation is bounded three ways:

* By inspection, before a node runs, at the top level and inside Loop / If / Scan bodies
  alike. The evaluator is subclassed so that every node's implementation is wrapped. The
  output size is computed from the input shapes and values and the attributes, with Python
  integers. It is exact for broadcasting ops, Concat, Gather and MatMul. It is exact or an
  upper bound for the ops whose size comes from values (ConstantOfShape, Tile, Expand,
  Range, Pad, Resize, OneHot, window functions). For other ops it is a generous bound
  (product of the input sizes and attribute values). A Loop's trip count must be a
  constant of at most ``MAX_LOOP_TRIPS``, and a Loop without one is refused. Ops whose
  output size the budget does not model are not folded.
* By accounting: every node's outputs (and every subgraph run's outputs, which is what a
  Loop accumulates) count against ``MAX_FOLD_ELEMS`` per tensor and ``MAX_FOLD_TOTAL`` per
  model.
* By wall clock, as a backstop: ``FOLD_SECONDS`` for all folds of one model, checked before
  every node and subgraph run and, through a profile hook on the folding thread, inside
  the reference implementations' Python loops.

Past any of these, the fold stops with :class:`FoldRefused` (a ValueError); the importer
names the node.
"""
from __future__ import annotations

import contextvars
import functools
import math
import sys
import time
from typing import Any, Optional, Sequence

import numpy as np

MAX_FOLD_ELEMS = 1 << 26   # values of one tensor a fold may produce
MAX_FOLD_TOTAL = 1 << 27   # values all folds of one model may produce, intermediates included
MAX_FOLD_WORK = 1 << 32    # multiply-adds of one node (MatMul, Gemm, Einsum, convolutions...)
MAX_LOOP_TRIPS = 1 << 14   # iterations of one folded Loop
MAX_GEOMETRY = 1 << 16     # any integer attribute of an op whose size the budget bounds generically
FOLD_SECONDS = 10.0        # wall clock for all folds of one model

# Ops whose output size follows from input values in ways not modeled here: not folded.
UNBOUNDED_OPS = frozenset({"DFT", "STFT", "MelWeightMatrix", "AffineGrid", "ImageDecoder", "Col2Im",
                           "CenterCropPad", "MaxUnpool"})
_BROADCAST = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum", "Equal", "Less",
                        "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Where", "BitwiseAnd",
                        "BitwiseOr", "BitwiseXor", "Mod", "PRelu", "BitShift"})
# Outputs no larger than the largest input (times its rank, for NonZero's indices).
_NO_LARGER = frozenset({
    "Abs", "Neg", "Sqrt", "Exp", "Log", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Tanh",
    "Asinh", "Acosh", "Atanh", "Erf", "Sigmoid", "Relu", "Floor", "Ceil", "Round", "Sign", "Not", "Reciprocal",
    "IsNaN", "IsInf", "Cast", "CastLike", "Identity", "Softmax", "LogSoftmax", "Hardmax", "Clip", "Transpose",
    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Slice", "Split", "Shape", "Size", "ReduceSum", "ReduceMean",
    "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
    "ReduceSumSquare", "ArgMax", "ArgMin", "CumSum", "Trilu", "ScatterND", "ScatterElements", "Scatter",
    "GatherElements", "Compress", "NonZero", "Dropout", "QuantizeLinear", "DequantizeLinear", "DepthToSpace",
    "SpaceToDepth", "ReverseSequence", "Shrink", "Celu", "Elu", "Selu", "LeakyRelu", "HardSigmoid", "HardSwish",
    "Mish", "Softplus", "Softsign", "ThresholdedRelu", "Gelu", "BitwiseNot", "Det", "Unique", "TopK",
    "LayerNormalization", "BatchNormalization", "InstanceNormalization", "GroupNormalization",
    "MeanVarianceNormalization", "LpNormalization", "If", "Scan", "Optional", "OptionalGetElement",
    "OptionalHasElement", "SequenceConstruct", "SequenceAt", "SequenceLength", "SequenceEmpty",
    "SequenceErase", "SplitToSequence", "EyeLike"})


class FoldRefused(ValueError):
    """A constant fold past the budget (the importer adds the node's name)."""


class _OutOfTime(BaseException):
    """Raised from the profile hook: a BaseException, so that the reference
    implementations' ``except Exception`` blocks cannot swallow it."""


class FoldBudget:
    """What is left of one model's folding budget (load_onnx makes one per model)."""

    def __init__(self) -> None:
        self.total = 0
        self.seconds_left = FOLD_SECONDS
        self.deadline = math.inf

    # -- checks the wrapped evaluator calls ---------------------------------------------

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise FoldRefused(f"constant folding took more than its {FOLD_SECONDS:g} s budget")

    def before(self, node: Any, args: Sequence[Any]) -> None:
        """Refuse ``node`` (a NodeProto) on ``args`` before it runs when its output would be
        too large, its work too long, or its size is not modeled."""
        self.tick()
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            return  # run only inside functions of the model: accounted for afterwards
        if op in UNBOUNDED_OPS:
            raise FoldRefused(f"{op} is not evaluated at import: its output size depends on its input "
                              "values in ways the folding budget does not bound")
        out, work = _bound(node, [a for a in args])
        what = f"{op}{f' node {node.name!r}' if node.name else ''}"
        if out > MAX_FOLD_ELEMS:
            raise FoldRefused(f"folding {what} would produce {out} values, more than the {MAX_FOLD_ELEMS} "
                              "(2^26) allowed per constant")
        if work > MAX_FOLD_WORK:
            raise FoldRefused(f"folding {what} would take {work} operations, more than the {MAX_FOLD_WORK} "
                              "(2^32) allowed")

    def after(self, outputs: Any) -> None:
        """Charge produced values to the budget."""
        for v in outputs if isinstance(outputs, (list, tuple)) else (outputs,):
            n = _size(v)
            if n > MAX_FOLD_ELEMS:
                raise FoldRefused(f"a folded value has {n} elements, more than the {MAX_FOLD_ELEMS} (2^26) "
                                  "allowed per constant")
            self.total += n
        if self.total > MAX_FOLD_TOTAL:
            raise FoldRefused(f"constant folding produced more than {MAX_FOLD_TOTAL} (2^27) values in all")


_current: contextvars.ContextVar[Optional[FoldBudget]] = contextvars.ContextVar("fnn_fold_budget", default=None)


def evaluate(onnx: Any, node: Any, opset_imports: Sequence[Any], inputs: dict[str, np.ndarray],
             budget: FoldBudget) -> list[Any]:
    """The outputs of ``node`` (all of whose inputs are the constants ``inputs``), computed by
    onnx's reference evaluator under ``budget``.

    Raises:
        FoldRefused: past the budget (before the node runs whenever the inspection can tell).
        Exception: whatever the evaluator raises for a node it cannot compute.
    """
    budget.before(node, [inputs[i] if i else None for i in node.input])
    helper = onnx.helper
    names = [i for i in node.input if i]
    outs = [o for o in node.output if o]
    g = helper.make_graph([node], "fold", [helper.make_empty_tensor_value_info(n) for n in dict.fromkeys(names)],
                          [helper.make_empty_tensor_value_info(o) for o in outs])
    m = helper.make_model(g, opset_imports=list(opset_imports))
    start = time.monotonic()
    budget.deadline = start + budget.seconds_left
    token = _current.set(budget)
    hooked = sys.getprofile() is None  # never displace a profiler the caller runs
    try:
        if hooked:
            sys.setprofile(_profile_hook(budget.deadline))
        return _evaluator_class()(m).run(None, {n: inputs[n] for n in names})
    except _OutOfTime:
        raise FoldRefused(f"constant folding took more than its {FOLD_SECONDS:g} s budget") from None
    finally:
        if hooked:
            sys.setprofile(None)
        _current.reset(token)
        budget.seconds_left -= time.monotonic() - start
        budget.deadline = math.inf


def _profile_hook(deadline: float) -> Any:
    count = 0

    def hook(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        count += 1
        if not count & 255 and time.monotonic() > deadline:
            raise _OutOfTime
    return hook


def _budget() -> FoldBudget:
    b = _current.get()
    if b is None:  # an evaluator built by this module runs only inside evaluate()
        raise RuntimeError("folding evaluator used outside onnx_fold.evaluate")
    return b


@functools.lru_cache(maxsize=None)
def _evaluator_class() -> type:
    from onnx.reference import ReferenceEvaluator

    class BudgetedEvaluator(ReferenceEvaluator):
        """The reference evaluator with every node implementation wrapped by _guarded.
        Subgraphs (Loop / If / Scan bodies) are built with this class as well, because
        the evaluator passes its own class down to them."""

        def _load_impl(self, node: Any, input_types: Any = None) -> Any:
            return _guarded(super()._load_impl(node, input_types))

        def run(self, *args: Any, **kwargs: Any) -> Any:
            b = _budget()
            b.tick()
            out = super().run(*args, **kwargs)
            b.after(out if isinstance(out, list) else list(out.values()))
            return out

    return BudgetedEvaluator


@functools.lru_cache(maxsize=None)
def _guarded(cl: Any) -> Any:
    """``cl`` (an OpRun class) with its run checked before and accounted after."""
    if not isinstance(cl, type):
        return cl

    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        b = _budget()
        b.before(self.onnx_node, args)
        out = cl.run(self, *args, **kwargs)
        b.after(out)
        return out

    return type(cl.__name__, (cl,), {"run": run, "__module__": cl.__module__, "__qualname__": cl.__qualname__})


# ---------------------------------------------------------------------------------------
# Size bounds by inspection


def _prod(values: Any) -> int:
    """The product of non-negative ints, saturated just past 2^64: a crafted list of many
    large values must not grow a huge integer (any result past the caps is refused anyway)."""
    p = 1
    for v in values:
        p = min(p * v, _SATURATED)
    return p


_SATURATED = (1 << 64) + 1


def _size(v: Any) -> int:
    if isinstance(v, np.ndarray):
        return int(v.size)
    if isinstance(v, (list, tuple)):
        return sum(_size(x) for x in v)
    return 1


def _shape(v: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in v.shape) if isinstance(v, np.ndarray) else ()


def _ints(v: Any) -> list[int]:
    """An integer tensor's values as Python ints ([] when it is not one)."""
    if not isinstance(v, np.ndarray) or v.dtype.kind not in "iu" or v.size > 64:
        return []
    return [int(x) for x in v.reshape(-1)]


def _attr(node: Any, name: str) -> Any:
    for a in node.attribute:
        if a.name == name:
            from onnx import helper

            return helper.get_attribute_value(a)
    return None


def _broadcast(shapes: Sequence[tuple[int, ...]]) -> int:
    rank = max((len(s) for s in shapes), default=0)
    dims = [1] * rank
    for s in shapes:
        for i, d in enumerate(s):
            j = rank - len(s) + i
            dims[j] = max(dims[j], d)
    return _prod(dims)


def _product_of_values(v: Any, what: str) -> int:
    vals = _ints(v)
    if isinstance(v, np.ndarray) and v.size and not vals:
        raise FoldRefused(f"{what} must be a short integer tensor")
    return _prod(max(x, 0) for x in vals)


def _bound(node: Any, args: list[Any]) -> tuple[int, int]:
    """(an upper bound of the values the node outputs, of its work) from its inputs."""
    op = node.op_type
    sizes = [_size(a) for a in args if a is not None]
    largest = max(sizes, default=1)
    if op in _NO_LARGER:
        rank = max((len(_shape(a)) for a in args), default=1)
        return largest * max(rank, 1), largest * max(rank, 1)
    if op in _BROADCAST:
        n = _broadcast([_shape(a) for a in args if a is not None])
        return n, n
    if op in ("Concat", "ConcatFromSequence", "SequenceInsert"):
        return sum(sizes), sum(sizes)
    rule = _VALUE_RULES.get(op)
    if rule is not None:
        n = rule(node, args)
        return n, n
    if op in ("MatMul", "MatMulInteger", "Gemm", "QLinearMatMul"):
        return _matmul(op, node, args)
    if op == "Gather":
        return _gather(node, args)
    if op == "Loop":
        return _loop(args)
    # Anything else: a generous bound from the inputs and the integer attributes.
    bound = _prod(max(s, 1) for s in sizes)
    for a in node.attribute:
        for v in ([a.i] if a.type == a.INT else list(a.ints) if a.type == a.INTS else []):
            if abs(v) > MAX_GEOMETRY:
                raise FoldRefused(f"{op} attribute '{a.name}' = {v} is past 2^16, the largest value "
                                  "constant folding evaluates")
            bound = min(bound * max(abs(v), 1), _SATURATED)
    return bound, bound * largest


def _matmul(op: str, node: Any, args: list[Any]) -> tuple[int, int]:
    a, b = (args[0], args[3]) if op == "QLinearMatMul" else (args[0], args[1])
    sa, sb = list(_shape(a)), list(_shape(b))
    if op == "Gemm":
        if len(sa) != 2 or len(sb) != 2:
            return 0, 0  # the evaluator refuses it
        if _attr(node, "transA"):
            sa.reverse()
        if _attr(node, "transB"):
            sb.reverse()
    if not sa or not sb:
        return 0, 0
    if len(sa) == 1:
        sa = [1] + sa
    if len(sb) == 1:
        sb = sb + [1]
    k = sa[-1]
    out = _broadcast([tuple(sa[:-2]), tuple(sb[:-2])]) * sa[-2] * sb[-1]
    return out, out * k


def _gather(node: Any, args: list[Any]) -> tuple[int, int]:
    data, indices = _shape(args[0]), _size(args[1]) if len(args) > 1 else 0
    axis = _attr(node, "axis") or 0
    if not data or not -len(data) <= axis < len(data):
        return 0, 0
    axis %= len(data)
    n = _prod(data[:axis]) * indices * _prod(data[axis + 1:])
    return n, n


def _loop(args: list[Any]) -> tuple[int, int]:
    m = args[0] if args else None
    trips = _ints(m)
    if m is None or len(trips) != 1:
        raise FoldRefused("a Loop without a constant trip count (M) is not evaluated at import")
    if trips[0] > MAX_LOOP_TRIPS:
        raise FoldRefused(f"a Loop of {trips[0]} iterations is not evaluated at import (at most "
                          f"{MAX_LOOP_TRIPS})")
    return 0, 0  # the body's nodes and outputs are checked as they run


def _constant_of_shape(node: Any, args: list[Any]) -> int:
    return _product_of_values(args[0], "the shape") if args else 0


def _tile(node: Any, args: list[Any]) -> int:
    return _size(args[0]) * _product_of_values(args[1], "repeats") if len(args) > 1 else 0


def _expand(node: Any, args: list[Any]) -> int:
    if len(args) < 2:
        return 0
    target = _ints(args[1])
    if isinstance(args[1], np.ndarray) and args[1].size and not target:
        raise FoldRefused("Expand's shape must be a short integer tensor")
    return _broadcast([_shape(args[0]), tuple(max(d, 0) for d in target)])


def _range(node: Any, args: list[Any]) -> int:
    try:
        start, limit, delta = (np.asarray(a).reshape(-1)[0].item() for a in args[:3])
    except (ValueError, IndexError, TypeError, AttributeError):
        return 0  # the evaluator refuses malformed inputs
    if isinstance(start, int) and isinstance(limit, int) and isinstance(delta, int):
        if delta == 0:
            raise FoldRefused("Range with delta 0 never ends")
        return max(-((start - limit) // delta), 0)
    try:
        n = math.ceil((float(limit) - float(start)) / float(delta))
    except (ZeroDivisionError, ValueError, OverflowError):
        raise FoldRefused(f"Range({start}, {limit}, {delta}) has no finite length") from None
    return max(n, 0)


def _pad(node: Any, args: list[Any]) -> int:
    pads = _ints(args[1]) if len(args) > 1 and args[1] is not None else list(_attr(node, "pads") or [])
    extra = sum(abs(p) for p in pads)
    return _prod(d + extra for d in _shape(args[0])) if args else 0


def _resize(node: Any, args: list[Any]) -> int:
    x = _shape(args[0]) if args else ()
    sizes = _ints(args[3]) if len(args) > 3 and args[3] is not None else []
    if sizes:
        return _prod(max(s, 0) for s in sizes) * (_prod(x) if len(sizes) < len(x) else 1)
    scales_in = [a for a in args[1:3] if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.size]
    scales = [float(s) for s in (scales_in[-1].reshape(-1) if scales_in else _attr(node, "scales") or [])]
    if not scales:
        return _prod(x)
    if not all(math.isfinite(s) and s >= 0 for s in scales) or len(scales) > len(x):
        raise FoldRefused(f"{node.op_type} scales {scales[:8]} are not finite non-negative factors")
    return _prod(math.ceil(d * s) + 1 for d, s in zip(x[len(x) - len(scales):], scales)) * _prod(
        x[:len(x) - len(scales)])


def _one_hot(node: Any, args: list[Any]) -> int:
    depth = args[1] if len(args) > 1 else None
    try:
        d = float(np.asarray(depth).reshape(-1)[0])
    except (ValueError, IndexError, TypeError):
        return 0
    if not math.isfinite(d):
        raise FoldRefused("OneHot depth is not finite")
    return _size(args[0]) * max(int(d), 0)


def _window(node: Any, args: list[Any]) -> int:
    n = _ints(args[0]) if args else []
    return max(n[0], 0) if len(n) == 1 else 0


_VALUE_RULES = {"ConstantOfShape": _constant_of_shape, "Tile": _tile, "Expand": _expand, "Range": _range,
                "Pad": _pad, "Resize": _resize, "Upsample": _resize, "OneHot": _one_hot,
                "HannWindow": _window, "HammingWindow": _window, "BlackmanWindow": _window}
