"""Elementwise ops (``ew.*``): unary math, binary arithmetic with numpy broadcasting,
comparisons, logic, select, cast.

Most ops here differ only in their numpy function, so they are declared from tables.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.types import TensorType
from leptonc.ir import dtypes
from leptonc.ops.infer_utils import broadcast_shapes
from leptonc.ops.registry import attr, defop


def _register_unary(name: str, fn: Callable[[np.ndarray], np.ndarray], doc: str) -> None:
    @defop(f"ew.{name}", inputs="x", doc=doc)
    class _Unary:
        def infer(ins, attrs):
            t = ins[0].type
            return [TensorType(t.dtype, t.shape)]

        def kernel(xs, attrs):
            x = xs[0]
            return np.asarray(fn(x)).astype(x.dtype, copy=False)


def _register_binary(name: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray], doc: str,
                     result: dtypes.DType | None = None) -> None:
    """``result`` fixes the output dtype (bool for comparisons); else it is the inputs' dtype."""

    @defop(f"ew.{name}", inputs="a, b", doc=doc)
    class _Binary:
        def infer(ins, attrs):
            a, b = ins[0].type, ins[1].type
            if a.dtype != b.dtype:
                raise ShapeError(f"operand dtypes differ: {a.dtype} and {b.dtype}")
            return [TensorType(result or a.dtype, broadcast_shapes(a.shape, b.shape))]

        def kernel(xs, attrs):
            out = np.asarray(fn(xs[0], xs[1]))
            return out.astype(result.numpy if result else xs[0].dtype, copy=False)


_UNARY = {
    "neg": (np.negative, "-x"),
    "abs": (np.abs, "|x|"),
    "relu": (lambda x: np.maximum(x, np.zeros((), x.dtype)), "max(x, 0)"),
    "exp": (np.exp, "e^x"),
    "log": (np.log, "natural logarithm"),
    "sqrt": (np.sqrt, "square root"),
    "tanh": (np.tanh, "hyperbolic tangent"),
}

_BINARY = {
    "add": (np.add, "a + b"),
    "sub": (np.subtract, "a - b"),
    "mul": (np.multiply, "a * b"),
    "max": (np.maximum, "elementwise maximum (NaN propagates)"),
    "min": (np.minimum, "elementwise minimum (NaN propagates)"),
}

_COMPARE = {
    "equal": (np.equal, "a == b"),
    "less": (np.less, "a < b"),
    "greater": (np.greater, "a > b"),
}

for _name, (_fn, _doc) in _UNARY.items():
    _register_unary(_name, _fn, _doc)
for _name, (_fn, _doc) in _BINARY.items():
    _register_binary(_name, _fn, _doc)
for _name, (_fn, _doc) in _COMPARE.items():
    _register_binary(_name, _fn, _doc, result=dtypes.boolean)


@defop("ew.cast", inputs="x", attrs={"to": attr("dtype")},
       doc="convert to dtype `to` (float->int truncates toward zero, like ONNX Cast)")
class Cast:
    def infer(ins, attrs):
        return [TensorType(attrs["to"], ins[0].type.shape)]

    def kernel(xs, attrs):
        with np.errstate(invalid="ignore", over="ignore"):
            return xs[0].astype(attrs["to"].numpy)


@defop("ew.where", inputs="cond, a, b", doc="cond ? a : b, broadcast")
class Where:
    def infer(ins, attrs):
        c, a, b = (v.type for v in ins)
        if a.dtype != b.dtype:
            raise ShapeError(f"branch dtypes differ: {a.dtype} and {b.dtype}")
        return [TensorType(a.dtype, broadcast_shapes(c.shape, a.shape, b.shape))]

    def kernel(xs, attrs):
        return np.where(xs[0], xs[1], xs[2])
