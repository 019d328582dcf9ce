"""Select and clamp: ``ew.where`` (cond ? a : b) and ``ew.clip``, whose bounds are run-time
inputs or float attributes."""

from __future__ import annotations

import math

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.graph import Value
from leptonc.ir.types import TensorType
from leptonc.ops.elementwise.common import require
from leptonc.ops.infer_utils import broadcast_shapes, check_same_dtype
from leptonc.ops.registry import attr, defop


@defop("ew.where", inputs="cond, a, b", doc="cond ? a : b, broadcast")
class Where:
    def infer(ins, attrs):
        c, a, b = (v.type for v in ins)
        if c.dtype != dtypes.boolean:
            raise ShapeError(f"condition must be bool, got {c.dtype}")
        check_same_dtype(a, b, "branch")
        return [TensorType(a.dtype, broadcast_shapes(c.shape, a.shape, b.shape))]

    def kernel(xs, attrs):
        return np.where(xs[0], xs[1], xs[2]).astype(xs[1].dtype, copy=False)


def _scalar_bound(bound: Value | None, x: TensorType, which: str) -> None:
    if bound is None:
        return
    if bound.type.dtype != x.dtype:
        raise ShapeError(f"clip {which} has dtype {bound.type.dtype}, input {x.dtype}")
    if bound.type.num_elements not in (None, 1):
        raise ShapeError(f"clip {which} must hold one value, got shape {bound.type.shape}")


def _bound(x: np.ndarray, runtime: np.ndarray | None, constant: float) -> np.ndarray | None:
    """The bound as a 0-d array of x's dtype, or None when it does not restrict x."""
    if runtime is not None:
        return runtime.reshape(())
    if math.isinf(constant) and x.dtype.kind in "iu":
        return None
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        constant = min(max(constant, info.min), info.max)
    return np.asarray(constant).astype(x.dtype)


@defop("ew.clip", inputs="x, lo?, hi?",
       attrs={"min": attr("float", -math.inf), "max": attr("float", math.inf)},
       doc="min(max(x, lo), hi); bounds are the lo/hi inputs when given (run time), else the "
           "min/max attributes; lo > hi gives hi")
class Clip:
    def infer(ins, attrs):
        x = ins[0].type
        require(x.dtype, "numeric", "ew.clip")
        for i, which in ((1, "lo"), (2, "hi")):
            _scalar_bound(ins[i] if len(ins) > i else None, x, which)
        return [TensorType(x.dtype, x.shape)]

    def kernel(xs, attrs):
        x = xs[0]
        lo = _bound(x, xs[1] if len(xs) > 1 else None, attrs["min"])
        hi = _bound(x, xs[2] if len(xs) > 2 else None, attrs["max"])
        out = x if lo is None else np.maximum(x, lo)
        out = out if hi is None else np.minimum(out, hi)
        return np.asarray(out).astype(x.dtype, copy=False)
