"""Converters that join, split, cut, pad and repeat: Concat, Split, Slice, Pad, CenterCropPad,
Expand, Tile."""

from __future__ import annotations

from collections.abc import Sequence

from leptonc.errors import ShapeError
from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.frontend.onnx_convert.shape.common import (
    as_list,
    ints_attrs,
    ints_or_input,
    ints_param_op,
    static_shape_part,
)
from leptonc.ir.graph import Value
from leptonc.ops.infer_utils import normalize_axis
from leptonc.ops.shape import full_pads


# ----- joining and splitting ----------------------------------------------------------------------
@converter("Concat")
def concat(cx: NodeContext):
    return [cx.op("shape.concat", [v for v in cx.inputs if v is not None],
                  {"axis": cx.attr("axis")})]


@converter("Split")
def split(cx: NodeContext):
    attrs = {"axis": cx.attr("axis", 0), "num_outputs": cx.num_outputs}
    return as_list(ints_param_op(cx, "shape.split", "split", attrs, from_attribute=cx.opset < 13))


# ----- slicing and padding ------------------------------------------------------------------------
@converter("Slice")
def slice_(cx: NodeContext):
    x = cx.input(0)
    if cx.opset < 10:  # the bounds were attributes
        attrs = ints_attrs(cx, "starts", "ends", "axes")
        runtime: list[Value | None] = []
    else:
        attrs = {}
        runtime = [ints_or_input(cx, i, key, attrs)
                   for i, key in enumerate(("starts", "ends", "axes", "steps"), start=1)]
    if not any(runtime):
        static = static_shape_part("shape.slice", x, attrs)
        if static is not None:
            return [cx.const(static, name="dims")]
    return [cx.op("shape.slice", [x, *runtime], attrs)]


@converter("Pad")
def pad(cx: NodeContext):
    x = cx.input(0)
    attrs: dict = {"mode": cx.attr("mode", "constant")}
    if cx.opset < 11:
        attrs["pads"] = tuple(cx.attr("pads"))
        attrs["value"] = float(cx.attr("value", 0.0))
        return [cx.op("shape.pad", [x], attrs)]
    pads = ints_or_input(cx, 1, "pads", attrs)
    axes = ints_or_input(cx, 3, "axes", attrs)
    value = _pad_value(cx, attrs)
    if pads is None and axes is None and "axes" in attrs and x.type.rank is not None:
        attrs["pads"] = full_pads(attrs["pads"], attrs.pop("axes"), x.type.rank)
    return [cx.op("shape.pad", [x, pads, value, axes], attrs)]


def _pad_value(cx: NodeContext, attrs: dict) -> Value | None:
    """A constant numeric fill value becomes the `value` attribute."""
    v = cx.input(2)
    if v is None or v.data is None or v.data.dtype.kind not in "fiub" or v.data.size != 1:
        return v
    fill = v.data.reshape(-1)[0]
    attrs["value"] = float(fill) if v.data.dtype.kind == "f" else int(fill)
    return None


@converter("CenterCropPad")
def center_crop_pad(cx: NodeContext):
    """Slice + pad when the sizes are known at compile time, else the whole op."""
    x = cx.input(0)
    attrs = ints_attrs(cx, "axes")
    runtime = ints_or_input(cx, 1, "shape", attrs)
    if runtime is None and x.type.shape is not None:
        axes = [normalize_axis(a, x.type.rank) for a in attrs.get("axes", range(x.type.rank))]
        if len(axes) != len(attrs["shape"]):
            raise ShapeError(f"node '{cx.name}' (CenterCropPad): shape {list(attrs['shape'])} "
                             f"does not fit axes {axes}")
        if all(isinstance(x.type.shape[a], int) for a in axes):
            return [_crop_then_pad(cx, x, axes, attrs["shape"])]
    return [cx.op("shape.center_crop_pad", [x, runtime], attrs)]


def _crop_then_pad(cx: NodeContext, x: Value, axes: list[int], sizes: Sequence[int]) -> Value:
    rank = x.type.rank
    crop: dict[str, list[int]] = {"starts": [], "ends": [], "axes": []}
    pads = [0] * (2 * rank)
    for a, size in zip(axes, sizes, strict=True):
        dim = x.type.shape[a]
        if dim > size:
            start = (dim - size) // 2
            crop["starts"].append(start)
            crop["ends"].append(start + size)
            crop["axes"].append(a)
        elif dim < size:
            pads[a], pads[a + rank] = (size - dim) // 2, size - dim - (size - dim) // 2
    if crop["axes"]:
        x = cx.op("shape.slice", [x], crop)
    if any(pads):
        x = cx.op("shape.pad", [x], {"pads": pads})
    return x


# ----- broadcasting and repetition ----------------------------------------------------------------
@converter("Expand")
def expand(cx: NodeContext):
    return [ints_param_op(cx, "shape.expand", "shape")]


@converter("Tile")
def tile(cx: NodeContext):
    return [ints_param_op(cx, "shape.tile", "repeats")]
