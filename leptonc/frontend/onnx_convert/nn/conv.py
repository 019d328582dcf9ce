"""Converters for Conv, ConvTranspose, DeformConv and Col2Im."""

from __future__ import annotations

from typing import Any

from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.frontend.onnx_convert.nn.common import (
    auto_pad,
    kernel_shape,
    shape_input,
    static_dims,
    window_attrs,
    window_defaults,
)
from leptonc.ops.nn import transpose_pads


@converter("Conv")
def conv(cx: NodeContext):
    x, w = cx.input(0), cx.input(1)
    attrs = window_attrs(cx, x, kernel_shape(cx, w))
    attrs["group"] = cx.attr("group", 1)
    return [cx.op("nn.conv", [x, w, cx.input(2)], attrs)]


@converter("ConvTranspose")
def conv_transpose(cx: NodeContext):
    x, w = cx.input(0), cx.input(1)
    kernel = kernel_shape(cx, w)
    sp = len(kernel)
    strides, dilations, pads = window_defaults(cx, sp)
    output_padding = tuple(cx.attr("output_padding", ())) or (0,) * sp
    output_shape = tuple(cx.attr("output_shape", ()))
    auto = auto_pad(cx)
    attrs: dict[str, Any] = {"strides": strides, "dilations": dilations,
                             "group": cx.attr("group", 1)}
    dims = static_dims(x)
    if (output_shape or auto != "NOTSET") and dims is None:
        attrs.update(auto_pad=auto, output_shape=output_shape)
    elif dims is not None:
        pads, output_padding = transpose_pads(auto, output_shape, dims, kernel, strides,
                                              dilations, pads, output_padding)
    attrs.update(pads=pads, output_padding=output_padding)
    return [cx.op("nn.conv_transpose", [x, w, cx.input(2)], attrs)]


@converter("DeformConv")
def deform_conv(cx: NodeContext):
    x, w = cx.input(0), cx.input(1)
    strides, dilations, pads = window_defaults(cx, len(kernel_shape(cx, w)))
    attrs = {"strides": strides, "dilations": dilations, "pads": pads,
             "group": cx.attr("group", 1), "offset_group": cx.attr("offset_group", 1)}
    return [cx.op("nn.deform_conv", [x, w, cx.input(2), cx.input(3), cx.input(4)], attrs)]


@converter("Col2Im")
def col2im(cx: NodeContext):
    attrs = {k: tuple(cx.attr(k, ())) for k in ("strides", "pads", "dilations")}
    inputs: list = [cx.input(0)]
    shape_input(cx, 1, "image_shape", attrs, inputs)
    shape_input(cx, 2, "block_shape", attrs, inputs)
    return [cx.op("nn.col2im", inputs, attrs)]
