"""``nn.resize``: ONNX Resize with every coordinate mode, nearest / linear / cubic
interpolation and antialiasing.  Resizing is separable: one interpolation matrix (or one
gather, for nearest) per resized axis."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.types import TensorType
from leptonc.ops.infer_utils import check_choice, input_at, normalize_axis
from leptonc.ops.numeric import float_compute_dtype
from leptonc.ops.registry import attr, defop

RESIZE_MODES = ("nearest", "linear", "cubic")
COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                    "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


# ----- output sizes ----------------------------------------------------------------------------
def resize_plan(in_shape: Sequence[int], axes: Sequence[int], scales: Sequence[float] | None,
                sizes: Sequence[int] | None, policy: str) -> dict[int, tuple[float, int, float]]:
    """{axis: (scale, output size, fractional output length)} for the resized axes (ONNX
    rules: scales floor the size; sizes define the scale, or one common scale under
    keep_aspect_ratio_policy)."""
    if sizes is not None:
        if len(sizes) != len(axes):
            raise ShapeError(f"resize got {len(sizes)} sizes for {len(axes)} axes")
        ratios = [s / in_shape[a] if in_shape[a] else 1.0 for a, s in zip(axes, sizes, strict=True)]
        if policy == "stretch":
            return {a: (r, int(s), float(s)) for a, r, s in zip(axes, ratios, sizes, strict=True)}
        if policy not in ("not_larger", "not_smaller"):
            raise ShapeError(f"unknown keep_aspect_ratio_policy '{policy}'")
        scale = min(ratios) if policy == "not_larger" else max(ratios)
        return {a: (scale, int(scale * in_shape[a] + 0.5), scale * in_shape[a]) for a in axes}
    if scales is None or len(scales) != len(axes):
        raise ShapeError(f"resize needs one scale or size per resized axis ({len(axes)})")
    if min(scales) <= 0:
        raise ShapeError(f"resize scales must be positive, got {list(scales)}")
    # the size is floor(scale * in) in f32 arithmetic, as ONNX Runtime computes it (so that a
    # scale of 0.7f takes 10 to 7, not to 6.9999999 -> 6)
    return {a: (float(s), int(np.floor(np.float32(s) * np.float32(in_shape[a]))),
                float(s) * in_shape[a]) for a, s in zip(axes, scales, strict=True)}


def _resize_axes(attrs: dict, rank: int) -> tuple[int, ...]:
    axes = tuple(normalize_axis(a, rank) for a in attrs["axes"]) or tuple(range(rank))
    if len(set(axes)) != len(axes):
        raise ShapeError(f"resize axes {list(attrs['axes'])} repeat an axis")
    return axes


def _resized_shape(ins: list, attrs: dict, shape: tuple) -> tuple:
    """Output dims as far as they are known: resized axes need static scales or sizes (and
    a static input dim for scales or aspect-ratio policies); scale 1 keeps any dim."""
    axes = _resize_axes(attrs, len(shape))
    dynamic = any(input_at(ins, i) is not None for i in (2, 3))
    scales, sizes = attrs["scales"], attrs["sizes"]
    if dynamic or not (scales or sizes):
        return tuple(None if i in axes else d for i, d in enumerate(shape))
    out = list(shape)
    static = all(isinstance(shape[a], int) for a in axes)
    if static:
        plan = resize_plan(shape, axes, scales or None, sizes or None,
                           attrs["keep_aspect_ratio_policy"])
        for a, (_, size, _) in plan.items():
            out[a] = size
    elif sizes and attrs["keep_aspect_ratio_policy"] == "stretch":
        for a, size in zip(axes, sizes, strict=True):
            out[a] = size
    elif not sizes:
        for a, scale in zip(axes, scales, strict=True):
            if scale != 1.0:
                out[a] = None if not isinstance(shape[a], int) else int(
                    np.floor(np.float32(scale) * np.float32(shape[a])))
    else:
        for a in axes:
            out[a] = None
    return tuple(out)


# ----- sampling positions and weights ----------------------------------------------------------
def source_coords(mode: str, out_size: int, in_size: int, scale: float, length: float,
                  roi: tuple[float, float] | None) -> np.ndarray:
    """Where each output position samples the input (ONNX coordinate_transformation_mode).

    ``length`` is the fractional output length in_size * scale, as ONNX defines it; it
    differs from the integer ``out_size`` when scales (not sizes) were given.  ONNX Runtime
    uses the integer size for align_corners; leptonc follows the ONNX reference.
    """
    i = np.arange(out_size, dtype=np.float64)
    if mode == "half_pixel":
        return (i + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        return in_size / 2 * (1 - out_size / length) + (i + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (i + 0.5) / scale - 0.5 if not math.isclose(length, 1) else np.zeros(out_size)
    if mode == "align_corners":
        if math.isclose(length, 1):
            return np.zeros(out_size)
        return i * (in_size - 1) / (length - 1)
    if mode == "asymmetric":
        return i / scale
    if mode == "tf_half_pixel_for_nn":
        return (i + 0.5) / scale
    if mode == "tf_crop_and_resize":
        start, end = roi
        if math.isclose(length, 1):
            return np.full(out_size, (start + end) / 2 * (in_size - 1))
        return start * (in_size - 1) + i * (end - start) * (in_size - 1) / (length - 1)
    raise ShapeError(f"unknown coordinate_transformation_mode '{mode}'")


def nearest_index(coords: np.ndarray, mode: str, in_size: int) -> np.ndarray:
    if mode == "round_prefer_floor":
        idx = np.ceil(coords - 0.5)
    elif mode == "round_prefer_ceil":
        idx = np.floor(coords + 0.5)
    elif mode == "floor":
        idx = np.floor(coords)
    elif mode == "ceil":
        idx = np.ceil(coords)
    else:
        raise ShapeError(f"unknown nearest_mode '{mode}'")
    return np.clip(idx, 0, in_size - 1).astype(np.intp)


def cubic_kernel(t: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with coefficient ``a``."""
    t = np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def interpolation_matrix(coords: np.ndarray, in_size: int, attrs: dict, scale: float
                         ) -> np.ndarray:
    """[out, in] weights of linear/cubic interpolation at ``coords``, edge-clamped.

    Antialiasing (when downscaling) stretches the kernel by 1/scale and renormalises, as
    ONNX Resize-18 specifies; exclude_outside drops taps outside the input and renormalises.
    """
    support = 1.0 if attrs["mode"] == "linear" else 2.0
    stretch = min(scale, 1.0) if attrs["antialias"] else 1.0
    first = math.floor(-support / stretch) + 1
    offsets = np.arange(first, 1 - first + 1)
    base = np.floor(coords)
    taps = base[:, None] + offsets[None, :]
    t = (taps - coords[:, None]) * stretch
    if attrs["mode"] == "linear":
        weights = np.clip(1 - np.abs(t), 0, None)
    else:
        weights = cubic_kernel(t, attrs["cubic_coeff_a"])
    if attrs["exclude_outside"]:
        weights = np.where((taps < 0) | (taps >= in_size), 0.0, weights)
    if attrs["antialias"] or attrs["exclude_outside"]:
        total = weights.sum(axis=1, keepdims=True)
        weights = weights / np.where(total == 0, 1.0, total)
    matrix = np.zeros((len(coords), in_size))
    rows = np.broadcast_to(np.arange(len(coords))[:, None], taps.shape)
    np.add.at(matrix, (rows, np.clip(taps, 0, in_size - 1).astype(np.intp)), weights)
    return matrix


# ----- the kernel ------------------------------------------------------------------------------
def resize_axis(x: np.ndarray, axis: int, plan: tuple[float, int, float], attrs: dict,
                roi: tuple[float, float] | None) -> np.ndarray:
    """Resize one axis of float ``x`` (resizing is separable: one axis after another)."""
    in_size, (scale, out_size, length) = x.shape[axis], plan
    mode = attrs["coordinate_transformation_mode"]
    coords = source_coords(mode, out_size, in_size, scale, length, roi)
    if attrs["mode"] == "nearest":
        y = np.take(x, nearest_index(coords, attrs["nearest_mode"], in_size), axis=axis)
    else:
        matrix = interpolation_matrix(coords, in_size, attrs, scale).astype(x.dtype)
        y = np.moveaxis(np.matmul(np.moveaxis(x, axis, -1), matrix.T), -1, axis)
    if mode == "tf_crop_and_resize":
        outside = (coords < 0) | (coords > in_size - 1)
        if outside.any():
            shape = [1] * x.ndim
            shape[axis] = out_size
            y = np.where(outside.reshape(shape), np.asarray(attrs["extrapolation_value"],
                                                            y.dtype), y)
    return y


def _input_or_attr(xs: list, i: int, attrs: dict, name: str, kind: Callable) -> list | None:
    """Input ``i`` as a list when given and non-empty (ONNX passes empty tensors for
    'absent'), else the attribute ``name``, else None."""
    v = input_at(xs, i)
    if v is not None and v.size:
        return [kind(d) for d in v]
    return list(attrs[name]) or None


def _resize_roi(attrs: dict, xs: list, axes: Sequence[int]):
    """{axis: (start, end)} for tf_crop_and_resize (roi is [starts..., ends...] over axes)."""
    if attrs["coordinate_transformation_mode"] != "tf_crop_and_resize":
        return {}
    values = _input_or_attr(xs, 1, attrs, "roi", float) or []
    if len(values) != 2 * len(axes):
        raise ShapeError(f"tf_crop_and_resize needs a roi of {2 * len(axes)} values, got "
                         f"{len(values)}")
    return {a: (values[i], values[i + len(axes)]) for i, a in enumerate(axes)}


def cast_result(y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast a float result to ``dtype``; integers round half to even and saturate."""
    dtype = np.dtype(dtype)
    if y.dtype == dtype:
        return y
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(y), info.min, info.max).astype(dtype)
    return y.astype(dtype, copy=False)


@defop("nn.resize", inputs="x, roi?, scales?, sizes?",
       attrs={"mode": attr("str", "nearest"),
              "coordinate_transformation_mode": attr("str", "half_pixel"),
              "nearest_mode": attr("str", "round_prefer_floor"),
              "cubic_coeff_a": attr("float", -0.75), "exclude_outside": attr("bool", False),
              "extrapolation_value": attr("float", 0.0), "antialias": attr("bool", False),
              "axes": attr("ints", ()), "keep_aspect_ratio_policy": attr("str", "stretch"),
              "scales": attr("floats", ()), "sizes": attr("ints", ()), "roi": attr("floats", ())},
       doc="ONNX Resize (nearest / linear / cubic, every coordinate mode, antialias); scales, "
           "sizes and roi are attributes, or inputs when computed at run time")
class Resize:
    def infer(ins, attrs):
        x = ins[0].type
        check_choice(attrs["mode"], RESIZE_MODES, "resize mode")
        check_choice(attrs["nearest_mode"], NEAREST_MODES, "nearest_mode")
        check_choice(attrs["coordinate_transformation_mode"], COORDINATE_MODES,
                     "coordinate_transformation_mode")
        if x.shape is None:
            return [TensorType(x.dtype, None)]
        return [TensorType(x.dtype, _resized_shape(ins, attrs, x.shape))]

    def kernel(xs, attrs):
        x = xs[0]
        axes = _resize_axes(attrs, x.ndim)
        scales = _input_or_attr(xs, 2, attrs, "scales", float)
        sizes = _input_or_attr(xs, 3, attrs, "sizes", int)
        plan = resize_plan(x.shape, axes, None if sizes else scales, sizes,
                           attrs["keep_aspect_ratio_policy"])
        rois = _resize_roi(attrs, xs, axes)
        y = x.astype(float_compute_dtype(x.dtype), copy=False) if attrs["mode"] != "nearest" else x
        for axis in axes:
            scale, size, _ = plan[axis]
            if size == x.shape[axis] and scale == 1.0 and axis not in rois:
                continue
            y = resize_axis(y, axis, plan[axis], attrs, rois.get(axis))
        return cast_result(y, x.dtype)
