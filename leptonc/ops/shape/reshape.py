"""Shape queries and ops that rearrange dims: shape, size, reshape, transpose, squeeze,
unsqueeze, depth_to_space, space_to_depth."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.types import Dim, TensorType
from leptonc.ops.infer_utils import const_ints, divide_dim, scale_dim
from leptonc.ops.registry import attr, defop
from leptonc.ops.shape.common import (
    known_param,
    normalize_axes,
    param_length,
    runtime_param,
    unknown_like,
)


# ----- shape queries ------------------------------------------------------------------------------
@defop("shape.shape", inputs="x", attrs={"start": attr("int", 0), "end": attr("int", None)},
       doc="the input's shape as i64[n], dims start..end (Python slice, clamped)")
class ShapeOf:
    def infer(ins, attrs):
        shape = ins[0].type.shape
        if shape is None:
            return [TensorType(dtypes.i64, (None,))]
        return [TensorType(dtypes.i64, (len(shape[attrs["start"]:attrs["end"]]),))]

    def kernel(xs, attrs):
        return np.array(xs[0].shape[attrs["start"]:attrs["end"]], dtype=np.int64)


@defop("shape.size", inputs="x", doc="the input's element count as an i64 scalar")
class Size:
    def infer(ins, attrs):
        return [TensorType(dtypes.i64, ())]

    def kernel(xs, attrs):
        return np.array(xs[0].size, dtype=np.int64)


# ----- reshaping ----------------------------------------------------------------------------------
def reshape_target(in_shape: tuple, target: list[int], allowzero: bool) -> tuple:
    """Resolve ONNX reshape semantics (0 copies the input dim unless allowzero; -1 infers)."""
    if not allowzero and 0 in target[len(in_shape):]:
        raise ShapeError(f"reshape target {target} copies a dim the rank-{len(in_shape)} input "
                         "lacks")
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
            n = param_length(ins, 1, {}, "")
            return [TensorType(x.dtype, None if n is None else (None,) * n)]
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


@defop("shape.transpose", inputs="x", attrs={"perm": attr("ints", ())},
       doc="permute axes: output axis i is input axis perm[i] (empty perm: reverse the axes, "
           "for inputs of unknown rank)")
class Transpose:
    def infer(ins, attrs):
        x, perm = ins[0].type, attrs["perm"]
        if x.shape is None:
            return [TensorType(x.dtype, None)]
        perm = perm or tuple(reversed(range(x.rank)))
        if sorted(perm) != list(range(len(x.shape))):
            raise ShapeError(f"perm {list(perm)} is not a permutation of rank {len(x.shape)}")
        return [TensorType(x.dtype, tuple(x.shape[p] for p in perm))]

    def kernel(xs, attrs):
        return np.transpose(xs[0], attrs["perm"] or None)


@defop("shape.squeeze", inputs="x, axes?", attrs={"axes": attr("ints", ())},
       doc="drop size-1 axes (every size-1 axis when axes is empty)")
class Squeeze:
    def infer(ins, attrs):
        x = ins[0].type
        axes = known_param(ins, 1, attrs, "axes")
        if x.shape is None:
            return [unknown_like(x)]
        if axes is None:
            n = param_length(ins, 1, attrs, "axes")
            return [unknown_like(x, None if not n else x.rank - n)]
        if not axes:
            if not x.is_static:
                return [unknown_like(x, None)]  # which dims are 1 is known only at run time
            return [x.with_shape(tuple(d for d in x.shape if d != 1))]
        axes = normalize_axes(axes, x.rank)
        for a in axes:
            if isinstance(x.shape[a], int) and x.shape[a] != 1:
                raise ShapeError(f"cannot squeeze axis {a} of size {x.shape[a]}")
        return [x.with_shape(tuple(d for i, d in enumerate(x.shape) if i not in axes))]

    def kernel(xs, attrs):
        axes = runtime_param(xs, 1, attrs, "axes")
        return np.squeeze(xs[0], axis=axes or None)


@defop("shape.unsqueeze", inputs="x, axes?", attrs={"axes": attr("ints", ())},
       doc="insert size-1 axes at `axes` (positions in the output)")
class Unsqueeze:
    def infer(ins, attrs):
        x = ins[0].type
        axes = known_param(ins, 1, attrs, "axes")
        n = param_length(ins, 1, attrs, "axes")
        if x.shape is None or n is None:
            return [unknown_like(x, None)]
        if axes is None:
            return [unknown_like(x, x.rank + n)]
        axes = normalize_axes(axes, x.rank + n)
        dims = iter(x.shape)
        return [x.with_shape(tuple(1 if i in axes else next(dims) for i in range(x.rank + n)))]

    def kernel(xs, attrs):
        return np.expand_dims(xs[0], axis=runtime_param(xs, 1, attrs, "axes"))


# ----- moving channel blocks to and from space ----------------------------------------------------
_BLOCK_ATTRS = {"blocksize": attr("int"), "mode": attr("str", "DCR")}


def _block_infer(ins, attrs, resize: Callable[[Dim, Dim, Dim, int], tuple[Dim, Dim, Dim]]
                 ) -> list[TensorType]:
    """Inference of depth_to_space/space_to_depth: check the [N, C, H, W] input, blocksize and
    mode; ``resize(c, h, w, blocksize)`` gives the new C, H, W."""
    x, b = ins[0].type, attrs["blocksize"]
    if x.rank is not None and x.rank != 4:
        raise ShapeError(f"expects a rank-4 [N, C, H, W] input, got {x}")
    if b < 1:
        raise ShapeError(f"blocksize must be positive, got {b}")
    if attrs["mode"] not in ("DCR", "CRD"):
        raise ShapeError(f"mode must be DCR or CRD, got '{attrs['mode']}'")
    if x.shape is None:
        return [unknown_like(x, 4)]
    n, c, h, w = x.shape
    return [x.with_shape((n, *resize(c, h, w, b)))]


@defop("shape.depth_to_space", inputs="x", attrs=_BLOCK_ATTRS,
       doc="move channel blocks into b x b spatial tiles ([N,C,H,W] -> [N,C/b²,H*b,W*b]); "
           "DCR: depth-column-row channel order, CRD: column-row-depth")
class DepthToSpace:
    def infer(ins, attrs):
        return _block_infer(ins, attrs, lambda c, h, w, b: (
            divide_dim(c, b * b, "channels {d} is not divisible by {divisor}"), scale_dim(h, b),
            scale_dim(w, b)))

    def kernel(xs, attrs):
        x, b = xs[0], attrs["blocksize"]
        n, c, h, w = x.shape
        if attrs["mode"] == "DCR":
            tiles = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            tiles = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        return tiles.reshape(n, c // (b * b), h * b, w * b)


@defop("shape.space_to_depth", inputs="x", attrs=_BLOCK_ATTRS,
       doc="inverse of depth_to_space ([N,C,H,W] -> [N,C*b²,H/b,W/b])")
class SpaceToDepth:
    def infer(ins, attrs):
        return _block_infer(ins, attrs, lambda c, h, w, b: (
            scale_dim(c, b * b), divide_dim(h, b, "height {d} is not divisible by {divisor}"),
            divide_dim(w, b, "width {d} is not divisible by {divisor}")))

    def kernel(xs, attrs):
        x, b = xs[0], attrs["blocksize"]
        n, c, h, w = x.shape
        tiles = x.reshape(n, c, h // b, b, w // b, b)
        perm = (0, 3, 5, 1, 2, 4) if attrs["mode"] == "DCR" else (0, 1, 3, 5, 2, 4)
        return tiles.transpose(perm).reshape(n, c * b * b, h // b, w // b)
