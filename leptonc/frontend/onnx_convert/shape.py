"""Converters for ONNX shape and data-movement ops.

Inputs that control shapes (target shapes, axes, slice bounds, pads, repeats, k, ...) become
attributes of the canonical op when they are constants, and stay tensor inputs when they are
computed at run time.  Static shape arithmetic folds while importing: Shape and Size of a tensor
with static dims are constants, and so are Gather/Slice of the static part of a shape, so the
``Shape -> Gather -> Concat -> Reshape`` chains of exported models disappear even when only the
batch dim is symbolic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from leptonc.errors import ShapeError
from leptonc.frontend.onnx import onnx_dtype
from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.ir.graph import Value
from leptonc.ir.types import Dim
from leptonc.ops.infer_utils import normalize_axis
from leptonc.ops.registry import get_op
from leptonc.ops.shape import full_pads


# ----- helpers ------------------------------------------------------------------------------------
def _ints_or_input(cx: NodeContext, index: int, key: str, attrs: dict) -> Value | None:
    """A constant int-list input goes into ``attrs[key]``; one computed at run time is
    returned, to become the canonical op's tensor input."""
    v = cx.input(index)
    if v is None:
        return None
    if v.is_constant:
        attrs[key] = tuple(int(i) for i in np.asarray(v.data).reshape(-1))
        return None
    return v


def _scalar_or_input(cx: NodeContext, index: int, key: str, attrs: dict) -> Value | None:
    runtime = _ints_or_input(cx, index, key, attrs)
    if key in attrs:
        if len(attrs[key]) != 1:
            raise ShapeError(f"node '{cx.name}' ({cx.op_type}): {key} must be a single value, "
                             f"got {list(attrs[key])}")
        attrs[key] = attrs[key][0]
    return runtime


def _trimmed(inputs: Sequence[Value | None]) -> list[Value | None]:
    """Inputs without trailing omitted ones."""
    inputs = list(inputs)
    while inputs and inputs[-1] is None:
        inputs.pop()
    return inputs


def _outputs(result) -> list[Value]:
    return list(result) if isinstance(result, tuple) else [result]


def _shape_dims(v: Value) -> list[Dim] | None:
    """The dims a ``shape.shape`` result holds (static, symbolic or unknown), else None."""
    node = v.producer
    if node is None or node.op != "shape.shape" or node.inputs[0].type.shape is None:
        return None
    return list(node.inputs[0].type.shape[node.attr("start"):node.attr("end")])


def _static_shape_part(op: str, data: Value, attrs: dict, *rest: Value | None) -> np.ndarray | None:
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


# ----- shape queries and reshaping ----------------------------------------------------------------
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


def _axes_op(cx: NodeContext, op: str):
    attrs: dict = {}
    if cx.opset < 13:
        if cx.has_attr("axes"):
            attrs["axes"] = tuple(cx.attr("axes"))
        return [cx.op(op, [cx.input(0)], attrs)]
    runtime = _ints_or_input(cx, 1, "axes", attrs)
    return [cx.op(op, _trimmed([cx.input(0), runtime]), attrs)]


@converter("Squeeze")
def squeeze(cx: NodeContext):
    return _axes_op(cx, "shape.squeeze")


@converter("Unsqueeze")
def unsqueeze(cx: NodeContext):
    return _axes_op(cx, "shape.unsqueeze")


@converter("DepthToSpace", "SpaceToDepth")
def depth_space(cx: NodeContext):
    op = "shape.depth_to_space" if cx.op_type == "DepthToSpace" else "shape.space_to_depth"
    attrs = {"blocksize": cx.attr("blocksize"), "mode": cx.attr("mode", "DCR")}
    return [cx.op(op, [cx.input(0)], attrs)]


# ----- joining and splitting ----------------------------------------------------------------------
@converter("Concat")
def concat(cx: NodeContext):
    return [cx.op("shape.concat", [v for v in cx.inputs if v is not None],
                  {"axis": cx.attr("axis")})]


@converter("Split")
def split(cx: NodeContext):
    attrs = {"axis": cx.attr("axis", 0), "num_outputs": cx.num_outputs}
    if cx.opset < 13:
        if cx.has_attr("split"):
            attrs["split"] = tuple(cx.attr("split"))
        return _outputs(cx.op("shape.split", [cx.input(0)], attrs))
    runtime = _ints_or_input(cx, 1, "split", attrs)
    return _outputs(cx.op("shape.split", _trimmed([cx.input(0), runtime]), attrs))


# ----- slicing and padding ------------------------------------------------------------------------
@converter("Slice")
def slice_(cx: NodeContext):
    x = cx.input(0)
    attrs: dict = {}
    if cx.opset < 10:
        for key in ("starts", "ends", "axes"):
            if cx.has_attr(key):
                attrs[key] = tuple(cx.attr(key))
        runtime: list[Value | None] = []
    else:
        runtime = [_ints_or_input(cx, i, key, attrs)
                   for i, key in enumerate(("starts", "ends", "axes", "steps"), start=1)]
    if not any(runtime):
        static = _static_shape_part("shape.slice", x, attrs)
        if static is not None:
            return [cx.const(static, name="dims")]
    return [cx.op("shape.slice", _trimmed([x, *runtime]), attrs)]


@converter("Pad")
def pad(cx: NodeContext):
    x = cx.input(0)
    attrs: dict = {"mode": cx.attr("mode", "constant")}
    if cx.opset < 11:
        attrs["pads"] = tuple(cx.attr("pads"))
        attrs["value"] = float(cx.attr("value", 0.0))
        return [cx.op("shape.pad", [x], attrs)]
    pads = _ints_or_input(cx, 1, "pads", attrs)
    axes = _ints_or_input(cx, 3, "axes", attrs)
    value = _pad_value(cx, attrs)
    if pads is None and axes is None and "axes" in attrs and x.type.rank is not None:
        attrs["pads"] = full_pads(attrs["pads"], attrs.pop("axes"), x.type.rank)
    return [cx.op("shape.pad", _trimmed([x, pads, value, axes]), attrs)]


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
    attrs: dict = {"axes": tuple(cx.attr("axes"))} if cx.has_attr("axes") else {}
    runtime = _ints_or_input(cx, 1, "shape", attrs)
    if runtime is None and x.type.shape is not None:
        axes = [normalize_axis(a, x.type.rank) for a in attrs.get("axes", range(x.type.rank))]
        if len(axes) != len(attrs["shape"]):
            raise ShapeError(f"node '{cx.name}' (CenterCropPad): shape {list(attrs['shape'])} "
                             f"does not fit axes {axes}")
        if all(isinstance(x.type.shape[a], int) for a in axes):
            return [_crop_then_pad(cx, x, axes, attrs["shape"])]
    return [cx.op("shape.center_crop_pad", _trimmed([x, runtime]), attrs)]


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
    attrs: dict = {}
    runtime = _ints_or_input(cx, 1, "shape", attrs)
    return [cx.op("shape.expand", _trimmed([cx.input(0), runtime]), attrs)]


@converter("Tile")
def tile(cx: NodeContext):
    attrs: dict = {}
    runtime = _ints_or_input(cx, 1, "repeats", attrs)
    return [cx.op("shape.tile", _trimmed([cx.input(0), runtime]), attrs)]


@converter("ConstantOfShape")
def constant_of_shape(cx: NodeContext):
    """A scalar broadcast to the shape (folds into a constant when the shape is constant)."""
    value = cx.attr("value")
    value = np.zeros((), np.float32) if value is None else np.asarray(value).reshape(())
    attrs: dict = {}
    runtime = _ints_or_input(cx, 0, "shape", attrs)
    return [cx.op("shape.expand", _trimmed([cx.const(value, name="value"), runtime]), attrs)]


# ----- indexing -----------------------------------------------------------------------------------
@converter("Gather")
def gather(cx: NodeContext):
    x, indices = cx.input(0), cx.input(1)
    attrs = {"axis": cx.attr("axis", 0)}
    static = _static_shape_part("shape.gather", x, attrs, indices)
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
    return [cx.op("shape.tensor_scatter", _trimmed(cx.inputs[:3]), attrs)]


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


# ----- generators ---------------------------------------------------------------------------------
@converter("Range")
def range_(cx: NodeContext):
    return [cx.op("shape.range", cx.inputs[:3])]


@converter("OneHot")
def one_hot(cx: NodeContext):
    attrs: dict = {"axis": cx.attr("axis", -1)}
    depth = _scalar_or_input(cx, 1, "depth", attrs)
    return [cx.op("shape.one_hot", _trimmed([cx.input(0), cx.input(2), depth]), attrs)]


@converter("Trilu")
def trilu(cx: NodeContext):
    attrs: dict = {"upper": bool(cx.attr("upper", 1))}
    k = _scalar_or_input(cx, 1, "k", attrs)
    return [cx.op("shape.trilu", _trimmed([cx.input(0), k]), attrs)]


@converter("EyeLike")
def eye_like(cx: NodeContext):
    """Ones on diagonal k: the upper triangle from k of the lower triangle to k of all-ones
    (a constant when the input's shape is static)."""
    x = cx.input(0)
    if x.type.rank is not None and x.type.rank != 2:
        raise ShapeError(f"node '{cx.name}' (EyeLike): input must be 2-D, got {x.type}")
    dtype = onnx_dtype(cx.attr("dtype"), f"EyeLike '{cx.name}'") if cx.has_attr(
        "dtype") else x.type.dtype
    k = cx.attr("k", 0)
    ones = cx.op("shape.expand", [cx.const(np.ones((), dtype.numpy), name="one"), shape_of(cx, x)])
    lower = cx.op("shape.trilu", [ones], {"k": k, "upper": False})
    return [cx.op("shape.trilu", [lower], {"k": k, "upper": True})]


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
        k = _scalar_or_input(cx, 1, "k", attrs)
    if cx.opset >= 11:
        attrs["largest"] = bool(cx.attr("largest", 1))
        attrs["sorted"] = bool(cx.attr("sorted", 1))
    return _outputs(cx.op("shape.top_k", _trimmed([cx.input(0), k]), attrs))


@converter("Unique")
def unique(cx: NodeContext):
    attrs: dict = {"sorted": bool(cx.attr("sorted", 1))}
    if cx.has_attr("axis"):
        attrs["axis"] = cx.attr("axis")
    return _outputs(cx.op("shape.unique", [cx.input(0)], attrs))


@converter("ReverseSequence")
def reverse_sequence(cx: NodeContext):
    attrs = {"batch_axis": cx.attr("batch_axis", 1), "time_axis": cx.attr("time_axis", 0)}
    return [cx.op("shape.reverse_sequence", cx.inputs[:2], attrs)]


# ----- values -------------------------------------------------------------------------------------
@converter("Identity")
def identity(cx: NodeContext):
    return [cx.input(0)]


@converter("Constant")
def constant(cx: NodeContext):
    for key in ("value", "value_float", "value_int", "value_floats", "value_ints",
                "value_string", "value_strings"):
        if cx.has_attr(key):
            data = np.asarray(cx.attr(key))
            if key in ("value_float", "value_floats"):
                data = data.astype(np.float32)
            elif key in ("value_int", "value_ints"):
                data = data.astype(np.int64)
            elif key in ("value_string", "value_strings"):
                data = data.astype(object)
            return [cx.const(data, name="value")]
    cx.unsupported("Constant without a supported value attribute (sparse_value?)")
