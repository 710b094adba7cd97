"""The native step kinds through their typed parameters: each kind takes its own parameter
class and nothing else, and its check runs when the program is finished (set_io), for
compiled programs as for loaded ones."""
import numpy as np
import pytest

from frugalnn import _core
from frugalnn.ops import pack_weights


def test_kinds_are_listed_once_with_distinct_names():
    kinds = _core.step_kinds()
    assert len(kinds) == len(set(kinds)) >= 16
    assert {"conv2d", "dense", "quantize", "to_nhwc"} <= set(kinds)


def _program(kind, params, n_in=1, elems=8, **clamp):
    p = _core.Program()
    ins = [p.add_tensor(elems, True, -1) for _ in range(n_in)]
    y = p.add_tensor(elems, True, -1)
    p.add_step(kind, "s", ins, y, params, **clamp)
    p.set_io(ins, [y])
    return p


def test_unknown_kind_is_refused_at_once():
    p = _core.Program()
    x = p.add_tensor(4, True, -1)
    with pytest.raises(ValueError, match="unknown step kind 'gelu'"):
        p.add_step("gelu", "s", [x], x)


def test_parameters_of_another_kind_are_refused():
    with pytest.raises(ValueError, match=r"step 0 's' \(softmax\): has parameters of another kind"):
        _program("softmax", _core.ConcatParams(parts=[8]))
    with pytest.raises(ValueError, match=r"\(sigmoid\): has parameters its kind does not take"):
        _program("sigmoid", _core.SoftmaxParams(cols=8))
    with pytest.raises(ValueError, match=r"\(softmax\): has no parameters"):
        _program("softmax", None)


def test_a_clamp_on_a_kind_that_does_not_clamp_is_refused():
    _program("clamp", None, lo=0.0)
    with pytest.raises(ValueError, match=r"\(sigmoid\): clamps an output its kind does not clamp"):
        _program("sigmoid", None, lo=0.0)


def test_parameters_are_checked_against_the_tensors():
    _program("softmax", _core.SoftmaxParams(cols=4))
    with pytest.raises(ValueError, match="rows of cols values do not tile the tensor"):
        _program("softmax", _core.SoftmaxParams(cols=3))
    w = pack_weights(np.ones((8, 8), np.float32), "f32")
    _program("dense", _core.DenseParams(weights=w._core))
    with pytest.raises(ValueError, match=r"weights are 8 x 8, the step needs 8 x 4"):
        p = _core.Program()
        x, y = p.add_tensor(8, True, -1), p.add_tensor(4, True, -1)
        p.add_step("dense", "s", [x], y, _core.DenseParams(weights=w._core))
        p.set_io([x], [y])
    with pytest.raises(ValueError, match=r"\(layout|to_nhwc\).*overflowing count"):
        _program("to_nhwc", _core.LayoutParams(c=1 << 62, hw=1 << 3))


def test_geometry_is_named_and_keyword_only():
    g = _core.Conv2dGeometry(h=8, w=8, c=2, oh=8, ow=8, oc=4, kh=3, kw=3, pad_top=1, pad_left=1)
    assert (g.h, g.kh, g.sh, g.dh, g.groups) == (8, 3, 1, 1, 1)
    assert "pad_top=1" in repr(g)
    with pytest.raises(TypeError):
        _core.Conv2dGeometry(8, 8, 2, 8, 8, 4)  # positional: refused


def test_a_parameters_object_serves_one_step():
    # A step keeps state derived from its parameters (the int8 output stage, set when its
    # program is finished): two steps, or two programs, sharing one object would overwrite it.
    p = _core.Program()
    x, y, z = (p.add_tensor(8, True, -1) for _ in range(3))
    params = _core.SoftmaxParams(cols=8)
    p.add_step("softmax", "a", [x], y, params)
    with pytest.raises(ValueError, match="already belong to a step"):
        p.add_step("softmax", "b", [y], z, params)
    p.add_step("softmax", "b", [y], z, _core.SoftmaxParams(cols=8))
