"""Converters that make values: Identity, Constant, ConstantOfShape, Range, Trilu, EyeLike."""

from __future__ import annotations

import numpy as np

from leptonc.errors import ShapeError
from leptonc.frontend.onnx import onnx_dtype
from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.frontend.onnx_convert.shape.common import (
    ints_param_op,
    scalar_or_input,
    shape_of,
)


# ----- constants ----------------------------------------------------------------------------------
@converter("Identity")
def identity(cx: NodeContext):
    return [cx.input(0)]


@converter("Constant")
def constant(cx: NodeContext):
    for key in ("value", "value_float", "value_int", "value_floats", "value_ints",
                "value_string", "value_strings"):
        if cx.has_attr(key):
            data = np.asarray(cx.attr(key))
            if key in ("value_float", "value_floats"):
                data = data.astype(np.float32)
            elif key in ("value_int", "value_ints"):
                data = data.astype(np.int64)
            elif key in ("value_string", "value_strings"):
                data = data.astype(object)
            return [cx.const(data, name="value")]
    cx.unsupported("Constant without a supported value attribute (sparse_value?)")


@converter("ConstantOfShape")
def constant_of_shape(cx: NodeContext):
    """A scalar broadcast to the shape (folds into a constant when the shape is constant)."""
    value = cx.attr("value")
    value = np.zeros((), np.float32) if value is None else np.asarray(value).reshape(())
    return [ints_param_op(cx, "shape.expand", "shape", data=cx.const(value, name="value"),
                          index=0)]


# ----- ranges and triangles -----------------------------------------------------------------------
@converter("Range")
def range_(cx: NodeContext):
    return [cx.op("shape.range", cx.inputs[:3])]


@converter("Trilu")
def trilu(cx: NodeContext):
    attrs: dict = {"upper": bool(cx.attr("upper", 1))}
    k = scalar_or_input(cx, 1, "k", attrs)
    return [cx.op("shape.trilu", [cx.input(0), k], attrs)]


@converter("EyeLike")
def eye_like(cx: NodeContext):
    """Ones on diagonal k: the upper triangle from k of the lower triangle to k of all-ones
    (a constant when the input's shape is static)."""
    x = cx.input(0)
    if x.type.rank is not None and x.type.rank != 2:
        raise ShapeError(f"node '{cx.name}' (EyeLike): input must be 2-D, got {x.type}")
    dtype = onnx_dtype(cx.attr("dtype"), f"EyeLike '{cx.name}'") if cx.has_attr(
        "dtype") else x.type.dtype
    k = cx.attr("k", 0)
    ones = cx.op("shape.expand", [cx.const(np.ones((), dtype.numpy), name="one"), shape_of(cx, x)])
    lower = cx.op("shape.trilu", [ones], {"k": k, "upper": False})
    return [cx.op("shape.trilu", [lower], {"k": k, "upper": True})]
