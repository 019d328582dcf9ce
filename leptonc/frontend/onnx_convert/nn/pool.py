"""Converters for the pooling ops: MaxPool, AveragePool, LpPool, their global forms and
MaxUnpool."""

from __future__ import annotations

from typing import Any

from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.frontend.onnx_convert.nn.common import (
    optional_output,
    shape_input,
    window_attrs,
    window_defaults,
)


def pool_attrs(cx: NodeContext) -> dict[str, Any]:
    x = cx.input(0)
    kernel = tuple(cx.attr("kernel_shape", ()))
    if not kernel:
        cx.unsupported("kernel_shape is required")
    attrs = {"kernel_shape": kernel, **window_attrs(cx, x, kernel)}
    if cx.attr("ceil_mode", 0):
        attrs["ceil_mode"] = True
    return attrs


@converter("MaxPool")
def max_pool(cx: NodeContext):
    attrs = pool_attrs(cx)
    with_indices = optional_output(cx, 1)
    if with_indices:
        attrs["with_indices"] = True
        attrs["storage_order"] = cx.attr("storage_order", 0)
    out = cx.op("nn.max_pool", [cx.input(0)], attrs)
    return list(out) if with_indices else [out]


@converter("AveragePool")
def average_pool(cx: NodeContext):
    attrs = pool_attrs(cx)
    if cx.attr("count_include_pad", 0):
        attrs["count_include_pad"] = True
    return [cx.op("nn.avg_pool", [cx.input(0)], attrs)]


@converter("LpPool")
def lp_pool(cx: NodeContext):
    attrs = pool_attrs(cx)
    attrs["p"] = float(cx.attr("p", 2))
    return [cx.op("nn.lp_pool", [cx.input(0)], attrs)]


@converter("GlobalAveragePool")
def global_average_pool(cx: NodeContext):
    return [cx.op("nn.global_avg_pool", [cx.input(0)])]


@converter("GlobalMaxPool")
def global_max_pool(cx: NodeContext):
    return [cx.op("nn.global_max_pool", [cx.input(0)])]


@converter("GlobalLpPool")
def global_lp_pool(cx: NodeContext):
    return [cx.op("nn.global_lp_pool", [cx.input(0)], {"p": float(cx.attr("p", 2))})]


@converter("MaxUnpool")
def max_unpool(cx: NodeContext):
    kernel = tuple(cx.attr("kernel_shape", ()))
    strides, _, pads = window_defaults(cx, len(kernel))
    attrs = {"kernel_shape": kernel, "strides": strides, "pads": pads}
    inputs: list = [cx.input(0), cx.input(1)]
    shape_input(cx, 2, "output_shape", attrs, inputs)
    return [cx.op("nn.max_unpool", inputs, attrs)]
