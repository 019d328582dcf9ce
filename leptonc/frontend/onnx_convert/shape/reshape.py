"""Converters for shape queries and reshaping: Shape, Size, Reshape, Flatten, Transpose,
Squeeze, Unsqueeze, DepthToSpace, SpaceToDepth."""

from __future__ import annotations

import math

import numpy as np

from leptonc.errors import ShapeError
from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.frontend.onnx_convert.shape.common import ints_param_op, shape_of
from leptonc.ir.graph import Value


@converter("Shape")
def shape(cx: NodeContext):
    return [shape_of(cx, cx.input(0), cx.attr("start", 0), cx.attr("end"))]


@converter("Size")
def size(cx: NodeContext):
    x = cx.input(0).type
    if x.is_static:
        return [cx.const(np.array(x.num_elements, dtype=np.int64), name="size")]
    return [cx.op("shape.size", [cx.input(0)])]


@converter("Reshape")
def reshape(cx: NodeContext):
    return [cx.op("shape.reshape", cx.inputs[:2], {"allowzero": bool(cx.attr("allowzero", 0))})]


@converter("Flatten")
def flatten(cx: NodeContext):
    x = cx.input(0)
    rank, axis = x.type.rank, cx.attr("axis", 1)
    if rank is not None:
        if not -rank <= axis <= rank:
            raise ShapeError(f"node '{cx.name}' (Flatten): axis {axis} out of range for rank "
                             f"{rank}")
        axis = axis + rank if axis < 0 else axis
    return [cx.op("shape.reshape", [x, _flatten_target(cx, x, axis)])]


def _flatten_target(cx: NodeContext, x: Value, axis: int) -> Value:
    """The [outer, inner] target shape: a constant whenever one side's size is static (or the
    outer side is the single dim 0 copies), else computed from the shape at run time."""
    if x.type.shape is not None:
        lead, rest = x.type.shape[:axis], x.type.shape[axis:]
        outer = math.prod(lead) if all(isinstance(d, int) for d in lead) else None
        inner = math.prod(rest) if all(isinstance(d, int) for d in rest) else None
        if outer is not None or inner is not None or axis == 1:
            pair = [outer if outer is not None else (0 if inner is None else -1),
                    inner if inner is not None else -1]
            return cx.const(np.array(pair, dtype=np.int64), name="shape")
    lead_dims = shape_of(cx, x, 0, axis)
    outer_v = cx.op("reduce.prod", [lead_dims], {"keepdims": True})
    return cx.op("shape.concat", [outer_v, cx.const(np.array([-1], np.int64))], {"axis": 0})


@converter("Transpose")
def transpose(cx: NodeContext):
    x = cx.input(0)
    perm = cx.attr("perm")
    if perm is None and x.type.rank is not None:
        perm = tuple(reversed(range(x.type.rank)))
    return [cx.op("shape.transpose", [x], {"perm": perm} if perm is not None else {})]


@converter("Squeeze")
def squeeze(cx: NodeContext):
    return [ints_param_op(cx, "shape.squeeze", "axes", from_attribute=cx.opset < 13)]


@converter("Unsqueeze")
def unsqueeze(cx: NodeContext):
    return [ints_param_op(cx, "shape.unsqueeze", "axes", from_attribute=cx.opset < 13)]


@converter("DepthToSpace", "SpaceToDepth")
def depth_space(cx: NodeContext):
    op = "shape.depth_to_space" if cx.op_type == "DepthToSpace" else "shape.space_to_depth"
    attrs = {"blocksize": cx.attr("blocksize"), "mode": cx.attr("mode", "DCR")}
    return [cx.op(op, [cx.input(0)], attrs)]
