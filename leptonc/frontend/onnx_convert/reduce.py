"""Converters for ONNX reductions, softmax and arg-max/min."""

from __future__ import annotations

from leptonc.frontend.onnx_convert import NodeContext, converter


@converter("ReduceSum")
def reduce_sum(cx: NodeContext):
    if cx.opset >= 13:
        axes = cx.input(1)
        axes = () if axes is None else tuple(int(a) for a in cx.require_const(1, "axes"))
        if not axes and cx.attr("noop_with_empty_axes", 0):
            return [cx.input(0)]
    else:
        axes = tuple(cx.attr("axes", ()))
    return [cx.op("reduce.sum", [cx.input(0)], {"axes": axes,
                                                 "keepdims": bool(cx.attr("keepdims", 1))})]
