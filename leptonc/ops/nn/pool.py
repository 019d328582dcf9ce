"""Pooling: max / average / Lp pooling over sliding windows, their global forms, and
max_unpool.  Windowed pools reduce over strided views of the padded input, one per tap."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.types import Dim, TensorType
from leptonc.ops.infer_utils import padded
from leptonc.ops.nn.common import check_float, check_rank, static_len
from leptonc.ops.nn.window import (
    WINDOW_ATTRS,
    pad_spatial,
    resolve_pads,
    spatial_attrs,
    tap_views,
    window_dims,
    window_of,
)
from leptonc.ops.numeric import float_compute_dtype
from leptonc.ops.registry import attr, defop

_POOL_ATTRS = {"kernel_shape": attr("ints"), **WINDOW_ATTRS, "ceil_mode": attr("bool", False)}


# ----- window geometry -------------------------------------------------------------------------
def pool_geometry(attrs: dict, in_dims: Sequence[int]):
    """(kernel, strides, dilations, pads, out_dims) of a pooling op on concrete dims."""
    kernel = tuple(attrs["kernel_shape"])
    strides, dilations, pads = spatial_attrs(attrs, len(kernel))
    pads = resolve_pads(attrs["auto_pad"], pads, in_dims, kernel, strides, dilations)
    out_dims = window_dims(in_dims, kernel, strides, pads, dilations,
                           ceil_mode=attrs["ceil_mode"])
    return kernel, strides, dilations, pads, out_dims


def _pool_padded(x: np.ndarray, kernel, strides, dilations, pads, out_dims, value) -> np.ndarray:
    """``x`` padded at the beginning by the pads and at the end by as much as the last
    window needs (more than the pads under ceil_mode, possibly less otherwise)."""
    sp = len(kernel)
    begin = pads[:sp]
    end = [max(0, (o - 1) * s + d * (k - 1) + 1 - i - b) for o, s, d, k, i, b in zip(
        out_dims, strides, dilations, kernel, x.shape[2:], begin, strict=True)]
    return pad_spatial(x, begin, end, value)


def _pool_infer(ins, attrs, op: str) -> TensorType:
    x = ins[0].type
    if x.shape is None:
        return TensorType(x.dtype, None)
    check_rank(x, op)
    kernel = tuple(attrs["kernel_shape"])
    if len(kernel) != x.rank - 2:
        raise ShapeError(f"{op} kernel_shape {list(kernel)} does not fit input {x}")
    strides, dilations, pads = spatial_attrs(attrs, len(kernel))
    dims = window_dims(x.shape[2:], kernel, strides, pads, dilations, attrs["auto_pad"],
                       attrs["ceil_mode"])
    return TensorType(x.dtype, (*x.shape[:2], *dims))


def _float_pool_infer(ins, attrs, op: str) -> list[TensorType]:
    y = _pool_infer(ins, attrs, op)
    check_float(y, op)
    return [y]


# ----- max pooling -----------------------------------------------------------------------------
def _lowest(dtype: np.dtype):
    """The padding value max pooling never picks (bf16's numpy kind is 'V', not 'f')."""
    return np.iinfo(dtype).min if dtype.kind in "iu" else -np.inf


def max_pool_nd(x: np.ndarray, attrs: dict, with_indices: bool):
    geometry = kernel, strides, dilations, pads, out_dims = pool_geometry(attrs, x.shape[2:])
    xp = _pool_padded(x, *geometry, _lowest(x.dtype))
    views = tap_views(xp, kernel, strides, dilations, out_dims)
    best = next(views).copy()
    if not with_indices:
        for view in views:
            np.maximum(best, view, out=best)
        return best
    arg = np.zeros(best.shape, np.int64)
    for i, view in enumerate(views, start=1):
        better = view > best  # strict: the first maximum in window order wins
        np.copyto(best, view, where=better)
        arg[better] = i
    return best, _flat_indices(arg, x.shape, *geometry, attrs["storage_order"])


def _flat_indices(arg: np.ndarray, in_shape, kernel, strides, dilations, pads, out_dims,
                  storage_order: int) -> np.ndarray:
    """Tap numbers -> flat indices into the (unpadded) input, as ONNX MaxPool's Indices:
    row-major over [N, C, *spatial], or column-major over the spatial part when
    storage_order is 1."""
    sp = len(kernel)
    taps = np.unravel_index(arg, kernel)
    coords = []
    for a in range(sp):
        pos = np.arange(out_dims[a]).reshape((-1,) + (1,) * (sp - 1 - a)) * strides[a]
        coords.append(pos + taps[a] * dilations[a] - pads[a])
    dims = in_shape[2:]
    order = range(sp) if storage_order == 0 else reversed(range(sp))
    flat = np.zeros(arg.shape, np.int64)
    for a in order:
        flat = flat * dims[a] + coords[a]
    plane = np.arange(in_shape[0] * in_shape[1], dtype=np.int64).reshape(
        in_shape[:2] + (1,) * sp)
    return flat + plane * math.prod(dims)


@defop("nn.max_pool", inputs="x", outputs="*outs",
       attrs={**_POOL_ATTRS, "storage_order": attr("int", 0),
              "with_indices": attr("bool", False)},
       doc="N-d max pooling (ONNX MaxPool); with_indices adds the i64 flat argmax output")
class MaxPool:
    def infer(ins, attrs):
        y = _pool_infer(ins, attrs, "max_pool")
        if y.dtype.kind not in ("float", "signed", "unsigned"):
            raise ShapeError(f"max_pool does not take {y.dtype}")
        return [y, y.with_dtype(dtypes.i64)] if attrs["with_indices"] else [y]

    def kernel(xs, attrs):
        return max_pool_nd(xs[0], attrs, attrs["with_indices"])


# ----- average and Lp pooling ------------------------------------------------------------------
def _window_divisor(attrs: dict, in_dims, kernel, strides, dilations, pads, out_dims,
                    dtype: np.dtype) -> np.ndarray:
    """How many elements each average-pooling window counts: those inside the input, or
    with count_include_pad also those in the explicit pads (never the ceil_mode overhang).
    Windows are boxes, so the count is a product of one 1-D count per axis."""
    sp = len(kernel)
    divisor = np.ones((1,) * sp, dtype)
    for a in range(sp):
        starts = np.arange(out_dims[a]) * strides[a] - pads[a]
        pos = starts[:, None] + np.arange(kernel[a]) * dilations[a]
        lo, hi = (-pads[a], in_dims[a] + pads[a + sp]) if attrs["count_include_pad"] else (
            0, in_dims[a])
        count = ((pos >= lo) & (pos < hi)).sum(axis=1)
        divisor = divisor * count.reshape((-1,) + (1,) * (sp - 1 - a)).astype(dtype)
    return np.maximum(divisor, 1)  # an all-padding window averages nothing: 0, not NaN


def _sum_pool(x: np.ndarray, attrs: dict, power: float | None):
    """Sum over every window of x (or of |x|^power), in the accumulation dtype."""
    geometry = kernel, strides, dilations, pads, out_dims = pool_geometry(attrs, x.shape[2:])
    xp = _pool_padded(x.astype(float_compute_dtype(x.dtype), copy=False), *geometry, 0)
    if power is not None:
        xp = xp * xp if power == 2 else np.abs(xp) ** power
    views = tap_views(xp, kernel, strides, dilations, out_dims)
    total = next(views).copy()
    for view in views:
        total += view
    return total, geometry


@defop("nn.avg_pool", inputs="x",
       attrs={**_POOL_ATTRS, "count_include_pad": attr("bool", False)},
       doc="N-d average pooling (ONNX AveragePool)")
class AvgPool:
    def infer(ins, attrs):
        return _float_pool_infer(ins, attrs, "avg_pool")

    def kernel(xs, attrs):
        x = xs[0]
        total, geometry = _sum_pool(x, attrs, None)
        divisor = _window_divisor(attrs, x.shape[2:], *geometry, total.dtype)
        total /= divisor
        return total.astype(x.dtype, copy=False)


@defop("nn.lp_pool", inputs="x", attrs={**_POOL_ATTRS, "p": attr("float", 2.0)},
       doc="N-d Lp pooling (ONNX LpPool): (sum over the window of |x|^p)^(1/p)")
class LpPool:
    def infer(ins, attrs):
        return _float_pool_infer(ins, attrs, "lp_pool")

    def kernel(xs, attrs):
        total, _ = _sum_pool(xs[0], attrs, attrs["p"])
        p = attrs["p"]
        return (np.sqrt(total) if p == 2 else total ** (1.0 / p)).astype(xs[0].dtype, copy=False)


# ----- global pooling --------------------------------------------------------------------------
def _global_infer(ins, op: str, float_only: bool = True) -> list[TensorType]:
    x = ins[0].type
    if x.shape is None:
        return [TensorType(x.dtype, None)]
    check_rank(x, op)
    if float_only:
        check_float(x, op)
    return [TensorType(x.dtype, (*x.shape[:2],) + (1,) * (x.rank - 2))]


@defop("nn.global_avg_pool", inputs="x", doc="mean over all spatial dims (keeps them as 1)")
class GlobalAvgPool:
    def infer(ins, attrs):
        return _global_infer(ins, "global_avg_pool")

    def kernel(xs, attrs):
        x = xs[0]
        axes = tuple(range(2, x.ndim))
        return x.mean(axis=axes, keepdims=True, dtype=float_compute_dtype(x.dtype)).astype(
            x.dtype, copy=False)


@defop("nn.global_max_pool", inputs="x", doc="max over all spatial dims (keeps them as 1)")
class GlobalMaxPool:
    def infer(ins, attrs):
        return _global_infer(ins, "global_max_pool", float_only=False)

    def kernel(xs, attrs):
        return xs[0].max(axis=tuple(range(2, xs[0].ndim)), keepdims=True)


@defop("nn.global_lp_pool", inputs="x", attrs={"p": attr("float", 2.0)},
       doc="(sum over all spatial dims of |x|^p)^(1/p), keeping them as 1")
class GlobalLpPool:
    def infer(ins, attrs):
        return _global_infer(ins, "global_lp_pool")

    def kernel(xs, attrs):
        x, p = xs[0], attrs["p"]
        acc = np.abs(x.astype(float_compute_dtype(x.dtype), copy=False))
        total = (acc ** p).sum(axis=tuple(range(2, x.ndim)), keepdims=True)
        return (total ** (1.0 / p)).astype(x.dtype, copy=False)


# ----- unpooling -------------------------------------------------------------------------------
def _unpool_geometry(attrs: dict) -> tuple[tuple, tuple, tuple]:
    """(kernel, strides, pads) of max_unpool, defaults filled in."""
    kernel = tuple(attrs["kernel_shape"])
    strides, _, pads = spatial_attrs({**attrs, "dilations": ()}, len(kernel))
    return kernel, strides, pads


def unpool_dims(in_dims: Sequence[Dim], kernel: Sequence[int], strides: Sequence[int],
                pads: Sequence[int]) -> tuple[Dim, ...]:
    sp = len(kernel)
    return tuple((d - 1) * strides[i] - pads[i] - pads[i + sp] + kernel[i]
                 if isinstance(d, int) else None for i, d in enumerate(in_dims))


@defop("nn.max_unpool", inputs="x, indices, output_shape?",
       attrs={"kernel_shape": attr("ints"), "strides": attr("ints", ()),
              "pads": attr("ints", ()), "output_shape": attr("ints", ())},
       doc="ONNX MaxUnpool: scatter x to the flat positions max_pool's indices name (within "
           "the unpooled size), zeros elsewhere; a larger output_shape pads at the end")
class MaxUnpool:
    def infer(ins, attrs):
        x, shape_input = ins[0].type, padded(ins, 3)[2]
        if ins[1].type.dtype != dtypes.i64:
            raise ShapeError(f"max_unpool indices must be i64, got {ins[1].type.dtype}")
        if attrs["output_shape"]:
            return [TensorType(x.dtype, tuple(attrs["output_shape"]))]
        if shape_input is not None:
            n = static_len(shape_input)
            return [TensorType(x.dtype, None if n is None else (None,) * n)]
        if x.shape is None:
            return [TensorType(x.dtype, None)]
        dims = unpool_dims(x.shape[2:], *_unpool_geometry(attrs))
        return [TensorType(x.dtype, (*x.shape[:2], *dims))]

    def kernel(xs, attrs):
        x, indices, shape_input = padded(xs, 3)
        natural = x.shape[:2] + unpool_dims(x.shape[2:], *_unpool_geometry(attrs))
        flat = np.zeros(math.prod(natural), dtype=x.dtype)
        flat[indices.reshape(-1)] = x.reshape(-1)
        out = flat.reshape(natural)
        wanted = tuple(attrs["output_shape"]) or (
            tuple(int(v) for v in shape_input) if shape_input is not None else natural)
        if wanted == natural:
            return out
        if len(wanted) != len(natural) or any(w < d for w, d in zip(wanted, natural, strict=True)):
            raise ShapeError(f"max_unpool output_shape {list(wanted)} is smaller than the "
                             f"unpooled shape {list(natural)}")
        return window_of(out, (0,) * len(wanted), wanted)
