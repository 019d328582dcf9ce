"""Converters for Resize and Upsample (Resize-10 and Upsample are Resize with asymmetric
coordinates and floor rounding)."""

from __future__ import annotations

from typing import Any

from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.frontend.onnx_convert.nn.common import constant_data

# Resize attributes passed on only when they differ from these ONNX defaults
_RESIZE_DEFAULTS = (("coordinate_transformation_mode", "half_pixel"),
                    ("nearest_mode", "round_prefer_floor"),
                    ("cubic_coeff_a", -0.75), ("exclude_outside", 0),
                    ("extrapolation_value", 0.0), ("antialias", 0),
                    ("keep_aspect_ratio_policy", "stretch"))


def _float_input(cx: NodeContext, i: int, name: str, attrs: dict, inputs: list) -> None:
    """Resize's roi/scales/sizes: a non-empty constant becomes an attribute, an empty one is
    absent, a run-time tensor stays an input."""
    data = constant_data(cx, i, inputs)
    if data is not None and data.size:
        kind = int if name == "sizes" else float
        attrs[name] = tuple(kind(d) for d in data)


@converter("Resize")
def resize(cx: NodeContext):
    mode = cx.attr("mode", "nearest")
    attrs: dict[str, Any] = {"mode": mode}
    inputs: list = [cx.input(0)]
    if cx.opset < 11:  # Resize-10 is Upsample with a different name
        attrs.update(coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        inputs.append(None)
        _float_input(cx, 1, "scales", attrs, inputs)
    else:
        for name, default in _RESIZE_DEFAULTS:
            value = cx.attr(name, default)
            if value != default:
                attrs[name] = bool(value) if name in ("exclude_outside", "antialias") else value
        if cx.has_attr("axes"):
            attrs["axes"] = tuple(cx.attr("axes"))
        for i, name in ((1, "roi"), (2, "scales"), (3, "sizes")):
            _float_input(cx, i, name, attrs, inputs)
    if attrs.get("coordinate_transformation_mode") != "tf_crop_and_resize":
        attrs.pop("roi", None)
        if len(inputs) > 1:
            inputs[1] = None
    return [cx.op("nn.resize", inputs, attrs)]


@converter("Upsample")
def upsample(cx: NodeContext):
    mode = cx.attr("mode", "nearest")
    mode = {"bilinear": "linear", "trilinear": "linear"}.get(mode, mode)
    attrs: dict[str, Any] = {"mode": mode, "coordinate_transformation_mode": "asymmetric",
                             "nearest_mode": "floor"}
    inputs: list = [cx.input(0), None]
    if cx.opset < 9:
        attrs["scales"] = tuple(float(s) for s in cx.attr("scales", ()))
    else:
        _float_input(cx, 1, "scales", attrs, inputs)
    return [cx.op("nn.resize", inputs, attrs)]
