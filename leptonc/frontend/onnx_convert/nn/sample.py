"""Converters for GridSample, AffineGrid and RoiAlign."""

from __future__ import annotations

from typing import Any

from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.frontend.onnx_convert.nn.common import shape_input


@converter("GridSample")
def grid_sample(cx: NodeContext):
    mode = cx.attr("mode", "linear" if cx.opset >= 20 else "bilinear")
    attrs = {"mode": {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode),
             "padding_mode": cx.attr("padding_mode", "zeros"),
             "align_corners": bool(cx.attr("align_corners", 0))}
    return [cx.op("nn.grid_sample", [cx.input(0), cx.input(1)], attrs)]


@converter("AffineGrid")
def affine_grid(cx: NodeContext):
    attrs: dict[str, Any] = {"align_corners": bool(cx.attr("align_corners", 0))}
    inputs: list = [cx.input(0)]
    shape_input(cx, 1, "size", attrs, inputs)
    return [cx.op("nn.affine_grid", inputs, attrs)]


@converter("RoiAlign")
def roi_align(cx: NodeContext):
    attrs = {"mode": cx.attr("mode", "avg"), "output_height": cx.attr("output_height", 1),
             "output_width": cx.attr("output_width", 1),
             "sampling_ratio": cx.attr("sampling_ratio", 0),
             "spatial_scale": cx.attr("spatial_scale", 1.0),
             # RoiAlign-10 had no half-pixel offset
             "coordinate_transformation_mode": cx.attr(
                 "coordinate_transformation_mode",
                 "half_pixel" if cx.opset >= 16 else "output_half_pixel")}
    return [cx.op("nn.roi_align", cx.inputs[:3], attrs)]
