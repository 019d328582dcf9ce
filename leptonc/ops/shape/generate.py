"""Ops that make new values rather than move existing ones: range, trilu."""

from __future__ import annotations

import math

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.types import TensorType
from leptonc.ops.registry import attr, defop
from leptonc.ops.shape.common import runtime_scalar


def range_length(start: float, limit: float, delta: float) -> int:
    if delta == 0:
        raise ShapeError("range delta cannot be 0")
    return max(math.ceil((limit - start) / delta), 0)


@defop("shape.range", inputs="start, limit, delta",
       doc="[start, start+delta, ...) up to limit (exclusive), like ONNX Range")
class Range:
    def infer(ins, attrs):
        types = [v.type for v in ins]
        if len({t.dtype for t in types}) > 1:
            raise ShapeError(f"start, limit and delta dtypes differ: {[str(t.dtype) for t in types]}")
        data = [v.data for v in ins]
        if any(d is None for d in data):
            return [TensorType(types[0].dtype, (None,))]
        return [TensorType(types[0].dtype, (range_length(*(d.item() for d in data)),))]

    def kernel(xs, attrs):
        start, limit, delta = (np.asarray(x).reshape(()) for x in xs)
        n = range_length(start.item(), limit.item(), delta.item())
        if start.dtype.kind in "iu":
            return (start + np.arange(n, dtype=np.int64) * delta).astype(start.dtype)
        return (start.astype(np.float64) + np.arange(n) * delta.astype(np.float64)).astype(
            start.dtype)


@defop("shape.trilu", inputs="x, k?", attrs={"k": attr("int", 0), "upper": attr("bool", True)},
       doc="keep the upper (j - i >= k) or lower (j - i <= k) triangle of the last two dims, "
           "zero the rest")
class Trilu:
    def infer(ins, attrs):
        x = ins[0].type
        if x.rank is not None and x.rank < 2:
            raise ShapeError(f"trilu needs rank >= 2, got {x}")
        return [x]

    def kernel(xs, attrs):
        k = runtime_scalar(xs, 1, attrs, "k")
        return np.triu(xs[0], k) if attrs["upper"] else np.tril(xs[0], k)
