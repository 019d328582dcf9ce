"""Reductions and normalising ops (``reduce.*``): sum/mean/max/min/prod/..., arg-max/min,
softmax and log-softmax.  Axes are attributes (the frontend folds ONNX's axes input)."""

from __future__ import annotations

import numpy as np

from leptonc.ir.types import TensorType
from leptonc.ops.infer_utils import normalize_axis
from leptonc.ops.registry import attr, defop


def reduced_shape(shape: tuple | None, axes: tuple, keepdims: bool) -> tuple | None:
    """Shape after reducing ``axes`` (empty axes: all of them)."""
    if shape is None:
        return None
    rank = len(shape)
    axes = {normalize_axis(a, rank) for a in axes} if axes else set(range(rank))
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


@defop("reduce.sum", inputs="x", attrs={"axes": attr("ints", ()), "keepdims": attr("bool", True)},
       doc="sum over axes (all axes when empty)")
class ReduceSum:
    def infer(ins, attrs):
        t = ins[0].type
        return [TensorType(t.dtype, reduced_shape(t.shape, attrs["axes"], attrs["keepdims"]))]

    def kernel(xs, attrs):
        x = xs[0]
        axes = tuple(attrs["axes"]) or None
        return np.sum(x, axis=axes, keepdims=attrs["keepdims"]).astype(x.dtype, copy=False)
