"""Writing entries by index into a copy of the data: scatter_elements, scatter_nd,
tensor_scatter (KV-cache writes)."""

from __future__ import annotations

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.types import TensorType
from leptonc.ops.infer_utils import input_at, normalize_axis
from leptonc.ops.registry import attr, defop
from leptonc.ops.shape.common import indexed_types, wrap_negative

_REDUCTIONS = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _checked_data(ins, attrs) -> TensorType:
    """The data type of a scatter, once indices, reduction and the updates' dtype are checked."""
    x, _, updates = indexed_types(ins)
    reduction = attrs["reduction"]
    if reduction != "none" and reduction not in _REDUCTIONS:
        raise ShapeError(f"unknown scatter reduction '{reduction}'")
    if updates.dtype != x.dtype:
        raise ShapeError(f"updates dtype {updates.dtype} differs from data dtype {x.dtype}")
    return x


def _scatter(x: np.ndarray, index: tuple, updates: np.ndarray, reduction: str) -> np.ndarray:
    out = x.copy()
    if reduction == "none":
        out[index] = updates
    else:
        _REDUCTIONS[reduction].at(out, index, updates)
    return out


@defop("shape.scatter_elements", inputs="x, indices, updates",
       attrs={"axis": attr("int", 0), "reduction": attr("str", "none")},
       doc="copy of x with out[indices[i][j]][j] = updates[i][j] for axis 0 (reduction: "
           "none, add, mul, max, min combines duplicates and the old value)")
class ScatterElements:
    def infer(ins, attrs):
        x = _checked_data(ins, attrs)
        if x.rank is not None:
            normalize_axis(attrs["axis"], x.rank)
        return [x]

    def kernel(xs, attrs):
        x, idx, updates = xs
        axis = normalize_axis(attrs["axis"], x.ndim)
        grid = np.indices(idx.shape, sparse=True)
        index = tuple(wrap_negative(idx, x.shape[axis]) if d == axis else grid[d]
                      for d in range(x.ndim))
        return _scatter(x, index, updates, attrs["reduction"])


@defop("shape.scatter_nd", inputs="x, indices, updates", attrs={"reduction": attr("str", "none")},
       doc="copy of x with the slices addressed by the last axis of `indices` replaced by "
           "(or combined with) `updates`")
class ScatterND:
    def infer(ins, attrs):
        return [_checked_data(ins, attrs)]

    def kernel(xs, attrs):
        x, idx, updates = xs
        index = tuple(wrap_negative(idx[..., i], x.shape[i]) for i in range(idx.shape[-1]))
        return _scatter(x, index, updates, attrs["reduction"])


@defop("shape.tensor_scatter", inputs="cache, update, write_indices?",
       attrs={"axis": attr("int", -2), "mode": attr("str", "linear")},
       doc="KV-cache write: copy of `cache` with `update` written along `axis` from "
           "write_indices[batch] on (modulo the cache length when mode is circular)")
class TensorScatter:
    def infer(ins, attrs):
        cache, update = ins[0].type, ins[1].type
        if attrs["mode"] not in ("linear", "circular"):
            raise ShapeError(f"unknown mode '{attrs['mode']}'")
        if update.dtype != cache.dtype:
            raise ShapeError(f"update dtype {update.dtype} differs from cache dtype {cache.dtype}")
        if cache.rank is not None:
            if normalize_axis(attrs["axis"], cache.rank) == 0:
                raise ShapeError("the sequence axis cannot be the batch axis 0")
        return [cache]

    def kernel(xs, attrs):
        cache, update = xs[0], xs[1]
        axis = normalize_axis(attrs["axis"], cache.ndim)
        batch, seq, capacity = cache.shape[0], update.shape[axis], cache.shape[axis]
        starts = input_at(xs, 2)
        starts = np.zeros(batch, np.int64) if starts is None else starts.astype(np.int64)
        positions = starts.reshape(batch, 1) + np.arange(seq)
        if attrs["mode"] == "circular":
            positions %= capacity
        # advanced indices over [leading dims..., seq]; the batch dim also picks the write position
        leading = [np.arange(d).reshape((1,) * i + (-1,) + (1,) * (axis - i))
                   for i, d in enumerate(cache.shape[:axis])]
        seq_index = positions.reshape((batch,) + (1,) * (axis - 1) + (seq,))
        out = cache.copy()
        out[(*leading, seq_index)] = update
        return out
