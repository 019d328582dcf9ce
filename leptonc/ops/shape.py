"""Shape and data-movement ops (``shape.*``): reshape, transpose, slice, gather, concat,
split, expand, squeeze/unsqueeze, pad, tile, ...

Ops whose result shape depends on a tensor (reshape's target shape, slice bounds) take it
as an input, usually a constant: inference reads constant inputs, and leaves dims unknown
(``?``) when the input is computed at run time.
"""

from __future__ import annotations

import math

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.types import TensorType
from leptonc.ops.infer_utils import const_ints
from leptonc.ops.registry import attr, defop


def reshape_target(in_shape: tuple, target: list[int], allowzero: bool) -> tuple:
    """Resolve ONNX reshape semantics (0 copies the input dim unless allowzero; -1 infers)."""
    out = [in_shape[i] if d == 0 and not allowzero else d for i, d in enumerate(target)]
    if out.count(-1) > 1:
        raise ShapeError(f"reshape target {target} has more than one -1")
    if -1 in out:
        known = [d for d in out if d != -1]
        if all(isinstance(d, int) for d in in_shape) and all(isinstance(d, int) for d in known):
            total, rest = math.prod(in_shape), math.prod(known)
            if rest == 0 or total % rest:
                raise ShapeError(f"cannot reshape {list(in_shape)} to {target}")
            out[out.index(-1)] = total // rest
        else:
            out[out.index(-1)] = None
    return tuple(out)


@defop("shape.reshape", inputs="x, shape", attrs={"allowzero": attr("bool", False)},
       doc="ONNX Reshape: target shape from an i64 tensor (0 copies a dim, -1 is inferred)")
class Reshape:
    def infer(ins, attrs):
        x, target = ins[0].type, const_ints(ins[1])
        if target is None:
            n = ins[1].type.shape[0] if ins[1].type.shape else None
            return [TensorType(x.dtype, None if not isinstance(n, int) else (None,) * n)]
        if x.shape is None:
            return [TensorType(x.dtype, tuple(d if d > 0 else None for d in target))]
        out = reshape_target(x.shape, target, attrs["allowzero"])
        if x.is_static and all(isinstance(d, int) for d in out) and math.prod(out) != math.prod(
                x.shape):
            raise ShapeError(f"cannot reshape {list(x.shape)} to {list(out)}")
        return [TensorType(x.dtype, out)]

    def kernel(xs, attrs):
        x = xs[0]
        return x.reshape(reshape_target(x.shape, [int(d) for d in xs[1]], attrs["allowzero"]))


@defop("shape.transpose", inputs="x", attrs={"perm": attr("ints")},
       doc="permute axes: output axis i is input axis perm[i]")
class Transpose:
    def infer(ins, attrs):
        x, perm = ins[0].type, attrs["perm"]
        if x.shape is None:
            return [TensorType(x.dtype, None)]
        if sorted(perm) != list(range(len(x.shape))):
            raise ShapeError(f"perm {list(perm)} is not a permutation of rank {len(x.shape)}")
        return [TensorType(x.dtype, tuple(x.shape[p] for p in perm))]

    def kernel(xs, attrs):
        return np.transpose(xs[0], attrs["perm"])
