"""Picking elements by their values, so that result sizes may depend on the data: nonzero,
top_k, unique."""

from __future__ import annotations

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.types import TensorType
from leptonc.ops.infer_utils import normalize_axis
from leptonc.ops.registry import attr, defop
from leptonc.ops.shape.common import known_scalar, runtime_scalar, unknown_like


@defop("shape.nonzero", inputs="x",
       doc="i64[rank, n]: the coordinates of the n non-zero elements, in row-major order")
class NonZero:
    def infer(ins, attrs):
        x = ins[0].type
        return [TensorType(dtypes.i64, (max(x.rank, 1) if x.rank is not None else None, None))]

    def kernel(xs, attrs):
        x = np.atleast_1d(xs[0])  # a scalar counts as one element, as in onnxruntime
        return np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)


# ----- top_k --------------------------------------------------------------------------------------
def topk_indices(x: np.ndarray, k: int, axis: int, largest: bool) -> np.ndarray:
    """Indices of the k largest (or smallest) entries along ``axis``, ties by lower index."""
    if largest:
        # a stable ascending sort of the flipped axis, reversed, keeps lower indices first
        order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
        order = x.shape[axis] - 1 - np.flip(order, axis)
    else:
        order = np.argsort(x, axis=axis, kind="stable")
    return np.take(order, np.arange(k), axis=axis).astype(np.int64)


def _check_k(k: int, dim: int) -> None:
    if not 0 <= k <= dim:
        raise ShapeError(f"k={k} outside [0, {dim}]")


@defop("shape.top_k", inputs="x, k?", outputs="values, indices",
       attrs={"k": attr("int", None), "axis": attr("int", -1), "largest": attr("bool", True),
              "sorted": attr("bool", True)},
       doc="the k largest (or smallest) entries along `axis` and their i64 indices, best first, "
           "equal values in index order")
class TopK:
    def infer(ins, attrs):
        x = ins[0].type
        k = known_scalar(ins, 1, attrs, "k")
        if x.shape is None:
            return [unknown_like(x), TensorType(dtypes.i64, None)]
        axis = normalize_axis(attrs["axis"], x.rank)
        if k is not None and isinstance(x.shape[axis], int):
            _check_k(k, x.shape[axis])
        shape = x.shape[:axis] + (k,) + x.shape[axis + 1:]
        return [x.with_shape(shape), TensorType(dtypes.i64, shape)]

    def kernel(xs, attrs):
        x = xs[0]
        axis = normalize_axis(attrs["axis"], x.ndim)
        k = runtime_scalar(xs, 1, attrs, "k")
        _check_k(k, x.shape[axis])
        indices = topk_indices(x, k, axis, attrs["largest"])
        return np.take_along_axis(x, indices, axis=axis), indices


# ----- unique -------------------------------------------------------------------------------------
def _in_first_occurrence_order(y: np.ndarray, first: np.ndarray, inverse: np.ndarray,
                               counts: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    """np.unique's sorted results reordered by where each unique value first occurs."""
    order = np.argsort(first, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    return np.take(y, order, axis=axis), first[order], position[inverse], counts[order]


@defop("shape.unique", inputs="x", outputs="y, indices, inverse, counts",
       attrs={"axis": attr("int", None), "sorted": attr("bool", True)},
       doc="unique elements (or slices along `axis`; flattened when axis is unset), sorted or in "
           "order of first occurrence, with first-occurrence indices, inverse indices, counts")
class Unique:
    def infer(ins, attrs):
        x = ins[0].type
        index = TensorType(dtypes.i64, (None,))
        if attrs["axis"] is None:
            return [TensorType(x.dtype, (None,)), index,
                    TensorType(dtypes.i64, (x.num_elements,)), index]
        if x.shape is None:
            return [unknown_like(x), index, index, index]
        axis = normalize_axis(attrs["axis"], x.rank)
        y = x.with_shape(x.shape[:axis] + (None,) + x.shape[axis + 1:])
        return [y, index, TensorType(dtypes.i64, (x.shape[axis],)), index]

    def kernel(xs, attrs):
        x, axis = xs[0], attrs["axis"]
        if axis is None:
            x, take_axis = x.reshape(-1), 0
        else:
            axis = take_axis = normalize_axis(axis, x.ndim)
        y, first, inverse, counts = np.unique(x, return_index=True, return_inverse=True,
                                              return_counts=True, axis=axis)
        inverse = inverse.reshape(-1)
        if not attrs["sorted"]:
            y, first, inverse, counts = _in_first_occurrence_order(y, first, inverse, counts,
                                                                   take_axis)
        return y, first.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64)
