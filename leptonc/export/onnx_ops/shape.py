"""Emitters for ``shape.*``.  The frontend folds constant shape-controlling inputs (target
shapes, axes, slice bounds, pads, repeats, k, depth...) into attributes; ONNX takes them as
inputs, so an attribute becomes an initializer again, and a run-time input is passed on."""

from __future__ import annotations

import numpy as np

from leptonc.export.emit import EmitContext, Unsupported, emitter
from leptonc.ops.shape import full_pads


def _ints_input(cx: EmitContext, index: int, key: str) -> str:
    """Input ``index`` when present, else attribute ``key`` as an i64 initializer ("" when it
    is empty: the ONNX default)."""
    runtime = cx.input(index)
    if runtime:
        return runtime
    values = cx.attr(key)
    return cx.ints(values, key) if values else ""


def _scalar_input(cx: EmitContext, index: int, key: str, shape: tuple = ()) -> str:
    runtime = cx.input(index)
    if runtime:
        return runtime
    return cx.const(np.full(shape, cx.attr(key), np.int64), hint=key)


@emitter("shape.concat")
def concat(cx: EmitContext) -> None:
    cx.emit("Concat", [cx.input(i) for i in range(len(cx.node.inputs))], cx.outputs,
            axis=cx.attr("axis"))


@emitter("shape.depth_to_space", "shape.space_to_depth")
def depth_space(cx: EmitContext) -> None:
    if cx.node.op == "shape.depth_to_space":
        cx.emit("DepthToSpace", [cx.input(0)], cx.outputs, blocksize=cx.attr("blocksize"),
                mode=cx.attr("mode"))
        return
    if cx.attr("mode") != "DCR":
        cx.unsupported("ONNX SpaceToDepth has only the DCR channel order")
    cx.emit("SpaceToDepth", [cx.input(0)], cx.outputs, blocksize=cx.attr("blocksize"))


@emitter("shape.expand", "shape.tile")
def expand_tile(cx: EmitContext) -> None:
    op, key = ("Expand", "shape") if cx.node.op == "shape.expand" else ("Tile", "repeats")
    cx.emit(op, [cx.input(0), cx.input(1) or cx.ints(cx.attr(key), key)], cx.outputs)


@emitter("shape.reshape")
def reshape(cx: EmitContext) -> None:
    cx.emit("Reshape", [cx.input(0), cx.input(1)], cx.outputs, allowzero=cx.attr("allowzero"))


@emitter("shape.transpose")
def transpose(cx: EmitContext) -> None:
    cx.emit("Transpose", [cx.input(0)], cx.outputs, perm=cx.attr("perm"))


@emitter("shape.squeeze", "shape.unsqueeze")
def squeeze(cx: EmitContext) -> None:
    op = "Squeeze" if cx.node.op == "shape.squeeze" else "Unsqueeze"
    cx.emit(op, [cx.input(0), _ints_input(cx, 1, "axes")], cx.outputs)


@emitter("shape.shape")
def shape(cx: EmitContext) -> None:
    cx.emit("Shape", [cx.input(0)], cx.outputs, start=cx.attr("start") or None,
            end=cx.attr("end"))


@emitter("shape.slice")
def slice_(cx: EmitContext) -> None:
    bounds = [_ints_input(cx, i, key)
              for i, key in enumerate(("starts", "ends", "axes", "steps"), start=1)]
    cx.emit("Slice", [cx.input(0), *bounds], cx.outputs)


@emitter("shape.split")
def split(cx: EmitContext) -> None:
    sizes = _ints_input(cx, 1, "split")
    axis = cx.attr("axis")
    if not sizes:
        dims = [v.type.shape[axis] if v.type.shape is not None else None
                for v in cx.node.outputs]
        if all(isinstance(d, int) for d in dims):  # the parts' static lengths spell it
            sizes = cx.ints(dims, "split")
        elif cx.opset < 18:
            raise Unsupported("Split into equal parts of a dynamic dim needs opset 18",
                              needs_opset=18)
    num_outputs = len(cx.node.outputs) if not sizes else None
    cx.emit("Split", [cx.input(0), sizes], cx.outputs, axis=axis, num_outputs=num_outputs)


@emitter("shape.pad")
def pad(cx: EmitContext) -> None:
    x = cx.value(0)
    pads_attr, axes_attr = cx.attr("pads"), cx.attr("axes")
    if not cx.input(1) and not cx.input(3) and axes_attr and x.type.rank is not None:
        pads_attr, axes_attr = full_pads(pads_attr, axes_attr, x.type.rank), ()
    axes = cx.input(3) or (cx.ints(axes_attr, "axes") if axes_attr else "")
    value = cx.input(2)
    if not value and cx.attr("mode") == "constant" and cx.attr("value") != 0:
        value = cx.const(np.asarray(cx.attr("value")).astype(x.type.dtype.numpy), hint="value")
    pads = cx.input(1) or cx.ints(pads_attr, "pads")
    cx.emit("Pad", [cx.input(0), pads, value, axes], cx.outputs, mode=cx.attr("mode"))


@emitter("shape.center_crop_pad")
def center_crop_pad(cx: EmitContext) -> None:
    cx.emit("CenterCropPad", [cx.input(0), _ints_input(cx, 1, "shape")], cx.outputs,
            axes=cx.attr("axes"))


# ----- indexing ------------------------------------------------------------------------------------
@emitter("shape.gather", "shape.gather_elements")
def gather(cx: EmitContext) -> None:
    op = "Gather" if cx.node.op == "shape.gather" else "GatherElements"
    cx.emit(op, [cx.input(0), cx.input(1)], cx.outputs, axis=cx.attr("axis"))


@emitter("shape.gather_nd")
def gather_nd(cx: EmitContext) -> None:
    cx.emit("GatherND", [cx.input(0), cx.input(1)], cx.outputs,
            batch_dims=cx.attr("batch_dims"))


@emitter("shape.scatter_elements", "shape.scatter_nd")
def scatter(cx: EmitContext) -> None:
    op = "ScatterElements" if cx.node.op == "shape.scatter_elements" else "ScatterND"
    attrs = {"axis": cx.attr("axis")} if op == "ScatterElements" else {}
    cx.emit(op, [cx.input(i) for i in range(3)], cx.outputs, reduction=cx.attr("reduction"),
            **attrs)


@emitter("shape.tensor_scatter")
def tensor_scatter(cx: EmitContext) -> None:
    cx.emit("TensorScatter", [cx.input(i) for i in range(len(cx.node.inputs))], cx.outputs,
            axis=cx.attr("axis"), mode=cx.attr("mode"))


@emitter("shape.one_hot")
def one_hot(cx: EmitContext) -> None:
    # ONNX orders the inputs indices, depth, values
    depth = _scalar_input(cx, 2, "depth", (1,))
    cx.emit("OneHot", [cx.input(0), depth, cx.input(1)], cx.outputs, axis=cx.attr("axis"))


@emitter("shape.top_k")
def top_k(cx: EmitContext) -> None:
    cx.emit("TopK", [cx.input(0), _scalar_input(cx, 1, "k", (1,))], cx.outputs,
            axis=cx.attr("axis"), largest=cx.attr("largest"), sorted=cx.attr("sorted"))


@emitter("shape.trilu")
def trilu(cx: EmitContext) -> None:
    cx.emit("Trilu", [cx.input(0), _scalar_input(cx, 1, "k")], cx.outputs,
            upper=cx.attr("upper"))


@emitter("shape.unique")
def unique(cx: EmitContext) -> None:
    cx.emit("Unique", [cx.input(0)], cx.outputs, axis=cx.attr("axis"), sorted=cx.attr("sorted"))


_SIMPLE = {"shape.nonzero": "NonZero", "shape.range": "Range", "shape.size": "Size"}


@emitter(*_SIMPLE)
def simple(cx: EmitContext) -> None:
    cx.emit(_SIMPLE[cx.node.op], [cx.input(i) for i in range(len(cx.node.inputs))], cx.outputs)


@emitter("shape.reverse_sequence")
def reverse_sequence(cx: EmitContext) -> None:
    cx.emit("ReverseSequence", [cx.input(0), cx.input(1)], cx.outputs,
            batch_axis=cx.attr("batch_axis"), time_axis=cx.attr("time_axis"))
