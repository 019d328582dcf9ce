"""Converters for ONNX neural-network ops."""

from __future__ import annotations

from leptonc.frontend.onnx_convert import NodeContext, converter


def explicit_pads(cx: NodeContext, in_spatial: tuple, kernel: tuple, strides: tuple,
                  dilations: tuple) -> tuple:
    """ONNX auto_pad (SAME_UPPER/SAME_LOWER/VALID/NOTSET) resolved to explicit pads."""
    auto = cx.attr("auto_pad", "NOTSET")
    sp = len(kernel)
    if auto in ("NOTSET", ""):
        return tuple(cx.attr("pads", (0,) * (2 * sp)))
    if auto == "VALID":
        return (0,) * (2 * sp)
    if not all(isinstance(d, int) for d in in_spatial):
        cx.unsupported(f"auto_pad={auto} needs static spatial dims")
    begin, end = [], []
    for size, k, s, d in zip(in_spatial, kernel, strides, dilations, strict=True):
        out = -(-size // s)
        total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
        small, large = total // 2, total - total // 2
        begin.append(large if auto == "SAME_LOWER" else small)
        end.append(small if auto == "SAME_LOWER" else large)
    return tuple(begin + end)


@converter("Conv")
def conv(cx: NodeContext):
    x, w = cx.input(0), cx.input(1)
    kernel = tuple(w.type.shape[2:])
    sp = len(kernel)
    strides = tuple(cx.attr("strides", (1,) * sp))
    dilations = tuple(cx.attr("dilations", (1,) * sp))
    pads = explicit_pads(cx, tuple(x.type.shape[2:]), kernel, strides, dilations)
    attrs = {"strides": strides, "pads": pads, "dilations": dilations, "group": cx.attr("group", 1)}
    return [cx.op("nn.conv", [x, w, cx.input(2)], attrs)]
