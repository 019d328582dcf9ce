"""Linear algebra ops (``linalg.*``): matmul with numpy batching semantics, einsum."""

from __future__ import annotations

import math

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.types import TensorType
from leptonc.ir.types import dims_compatible
from leptonc.ops.infer_utils import broadcast_shapes
from leptonc.ops.registry import defop


@defop("linalg.matmul", inputs="a, b",
       doc="numpy matmul: 1-D operands are promoted, leading dims broadcast")
class MatMul:
    def infer(ins, attrs):
        a, b = ins[0].type, ins[1].type
        if a.dtype != b.dtype:
            raise ShapeError(f"operand dtypes differ: {a.dtype} and {b.dtype}")
        if a.shape is None or b.shape is None:
            return [TensorType(a.dtype, None)]
        if not a.shape or not b.shape:
            raise ShapeError("matmul operands must have rank >= 1")
        sa = a.shape if len(a.shape) > 1 else (1, *a.shape)
        sb = b.shape if len(b.shape) > 1 else (*b.shape, 1)
        if not dims_compatible(sa[-1], sb[-2]):
            raise ShapeError(f"inner dims differ: {sa[-1]} and {sb[-2]}")
        batch = broadcast_shapes(sa[:-2], sb[:-2])
        out = (*batch, *(sa[-2:-1] if len(a.shape) > 1 else ()),
               *(sb[-1:] if len(b.shape) > 1 else ()))
        return [TensorType(a.dtype, out)]

    def kernel(xs, attrs):
        return np.matmul(xs[0], xs[1])

    def macs(ins, outs, attrs):
        a, y = ins[0].type, outs[0]
        if not (a.is_static and y.is_static):
            return 0
        return math.prod(y.shape) * a.shape[-1]
