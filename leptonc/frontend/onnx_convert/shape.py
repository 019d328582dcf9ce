"""Converters for ONNX shape and data-movement ops."""

from __future__ import annotations

import numpy as np

from leptonc.frontend.onnx_convert import NodeContext, converter


@converter("Reshape")
def reshape(cx: NodeContext):
    if cx.opset < 5:
        shape = cx.const(np.array(cx.attr("shape"), dtype=np.int64), name="shape")
        return [cx.op("shape.reshape", [cx.input(0), shape])]
    return [cx.op("shape.reshape", cx.inputs[:2], {"allowzero": bool(cx.attr("allowzero", 0))})]


@converter("Transpose")
def transpose(cx: NodeContext):
    rank = cx.input(0).type.rank
    perm = cx.attr("perm", tuple(reversed(range(rank))) if rank is not None else None)
    if perm is None:
        cx.unsupported("Transpose without perm needs a known rank")
    return [cx.op("shape.transpose", [cx.input(0)], {"perm": perm})]


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
