"""Reading entries by index: gather, gather_elements, gather_nd, one_hot, reverse_sequence."""

from __future__ import annotations

import math

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.types import TensorType
from leptonc.ops.infer_utils import normalize_axis
from leptonc.ops.registry import attr, defop
from leptonc.ops.shape.common import (
    check_indices,
    indexed_types,
    known_scalar,
    merge_dims,
    runtime_scalar,
    unknown_like,
    wrap_negative,
)


# ----- gathers ------------------------------------------------------------------------------------
@defop("shape.gather", inputs="x, indices", attrs={"axis": attr("int", 0)},
       doc="take entries of x along `axis` (indices may be negative; any index shape)")
class Gather:
    def infer(ins, attrs):
        x, idx = indexed_types(ins)
        if x.shape is None or idx.shape is None:
            return [unknown_like(x, None)]
        axis = normalize_axis(attrs["axis"], x.rank)
        return [x.with_shape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])]

    def kernel(xs, attrs):
        x, idx = xs
        axis = attrs["axis"]
        return np.take(x, wrap_negative(idx, x.shape[axis]), axis=axis)


@defop("shape.gather_elements", inputs="x, indices", attrs={"axis": attr("int", 0)},
       doc="y[i][j][k] = x[indices[i][j][k]][j][k] for axis 0 (take_along_axis)")
class GatherElements:
    def infer(ins, attrs):
        x, idx = indexed_types(ins)
        if x.rank is not None and idx.rank is not None and x.rank != idx.rank:
            raise ShapeError(f"data {x} and indices {idx} differ in rank")
        if x.rank is not None:
            normalize_axis(attrs["axis"], x.rank)
        return [x.with_shape(idx.shape)]

    def kernel(xs, attrs):
        x, idx = xs
        axis = attrs["axis"]
        return np.take_along_axis(x, wrap_negative(idx, x.shape[axis]), axis=axis)


@defop("shape.gather_nd", inputs="x, indices", attrs={"batch_dims": attr("int", 0)},
       doc="gather slices of x addressed by the last axis of `indices` (after batch_dims "
           "leading dims shared by both)")
class GatherND:
    def infer(ins, attrs):
        x, idx = indexed_types(ins)
        b = attrs["batch_dims"]
        if x.shape is None or idx.shape is None or not isinstance(idx.shape[-1], int):
            return [unknown_like(x, None)]
        depth = idx.shape[-1]
        if b + depth > x.rank or b >= idx.rank:
            raise ShapeError(f"indices {idx} address more dims than data {x} has")
        batch = tuple(merge_dims([a, c], "batch dim") for a, c in zip(x.shape[:b], idx.shape[:b],
                                                                      strict=True))
        return [x.with_shape(batch + idx.shape[b:-1] + x.shape[b + depth:])]

    def kernel(xs, attrs):
        x, idx = xs
        b, depth = attrs["batch_dims"], idx.shape[-1]
        batch = math.prod(x.shape[:b])
        flat_x = x.reshape((batch,) + x.shape[b:])
        flat_idx = idx.reshape(batch, -1, depth)
        coords = [wrap_negative(flat_idx[..., i], x.shape[b + i]) for i in range(depth)]
        rows = np.arange(batch).reshape(batch, 1)
        out = flat_x[(rows, *coords)]
        return out.reshape(idx.shape[:-1] + x.shape[b + depth:])


# ----- indices as positions -----------------------------------------------------------------------
@defop("shape.one_hot", inputs="indices, values, depth?",
       attrs={"depth": attr("int", None), "axis": attr("int", -1)},
       doc="values[1] where the new `axis` position equals the index (negative indices count "
           "from depth), values[0] elsewhere")
class OneHot:
    def infer(ins, attrs):
        idx, values = ins[0].type, ins[1].type
        depth = known_scalar(ins, 2, attrs, "depth")
        if idx.shape is None:
            return [TensorType(values.dtype, None)]
        axis = normalize_axis(attrs["axis"], idx.rank + 1)
        shape = idx.shape[:axis] + (depth,) + idx.shape[axis:]
        return [TensorType(values.dtype, shape)]

    def kernel(xs, attrs):
        idx, values = xs[0], xs[1]
        depth = runtime_scalar(xs, 2, attrs, "depth")
        axis = normalize_axis(attrs["axis"], idx.ndim + 1)
        positions = wrap_negative(idx.astype(np.int64), depth)
        hot = np.expand_dims(positions, -1) == np.arange(depth)
        off, on = values.reshape(-1)[:2]
        return np.moveaxis(np.where(hot, on, off), -1, axis).astype(values.dtype, copy=False)


@defop("shape.reverse_sequence", inputs="x, lengths",
       attrs={"batch_axis": attr("int", 1), "time_axis": attr("int", 0)},
       doc="reverse the first lengths[b] steps along time_axis of every batch entry b")
class ReverseSequence:
    def infer(ins, attrs):
        x, lengths = ins[0].type, ins[1].type
        check_indices(lengths, "sequence lengths")
        if x.rank is not None and {attrs["batch_axis"] % x.rank, attrs["time_axis"] % x.rank} != {
                0, 1}:
            raise ShapeError("batch_axis and time_axis must be 0 and 1 (in either order)")
        return [x]

    def kernel(xs, attrs):
        x, lengths = xs
        batch_axis, time_axis = attrs["batch_axis"] % x.ndim, attrs["time_axis"] % x.ndim
        steps = np.arange(x.shape[time_axis]).reshape(1, -1)
        lengths = lengths.astype(np.int64).reshape(-1, 1)
        source = np.where(steps < lengths, lengths - 1 - steps, steps)  # [batch, time]
        if batch_axis > time_axis:
            source = source.T
        source = source.reshape(source.shape + (1,) * (x.ndim - 2))
        return np.take_along_axis(x, np.broadcast_to(source, x.shape), axis=time_axis)
