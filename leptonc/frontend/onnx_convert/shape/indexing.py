"""Converters that read or write entries by index or pick them by value: Gather,
GatherElements, GatherND, ScatterElements (Scatter), ScatterND, TensorScatter, Compress, OneHot,
NonZero, TopK, Unique, ReverseSequence."""

from __future__ import annotations

import numpy as np

from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.frontend.onnx_convert.shape.common import (
    as_list,
    scalar_or_input,
    static_shape_part,
)


# ----- gather and scatter -------------------------------------------------------------------------
@converter("Gather")
def gather(cx: NodeContext):
    x, indices = cx.input(0), cx.input(1)
    attrs = {"axis": cx.attr("axis", 0)}
    static = static_shape_part("shape.gather", x, attrs, indices)
    if static is not None:
        return [cx.const(static, name="dims")]
    return [cx.op("shape.gather", [x, indices], attrs)]


@converter("GatherElements")
def gather_elements(cx: NodeContext):
    return [cx.op("shape.gather_elements", cx.inputs[:2], {"axis": cx.attr("axis", 0)})]


@converter("GatherND")
def gather_nd(cx: NodeContext):
    return [cx.op("shape.gather_nd", cx.inputs[:2], {"batch_dims": cx.attr("batch_dims", 0)})]


@converter("ScatterElements", "Scatter")
def scatter_elements(cx: NodeContext):
    attrs = {"axis": cx.attr("axis", 0), "reduction": cx.attr("reduction", "none")}
    return [cx.op("shape.scatter_elements", cx.inputs[:3], attrs)]


@converter("ScatterND")
def scatter_nd(cx: NodeContext):
    return [cx.op("shape.scatter_nd", cx.inputs[:3], {"reduction": cx.attr("reduction", "none")})]


@converter("TensorScatter")
def tensor_scatter(cx: NodeContext):
    attrs = {"axis": cx.attr("axis", -2), "mode": cx.attr("mode", "linear")}
    return [cx.op("shape.tensor_scatter", cx.inputs[:3], attrs)]


@converter("Compress")
def compress(cx: NodeContext):
    """Gather of the positions where the condition holds (of the flattened input without axis)."""
    x, condition = cx.input(0), cx.input(1)
    axis = cx.attr("axis")
    if axis is None:
        x = cx.op("shape.reshape", [x, cx.const(np.array([-1], np.int64), name="flat")])
        axis = 0
    positions = cx.op("shape.nonzero", [condition])
    positions = cx.op("shape.reshape", [positions, cx.const(np.array([-1], np.int64), name="flat")])
    return [cx.op("shape.gather", [x, positions], {"axis": axis})]


# ----- indices and lengths ------------------------------------------------------------------------
@converter("OneHot")
def one_hot(cx: NodeContext):
    attrs: dict = {"axis": cx.attr("axis", -1)}
    depth = scalar_or_input(cx, 1, "depth", attrs)
    return [cx.op("shape.one_hot", [cx.input(0), cx.input(2), depth], attrs)]


@converter("ReverseSequence")
def reverse_sequence(cx: NodeContext):
    attrs = {"batch_axis": cx.attr("batch_axis", 1), "time_axis": cx.attr("time_axis", 0)}
    return [cx.op("shape.reverse_sequence", cx.inputs[:2], attrs)]


# ----- data-dependent results ---------------------------------------------------------------------
@converter("NonZero")
def nonzero(cx: NodeContext):
    return [cx.op("shape.nonzero", [cx.input(0)])]


@converter("TopK")
def top_k(cx: NodeContext):
    attrs: dict = {"axis": cx.attr("axis", -1)}
    if cx.opset < 10:
        attrs["k"], k = cx.attr("k"), None
    else:
        k = scalar_or_input(cx, 1, "k", attrs)
    if cx.opset >= 11:
        attrs["largest"] = bool(cx.attr("largest", 1))
        attrs["sorted"] = bool(cx.attr("sorted", 1))
    return as_list(cx.op("shape.top_k", [cx.input(0), k], attrs))


@converter("Unique")
def unique(cx: NodeContext):
    attrs: dict = {"sorted": bool(cx.attr("sorted", 1))}
    if cx.has_attr("axis"):
        attrs["axis"] = cx.attr("axis")
    return as_list(cx.op("shape.unique", [cx.input(0)], attrs))
