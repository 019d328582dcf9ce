"""Joining, splitting and repeating: concat, split, expand, tile."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.types import TensorType
from leptonc.ops.infer_utils import add_dims, broadcast_shapes, normalize_axis, scale_dim
from leptonc.ops.registry import attr, defop
from leptonc.ops.shape.common import (
    known_param,
    merge_dims,
    param_length,
    runtime_param,
    unknown_like,
)


# ----- joining and splitting ----------------------------------------------------------------------
@defop("shape.concat", inputs="*xs", attrs={"axis": attr("int")},
       doc="join tensors along `axis` (the other dims must agree)")
class Concat:
    def infer(ins, attrs):
        if not ins:
            raise ShapeError("concat needs at least one input")
        types = [v.type for v in ins]
        if len({t.dtype for t in types}) > 1:
            raise ShapeError(f"input dtypes differ: {', '.join(str(t.dtype) for t in types)}")
        shapes = [t.shape for t in types if t.shape is not None]
        if not shapes:
            return [unknown_like(types[0])]
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ShapeError(f"input ranks differ: {[len(s) for s in shapes]}")
        axis = normalize_axis(attrs["axis"], rank)
        complete = len(shapes) == len(types)
        dims = [(add_dims(*(s[i] for s in shapes)) if complete else None) if i == axis
                else merge_dims([s[i] for s in shapes], f"concat dim {i}") for i in range(rank)]
        return [TensorType(types[0].dtype, tuple(dims))]

    def kernel(xs, attrs):
        return np.concatenate(xs, axis=attrs["axis"])


def split_sizes(dim: int, num_outputs: int) -> list[int]:
    """ONNX's equal split: ceil(dim / n) per output, the last one smaller when uneven."""
    chunk = -(-dim // num_outputs)
    last = dim - chunk * (num_outputs - 1)
    if last < 0:
        raise ShapeError(f"cannot split {dim} into {num_outputs} parts")
    return [chunk] * (num_outputs - 1) + [last]


@defop("shape.split", inputs="x, split?", outputs="*ys",
       attrs={"axis": attr("int", 0), "split": attr("ints", ()), "num_outputs": attr("int", 0)},
       doc="cut `x` along `axis` into parts of lengths `split` (or `num_outputs` equal parts, "
           "the last one smaller when uneven)")
class Split:
    def infer(ins, attrs):
        x = ins[0].type
        sizes = known_param(ins, 1, attrs, "split")
        count = len(sizes) if sizes else (attrs["num_outputs"] or param_length(ins, 1, attrs, "split"))
        if not count:
            raise ShapeError("split needs `split` sizes or `num_outputs`")
        if x.shape is None:
            return [unknown_like(x)] * count
        axis = normalize_axis(attrs["axis"], x.rank)
        dim = x.shape[axis]
        if sizes == () and isinstance(dim, int):
            sizes = split_sizes(dim, count)
        if sizes and isinstance(dim, int) and sum(sizes) != dim:
            raise ShapeError(f"split sizes {list(sizes)} do not add up to dim {dim}")
        parts = sizes or [None] * count
        return [x.with_shape(x.shape[:axis] + (p,) + x.shape[axis + 1:]) for p in parts]

    def kernel(xs, attrs):
        x = xs[0]
        axis = attrs["axis"]
        sizes = runtime_param(xs, 1, attrs, "split") or split_sizes(x.shape[axis],
                                                                     attrs["num_outputs"])
        return tuple(np.split(x, np.cumsum(sizes[:-1]), axis=axis))


# ----- broadcasting and repetition ----------------------------------------------------------------
@defop("shape.expand", inputs="x, shape?", attrs={"shape": attr("ints", ())},
       doc="broadcast x against `shape` (numpy rules in both directions, like ONNX Expand)")
class Expand:
    def infer(ins, attrs):
        x = ins[0].type
        target = known_param(ins, 1, attrs, "shape")
        if target is None:
            n = param_length(ins, 1, attrs, "shape")
            if n is None or x.shape is None:
                return [unknown_like(x, None)]
            return [unknown_like(x, max(n, x.rank))]
        return [x.with_shape(broadcast_shapes(x.shape, target))]

    def kernel(xs, attrs):
        x = xs[0]
        shape = np.broadcast_shapes(x.shape, runtime_param(xs, 1, attrs, "shape"))
        return np.array(np.broadcast_to(x, shape))


def _check_repeats(repeats: Sequence[int], rank: int) -> None:
    if len(repeats) != rank:
        raise ShapeError(f"{len(repeats)} repeats for a rank-{rank} input")


@defop("shape.tile", inputs="x, repeats?", attrs={"repeats": attr("ints", ())},
       doc="repeat x `repeats[i]` times along each axis i")
class Tile:
    def infer(ins, attrs):
        x = ins[0].type
        repeats = known_param(ins, 1, attrs, "repeats")
        if x.shape is None or repeats is None:
            return [unknown_like(x)]
        _check_repeats(repeats, x.rank)
        return [x.with_shape(tuple(scale_dim(d, r) for d, r in zip(x.shape, repeats, strict=True)))]

    def kernel(xs, attrs):
        repeats = runtime_param(xs, 1, attrs, "repeats")
        _check_repeats(repeats, xs[0].ndim)
        return np.tile(xs[0], repeats)
