"""Relax lowerings of the data-movement ops (``shape.*``) and the reductions (``reduce.*``).

Target shapes come from the node's inferred output type, where leptonc has already resolved
ONNX's 0 and -1 conventions; a symbolic dim becomes the TIR variable of that name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tvm import relax

from leptonc.ir import dtypes
from leptonc.ir.graph import Node
from leptonc.targets.tvm.op_table import EmitContext, constant_ints, lowering, needs_constant


def _out_shape(node: Node, index: int = 0) -> tuple:
    return node.outputs[index].type.shape


def _rank(node: Node) -> int:
    shape = node.inputs[0].type.shape
    return -1 if shape is None else len(shape)


def _check_known_shape(node: Node) -> str | None:
    shape = _out_shape(node)
    if shape is None:
        return "unknown result rank"
    if sum(d is None for d in shape) > 1:
        return "more than one unknown result dim"
    return None


# ----- reshapes ---------------------------------------------------------------------------------
@lowering("shape.reshape", check=lambda n: needs_constant(n, 1, "target shape") or _check_known_shape(n))
def _reshape(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    return [relax.op.reshape(args[0], [ctx.dim(d) for d in _out_shape(node)])]


def _check_squeeze(node: Node) -> str | None:
    return needs_constant(node, 1, "axes") or _check_known_shape(node)


@lowering("shape.squeeze", "shape.unsqueeze", check=_check_squeeze)
def _squeeze(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    # The result's type already says where the size-1 axes are: a reshape says it exactly.
    return [relax.op.reshape(args[0], [ctx.dim(d) for d in _out_shape(node)])]


@lowering("shape.expand", check=lambda n: needs_constant(n, 1, "target shape") or (
    "unknown result dims" if _out_shape(n) is None or None in _out_shape(n) else None))
def _expand(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    return [relax.op.broadcast_to(args[0], [ctx.dim(d) for d in _out_shape(node)])]


@lowering("shape.transpose", check=lambda n: None if _rank(n) >= 0 else "unknown rank")
def _transpose(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    perm = list(node.attr("perm")) or list(reversed(range(_rank(node))))
    return [relax.op.permute_dims(args[0], perm)]


@lowering("shape.concat")
def _concat(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    return [relax.op.concat(list(args), axis=node.attr("axis"))]


def _check_split(node: Node) -> str | None:
    if needs_constant(node, 1, "split sizes"):
        return needs_constant(node, 1, "split sizes")
    shape = node.inputs[0].type.shape
    axis = node.attr("axis")
    return None if shape is not None and isinstance(shape[axis], int) else "unknown length of the split axis"


@lowering("shape.split", check=_check_split)
def _split(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    axis = node.attr("axis")
    lengths = [out.type.shape[axis] for out in node.outputs]
    cuts = np.cumsum(lengths)[:-1].tolist()
    parts = ctx.builder.emit(relax.op.split(args[0], [int(c) for c in cuts], axis=axis))
    return [relax.TupleGetItem(parts, i) for i in range(len(node.outputs))]


# ----- slicing and gathering ----------------------------------------------------------------------
def _slice_operands(node: Node) -> tuple[list[int], list[int], list[int], list[int]]:
    """starts, ends, axes, steps: the constant inputs where given, else the attributes."""
    names = ("starts", "ends", "axes", "steps")
    values = [constant_ints(node.inputs[i + 1]) if i + 1 < len(node.inputs) else None for i in range(4)]
    starts, ends, axes, steps = (v if v is not None else list(node.attr(n)) for v, n in zip(values, names,
                                                                                           strict=True))
    axes = axes or list(range(len(starts)))
    return starts, ends, axes, steps or [1] * len(starts)


def _check_slice(node: Node) -> str | None:
    for i, what in enumerate(("starts", "ends", "axes", "steps"), start=1):
        if reason := needs_constant(node, i, what):
            return reason
    return None


@lowering("shape.slice", check=_check_slice)
def _slice(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    starts, ends, axes, steps = _slice_operands(node)
    rank = _rank(node)
    # ONNX writes "to the end" as huge numbers; Relax clamps them like ONNX does.
    limit = np.iinfo(np.int64).max
    ends = [min(max(e, -limit), limit) for e in ends]
    return [relax.op.strided_slice(args[0], axes=[a % rank for a in axes], begin=starts, end=ends,
                                   strides=steps)]


@lowering("shape.gather")
def _gather(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    # 'wrap' maps leptonc's negative indices (from the end) onto the axis.
    return [relax.op.take(args[0], args[1], axis=node.attr("axis"), mode="wrap")]


@lowering("shape.gather_nd")
def _gather_nd(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    return [relax.op.gather_nd(args[0], args[1], batch_dims=node.attr("batch_dims"))]


def _pad_widths(node: Node) -> list[int]:
    pads = constant_ints(node.inputs[1]) if len(node.inputs) > 1 else None
    pads = pads if pads is not None else list(node.attr("pads"))
    rank = _rank(node)
    axes = constant_ints(node.inputs[3]) if len(node.inputs) > 3 else None
    axes = [a % rank for a in (axes if axes is not None else node.attr("axes") or range(rank))]
    widths = [0] * (2 * rank)
    for i, axis in enumerate(axes):
        widths[2 * axis], widths[2 * axis + 1] = pads[i], pads[i + len(axes)]
    return widths


def _check_pad(node: Node) -> str | None:
    if node.attr("mode") != "constant":
        return f"mode={node.attr('mode')!r}"
    for i, what in ((1, "pads"), (2, "pad value"), (3, "axes")):
        if reason := needs_constant(node, i, what):
            return reason
    return "negative (cropping) pads" if min(_pad_widths(node), default=0) < 0 else None


@lowering("shape.pad", check=_check_pad)
def _pad(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    value = node.attr("value")
    if len(node.inputs) > 2 and node.inputs[2] is not None:
        value = float(np.asarray(node.inputs[2].data).ravel()[0])
    return [relax.op.nn.pad(args[0], _pad_widths(node), pad_mode="constant", pad_value=value)]


# ----- reductions ---------------------------------------------------------------------------------
_REDUCE = {"reduce.sum": relax.op.sum, "reduce.mean": relax.op.mean, "reduce.max": relax.op.max,
           "reduce.min": relax.op.min, "reduce.prod": relax.op.prod}


def _check_reduce(node: Node) -> str | None:
    if len(node.inputs) > 1 and node.inputs[1] is not None:
        return "run-time axes input"
    if _rank(node) < 0:
        return "unknown rank"
    if node.op in ("reduce.l1", "reduce.l2") and not node.outputs[0].type.dtype.is_float:
        return "integer operands"
    return None


def _reduce_axes(node: Node) -> list[int] | None:
    axes = list(node.attr("axes"))
    return [a % _rank(node) for a in axes] if axes else None


@lowering(*_REDUCE, "reduce.l1", "reduce.l2", "reduce.sum_square", check=_check_reduce)
def _reduce(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    x, axes, keep = args[0], _reduce_axes(node), node.attr("keepdims")
    if axes is None and node.attr("noop_with_empty_axes"):
        return [x]
    if node.op in _REDUCE:
        return [_REDUCE[node.op](x, axis=axes, keepdims=keep)]
    if node.op == "reduce.l1":
        return [relax.op.sum(relax.op.abs(x), axis=axes, keepdims=keep)]
    if node.op == "reduce.l2" and node.outputs[0].type.dtype == dtypes.f32:
        # summed in f64 and rounded once, as the interpreter: the same f32 in any order
        wide = relax.op.astype(x, "float64")
        norm = relax.op.sqrt(relax.op.sum(relax.op.multiply(wide, wide), axis=axes, keepdims=keep))
        return [relax.op.astype(norm, "float32")]
    squares = relax.op.sum(relax.op.multiply(x, x), axis=axes, keepdims=keep)
    return [relax.op.sqrt(squares) if node.op == "reduce.l2" else squares]
