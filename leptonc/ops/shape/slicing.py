"""Cutting windows out of a tensor and growing it at its borders: slice, pad,
center_crop_pad."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ops.infer_utils import input_at
from leptonc.ops.registry import attr, defop
from leptonc.ops.shape.common import (
    axes_or_all,
    known_param,
    normalize_axes,
    param_length,
    runtime_param,
    unknown_like,
)


# ----- slice --------------------------------------------------------------------------------------
def slice_bounds(dim: int, start: int, end: int, step: int) -> tuple[int, int, int]:
    """ONNX Slice bounds clamped to ``dim``: (start, end, length); end is -1 only when a
    negative step runs past index 0."""
    if step == 0:
        raise ShapeError("slice step cannot be 0")
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        return start, end, max(0, -(-(end - start) // step))
    start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return start, end, max(0, -(-(start - end) // -step))


# An end this large means "to the end" (models write INT32_MAX or INT64_MAX): it keeps a
# symbolic dim whole, as no real dim comes near it.
_TO_THE_END = 2**31 - 1


def _slice_axes(ins, attrs, rank: int) -> tuple[int, ...] | None:
    axes = known_param(ins, 3, attrs, "axes")
    if axes is None:
        return None
    if not axes and input_at(ins, 3) is None:
        n = param_length(ins, 1, attrs, "starts")
        return None if n is None else tuple(range(n))
    return normalize_axes(axes, rank)


def _check_lengths(starts: Sequence[int], ends: Sequence[int], axes: Sequence[int],
                   steps: Sequence[int]) -> None:
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ShapeError("starts, ends, axes and steps differ in length")


@defop("shape.slice", inputs="x, starts?, ends?, axes?, steps?",
       attrs={"starts": attr("ints", ()), "ends": attr("ints", ()), "axes": attr("ints", ()),
              "steps": attr("ints", ())},
       doc="ONNX Slice: x[starts:ends:steps] along axes (default: the first len(starts) axes); "
           "negative bounds count from the end, out-of-range bounds clamp")
class Slice:
    def infer(ins, attrs):
        x = ins[0].type
        if x.shape is None:
            return [unknown_like(x)]
        axes = _slice_axes(ins, attrs, x.rank)
        if axes is None:
            return [unknown_like(x)]
        starts, ends = known_param(ins, 1, attrs, "starts"), known_param(ins, 2, attrs, "ends")
        steps = known_param(ins, 4, attrs, "steps")
        if steps == () and input_at(ins, 4) is None:
            steps = (1,) * len(axes)
        if starts is None or ends is None or steps is None:
            return [x.with_shape(tuple(None if i in axes else d for i, d in enumerate(x.shape)))]
        _check_lengths(starts, ends, axes, steps)
        dims = list(x.shape)
        for a, start, end, step in zip(axes, starts, ends, steps, strict=True):
            if isinstance(dims[a], int):
                dims[a] = slice_bounds(dims[a], start, end, step)[2]
            elif not (start == 0 and end >= _TO_THE_END and step == 1):
                dims[a] = None
        return [x.with_shape(tuple(dims))]

    def kernel(xs, attrs):
        x = xs[0]
        starts, ends = runtime_param(xs, 1, attrs, "starts"), runtime_param(xs, 2, attrs, "ends")
        axes = runtime_param(xs, 3, attrs, "axes") or tuple(range(len(starts)))
        steps = runtime_param(xs, 4, attrs, "steps") or (1,) * len(starts)
        _check_lengths(starts, ends, axes, steps)
        index = [slice(None)] * x.ndim
        for a, start, end, step in zip(normalize_axes(axes, x.ndim), starts, ends, steps,
                                       strict=True):
            lo, hi, _ = slice_bounds(x.shape[a], start, end, step)
            index[a] = slice(lo, None if hi < 0 else hi, step)
        return x[tuple(index)]


# ----- pad ----------------------------------------------------------------------------------------
def full_pads(pads: Sequence[int], axes: Sequence[int], rank: int) -> tuple[int, ...]:
    """ONNX pads for ``axes`` ([begins..., ends...]) as pads for every axis (empty: all axes)."""
    axes = axes_or_all(axes, rank)
    if len(pads) != 2 * len(axes):
        raise ShapeError(f"{len(pads)} pads do not fit {len(axes)} axes")
    out = [0] * (2 * rank)
    for i, a in enumerate(axes):
        out[a], out[a + rank] = pads[i], pads[i + len(axes)]
    return tuple(out)


_PAD_MODES = ("constant", "reflect", "edge", "wrap")


@defop("shape.pad", inputs="x, pads?, value?, axes?",
       attrs={"pads": attr("ints", ()), "mode": attr("str", "constant"),
              "value": attr("float", 0.0), "axes": attr("ints", ())},
       doc="ONNX Pad: pads=[begin_0.., end_0..] for `axes` (default all; negative pads crop); "
           "mode constant (fill `value`), reflect, edge or wrap")
class Pad:
    def infer(ins, attrs):
        x = ins[0].type
        if attrs["mode"] not in _PAD_MODES:
            raise ShapeError(f"unknown pad mode '{attrs['mode']}'")
        if x.shape is None:
            return [unknown_like(x)]
        axes = known_param(ins, 3, attrs, "axes")
        if axes is None:
            return [unknown_like(x)]
        pads = known_param(ins, 1, attrs, "pads")
        if pads is None:
            touched = axes_or_all(axes, x.rank)
            return [x.with_shape(tuple(None if i in touched else d for i, d in enumerate(x.shape)))]
        pads = full_pads(pads, axes, x.rank)
        dims = tuple(d + pads[i] + pads[i + x.rank] if isinstance(d, int) else (
            d if pads[i] == pads[i + x.rank] == 0 else None) for i, d in enumerate(x.shape))
        return [x.with_shape(dims)]

    def kernel(xs, attrs):
        x = xs[0]
        pads = full_pads(runtime_param(xs, 1, attrs, "pads"), runtime_param(xs, 3, attrs, "axes"),
                         x.ndim)
        begins, ends = pads[:x.ndim], pads[x.ndim:]
        crop = tuple(slice(max(-b, 0), d - max(-e, 0)) for b, e, d in zip(begins, ends, x.shape,
                                                                            strict=True))
        x = x[crop]
        widths = [(max(b, 0), max(e, 0)) for b, e in zip(begins, ends, strict=True)]
        if attrs["mode"] != "constant":
            return np.pad(x, widths, mode=attrs["mode"])
        value = xs[2] if input_at(xs, 2) is not None else attrs["value"]
        fill = np.asarray(value).reshape(-1)[0] if np.size(value) else 0
        return np.pad(x, widths, mode="constant", constant_values=np.asarray(fill).astype(x.dtype))


# ----- center_crop_pad ----------------------------------------------------------------------------
def _crop_axes(axes: Sequence[int], rank: int, target: Sequence[int] | None) -> tuple[int, ...]:
    """The axes center_crop_pad resizes (empty: all), checked against the target sizes."""
    axes = axes_or_all(axes, rank)
    if target is not None and len(target) != len(axes):
        raise ShapeError(f"shape {list(target)} does not fit axes {list(axes)}")
    return axes


@defop("shape.center_crop_pad", inputs="x, shape?",
       attrs={"shape": attr("ints", ()), "axes": attr("ints", ())},
       doc="crop or zero-pad `axes` (default all) to `shape`, centred (the odd extra element "
           "goes to the end)")
class CenterCropPad:
    def infer(ins, attrs):
        x = ins[0].type
        if x.shape is None:
            return [unknown_like(x)]
        target = known_param(ins, 1, attrs, "shape")
        axes = _crop_axes(attrs["axes"], x.rank, target)
        dims = list(x.shape)
        for i, a in enumerate(axes):
            dims[a] = None if target is None else target[i]
        return [x.with_shape(tuple(dims))]

    def kernel(xs, attrs):
        x = xs[0]
        target = runtime_param(xs, 1, attrs, "shape")
        axes = _crop_axes(attrs["axes"], x.ndim, target)
        out_shape, src, dst = list(x.shape), [slice(None)] * x.ndim, [slice(None)] * x.ndim
        for a, size in zip(axes, target, strict=True):
            dim, out_shape[a] = x.shape[a], size
            offset = abs(dim - size) // 2
            window = slice(offset, offset + min(dim, size))
            src[a], dst[a] = (window, slice(None)) if dim > size else (slice(None), window)
        out = np.zeros(out_shape, dtype=x.dtype)
        out[tuple(dst)] = x[tuple(src)]
        return out
