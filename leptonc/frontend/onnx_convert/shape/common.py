"""Helpers the shape converters share: int-list parameters that become attributes when
constant, trimming of omitted inputs, and static shape arithmetic."""

from __future__ import annotations

import numpy as np

from leptonc.errors import ShapeError
from leptonc.frontend.onnx_convert import NodeContext
from leptonc.ir.graph import Value
from leptonc.ir.types import Dim
from leptonc.ops.registry import get_op


# ----- inputs and outputs -------------------------------------------------------------------------
def as_list(result) -> list[Value]:
    """``cx.op``'s result (one Value or a tuple of them) as a list of outputs."""
    return list(result) if isinstance(result, tuple) else [result]


# ----- int-list parameters ------------------------------------------------------------------------
def ints_attrs(cx: NodeContext, *keys: str) -> dict:
    """The node's int-list attributes ``keys`` that are present, as tuples."""
    return {key: tuple(cx.attr(key)) for key in keys if cx.has_attr(key)}


def ints_or_input(cx: NodeContext, index: int, key: str, attrs: dict) -> Value | None:
    """A constant int-list input goes into ``attrs[key]``; one computed at run time is
    returned, to become the canonical op's tensor input."""
    v = cx.input(index)
    if v is None:
        return None
    if v.is_constant:
        attrs[key] = tuple(int(i) for i in np.asarray(v.data).reshape(-1))
        return None
    return v


def scalar_or_input(cx: NodeContext, index: int, key: str, attrs: dict) -> Value | None:
    """``ints_or_input`` for a parameter that holds a single int."""
    runtime = ints_or_input(cx, index, key, attrs)
    if key in attrs:
        if len(attrs[key]) != 1:
            raise ShapeError(f"node '{cx.name}' ({cx.op_type}): {key} must be a single value, "
                             f"got {list(attrs[key])}")
        attrs[key] = attrs[key][0]
    return runtime


def ints_param_op(cx: NodeContext, op: str, key: str, attrs: dict | None = None, *,
                  data: Value | None = None, index: int = 1, from_attribute: bool = False):
    """``op`` on ``data`` (default: input 0) with its int-list parameter ``key`` taken from the
    ONNX attribute ``key`` (``from_attribute``: older opsets) or from input ``index``."""
    attrs = {} if attrs is None else attrs
    data = cx.input(0) if data is None else data
    if from_attribute:
        return cx.op(op, [data], attrs | ints_attrs(cx, key))
    runtime = ints_or_input(cx, index, key, attrs)
    return cx.op(op, [data, runtime], attrs)


# ----- static shape arithmetic --------------------------------------------------------------------
def _shape_dims(v: Value) -> list[Dim] | None:
    """The dims a ``shape.shape`` result holds (static, symbolic or unknown), else None."""
    node = v.producer
    if node is None or node.op != "shape.shape" or node.inputs[0].type.shape is None:
        return None
    return list(node.inputs[0].type.shape[node.attr("start"):node.attr("end")])


def static_shape_part(op: str, data: Value, attrs: dict, *rest: Value | None) -> np.ndarray | None:
    """``op`` (gather or slice) applied now to the dims of a ``shape.shape`` result, when every
    dim it picks is static."""
    dims = _shape_dims(data)
    if dims is None or any(v is not None and not v.is_constant for v in rest):
        return None
    opdef = get_op(op)
    args = [np.array(dims, dtype=object)] + [None if v is None else v.data for v in rest]
    try:
        picked = np.asarray(opdef.kernel(args, opdef.with_defaults(attrs)))
    except IndexError as e:
        raise ShapeError(f"{op} of a shape: {e}") from None
    if not all(isinstance(d, int) for d in picked.reshape(-1)):
        return None
    return picked.astype(np.int64)


def shape_of(cx: NodeContext, x: Value, start: int = 0, end: int | None = None) -> Value:
    """``x``'s shape (dims start..end) as i64: a constant when those dims are static."""
    dims = None if x.type.shape is None else x.type.shape[start:end]
    if dims is not None and all(isinstance(d, int) for d in dims):
        return cx.const(np.array(dims, dtype=np.int64), name="shape")
    attrs = {"start": start} if start else {}
    if end is not None:
        attrs["end"] = end
    return cx.op("shape.shape", [x], attrs)
