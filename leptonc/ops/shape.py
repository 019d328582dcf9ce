"""Shape and data-movement ops (``shape.*``): reshape, transpose, slice, gather, concat,
split, expand, squeeze/unsqueeze, pad, tile, scatter, top-k, unique, ...

Ops whose result shape depends on a list of ints (reshape's target shape, slice bounds,
pads, repeats, k...) take it in one of two forms: an attribute, when the frontend knows it at
compile time (so passes and targets see it), or an optional tensor input computed at run time,
which then wins over the attribute.  Inference reads constant inputs and leaves the affected
dims unknown (``?``) when the input is computed at run time.  Ops whose output size depends on
the data (nonzero, unique) always have unknown dims there.

Kernels keep the input's dtype: integer, bool and string (numpy object) tensors pass through.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.graph import Value
from leptonc.ir.types import Dim, TensorType
from leptonc.ops.infer_utils import broadcast_shapes, const_ints, normalize_axis
from leptonc.ops.registry import attr, defop

_INT64 = np.int64


# ----- parameters given as attribute or as run-time tensor ----------------------------------------
def _input(items: Sequence, index: int):
    """Optional input ``index`` (None when omitted or past the end of the list)."""
    return items[index] if index < len(items) else None


def known_param(ins: Sequence[Value | None], index: int, attrs: dict, key: str
                ) -> tuple[int, ...] | None:
    """An int-list parameter at compile time: tensor input ``index`` when given (None while it is
    computed at run time), else attribute ``key``."""
    v = _input(ins, index)
    if v is None:
        return None if attrs[key] is None else tuple(attrs[key])
    ints = const_ints(v)
    return None if ints is None else tuple(ints)


def param_length(ins: Sequence[Value | None], index: int, attrs: dict, key: str) -> int | None:
    """How many entries the parameter has; a run-time tensor's static length counts."""
    v = _input(ins, index)
    if v is None:
        return None if attrs[key] is None else len(attrs[key])
    shape = v.type.shape
    if shape == ():
        return 1
    if shape is not None and len(shape) == 1 and isinstance(shape[0], int):
        return shape[0]
    return None


def runtime_param(xs: Sequence[np.ndarray | None], index: int, attrs: dict, key: str
                  ) -> tuple[int, ...] | None:
    """The parameter's value while running: the tensor input when given, else the attribute."""
    x = _input(xs, index)
    if x is None:
        return None if attrs[key] is None else tuple(attrs[key])
    return tuple(int(v) for v in np.asarray(x).reshape(-1))


def _known_scalar(ins: Sequence[Value | None], index: int, attrs: dict, key: str) -> int | None:
    """A one-int parameter at compile time (see ``known_param``)."""
    v = _input(ins, index)
    if v is None:
        return attrs[key]
    ints = const_ints(v)
    if ints is not None and len(ints) != 1:
        raise ShapeError(f"'{key}' must hold one value, got {ints}")
    return None if ints is None else ints[0]


def _runtime_scalar(xs: Sequence[np.ndarray | None], index: int, attrs: dict, key: str) -> int:
    x = _input(xs, index)
    if x is not None:
        return int(np.asarray(x).reshape(-1)[0])
    if attrs[key] is None:
        raise ShapeError(f"'{key}' is neither an attribute nor an input")
    return int(attrs[key])


# ----- dims ---------------------------------------------------------------------------------------
def _scale_dim(d: Dim, factor: int) -> Dim:
    if isinstance(d, int):
        return d * factor
    return d if factor == 1 else None


def _merge_dims(dims: Sequence[Dim], what: str) -> Dim:
    """The one dim several inputs must share: a static one wins, then a common symbol."""
    static = {d for d in dims if isinstance(d, int)}
    if len(static) > 1:
        raise ShapeError(f"{what}: dims {sorted(static)} differ")
    if static:
        return static.pop()
    symbols = {d for d in dims if isinstance(d, str)}
    return symbols.pop() if len(symbols) == 1 else None


def _sum_dims(dims: Sequence[Dim]) -> Dim:
    return sum(dims) if all(isinstance(d, int) for d in dims) else None


def _normalize_axes(axes: Sequence[int], rank: int, what: str = "axes") -> tuple[int, ...]:
    out = tuple(normalize_axis(a, rank, what) for a in axes)
    if len(set(out)) != len(out):
        raise ShapeError(f"{what} {list(axes)} repeat an axis")
    return out


_SAME_RANK = -1


def _unknown(t: TensorType, rank: int | None = _SAME_RANK) -> TensorType:
    """``t``'s dtype with unknown dims: of ``rank`` (default: t's own rank; None: unknown)."""
    rank = t.rank if rank == _SAME_RANK else rank
    return TensorType(t.dtype, None if rank is None else (None,) * rank)


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
        return np.array(xs[0].shape[attrs["start"]:attrs["end"]], dtype=_INT64)


@defop("shape.size", inputs="x", doc="the input's element count as an i64 scalar")
class Size:
    def infer(ins, attrs):
        return [TensorType(dtypes.i64, ())]

    def kernel(xs, attrs):
        return np.array(xs[0].size, dtype=_INT64)


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
            return [_unknown(x)]
        if axes is None:
            n = param_length(ins, 1, attrs, "axes")
            return [_unknown(x, None if not n else x.rank - n)]
        if not axes:
            if not x.is_static:
                return [_unknown(x, None)]  # which dims are 1 is known only at run time
            return [x.with_shape(tuple(d for d in x.shape if d != 1))]
        axes = _normalize_axes(axes, x.rank)
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
            return [_unknown(x, None)]
        if axes is None:
            return [_unknown(x, x.rank + n)]
        axes = _normalize_axes(axes, x.rank + n)
        dims = iter(x.shape)
        return [x.with_shape(tuple(1 if i in axes else next(dims) for i in range(x.rank + n)))]

    def kernel(xs, attrs):
        return np.expand_dims(xs[0], axis=runtime_param(xs, 1, attrs, "axes"))


def _check_block_layout(x: TensorType, blocksize: int) -> None:
    if x.rank is not None and x.rank != 4:
        raise ShapeError(f"expects a rank-4 [N, C, H, W] input, got {x}")
    if blocksize < 1:
        raise ShapeError(f"blocksize must be positive, got {blocksize}")


def _check_mode(mode: str) -> None:
    if mode not in ("DCR", "CRD"):
        raise ShapeError(f"mode must be DCR or CRD, got '{mode}'")


def _exact_div(d: Dim, divisor: int, what: str) -> Dim:
    if not isinstance(d, int):
        return None
    if d % divisor:
        raise ShapeError(f"{what} {d} is not divisible by {divisor}")
    return d // divisor


@defop("shape.depth_to_space", inputs="x",
       attrs={"blocksize": attr("int"), "mode": attr("str", "DCR")},
       doc="move channel blocks into b x b spatial tiles ([N,C,H,W] -> [N,C/b²,H*b,W*b]); "
           "DCR: depth-column-row channel order, CRD: column-row-depth")
class DepthToSpace:
    def infer(ins, attrs):
        x, b = ins[0].type, attrs["blocksize"]
        _check_block_layout(x, b)
        _check_mode(attrs["mode"])
        if x.shape is None:
            return [_unknown(x, 4)]
        n, c, h, w = x.shape
        return [x.with_shape((n, _exact_div(c, b * b, "channels"), _scale_dim(h, b),
                              _scale_dim(w, b)))]

    def kernel(xs, attrs):
        x, b = xs[0], attrs["blocksize"]
        n, c, h, w = x.shape
        if attrs["mode"] == "DCR":
            tiles = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            tiles = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        return tiles.reshape(n, c // (b * b), h * b, w * b)


@defop("shape.space_to_depth", inputs="x",
       attrs={"blocksize": attr("int"), "mode": attr("str", "DCR")},
       doc="inverse of depth_to_space ([N,C,H,W] -> [N,C*b²,H/b,W/b])")
class SpaceToDepth:
    def infer(ins, attrs):
        x, b = ins[0].type, attrs["blocksize"]
        _check_block_layout(x, b)
        _check_mode(attrs["mode"])
        if x.shape is None:
            return [_unknown(x, 4)]
        n, c, h, w = x.shape
        return [x.with_shape((n, _scale_dim(c, b * b), _exact_div(h, b, "height"),
                              _exact_div(w, b, "width")))]

    def kernel(xs, attrs):
        x, b = xs[0], attrs["blocksize"]
        n, c, h, w = x.shape
        tiles = x.reshape(n, c, h // b, b, w // b, b)
        perm = (0, 3, 5, 1, 2, 4) if attrs["mode"] == "DCR" else (0, 1, 3, 5, 2, 4)
        return tiles.transpose(perm).reshape(n, c * b * b, h // b, w // b)


# ----- joining and splitting ----------------------------------------------------------------------
@defop("shape.concat", inputs="*xs", attrs={"axis": attr("int")},
       doc="join tensors along `axis` (the other dims must agree)")
class Concat:
    def infer(ins, attrs):
        if not ins:
            raise ShapeError("concat needs at least one input")
        types = [v.type for v in ins]
        if len({t.dtype for t in types}) > 1:
            raise ShapeError(f"input dtypes differ: {', '.join(str(t.dtype) for t in types)}")
        shapes = [t.shape for t in types if t.shape is not None]
        if not shapes:
            return [_unknown(types[0])]
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ShapeError(f"input ranks differ: {[len(s) for s in shapes]}")
        axis = normalize_axis(attrs["axis"], rank)
        complete = len(shapes) == len(types)
        dims = [(_sum_dims([s[i] for s in shapes]) if complete else None) if i == axis
                else _merge_dims([s[i] for s in shapes], f"concat dim {i}") for i in range(rank)]
        return [TensorType(types[0].dtype, tuple(dims))]

    def kernel(xs, attrs):
        return np.concatenate(xs, axis=attrs["axis"])


def split_sizes(dim: int, num_outputs: int) -> list[int]:
    """ONNX's equal split: ceil(dim / n) per output, the last one smaller when uneven."""
    chunk = -(-dim // num_outputs)
    last = dim - chunk * (num_outputs - 1)
    if last < 0:
        raise ShapeError(f"cannot split {dim} into {num_outputs} parts")
    return [chunk] * (num_outputs - 1) + [last]


@defop("shape.split", inputs="x, split?", outputs="*ys",
       attrs={"axis": attr("int", 0), "split": attr("ints", ()), "num_outputs": attr("int", 0)},
       doc="cut `x` along `axis` into parts of lengths `split` (or `num_outputs` equal parts, "
           "the last one smaller when uneven)")
class Split:
    def infer(ins, attrs):
        x = ins[0].type
        sizes = known_param(ins, 1, attrs, "split")
        count = len(sizes) if sizes else (attrs["num_outputs"] or param_length(ins, 1, attrs, "split"))
        if not count:
            raise ShapeError("split needs `split` sizes or `num_outputs`")
        if x.shape is None:
            return [_unknown(x)] * count
        axis = normalize_axis(attrs["axis"], x.rank)
        dim = x.shape[axis]
        if sizes == () and isinstance(dim, int):
            sizes = split_sizes(dim, count)
        if sizes and isinstance(dim, int) and sum(sizes) != dim:
            raise ShapeError(f"split sizes {list(sizes)} do not add up to dim {dim}")
        parts = sizes or [None] * count
        return [x.with_shape(x.shape[:axis] + (p,) + x.shape[axis + 1:]) for p in parts]

    def kernel(xs, attrs):
        x = xs[0]
        axis = attrs["axis"]
        sizes = runtime_param(xs, 1, attrs, "split") or split_sizes(x.shape[axis],
                                                                     attrs["num_outputs"])
        return tuple(np.split(x, np.cumsum(sizes[:-1]), axis=axis))


# ----- slicing and padding ------------------------------------------------------------------------
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
    if not axes and _input(ins, 3) is None:
        n = param_length(ins, 1, attrs, "starts")
        return None if n is None else tuple(range(n))
    return _normalize_axes(axes, rank)


@defop("shape.slice", inputs="x, starts?, ends?, axes?, steps?",
       attrs={"starts": attr("ints", ()), "ends": attr("ints", ()), "axes": attr("ints", ()),
              "steps": attr("ints", ())},
       doc="ONNX Slice: x[starts:ends:steps] along axes (default: the first len(starts) axes); "
           "negative bounds count from the end, out-of-range bounds clamp")
class Slice:
    def infer(ins, attrs):
        x = ins[0].type
        if x.shape is None:
            return [_unknown(x)]
        axes = _slice_axes(ins, attrs, x.rank)
        if axes is None:
            return [_unknown(x)]
        starts, ends = known_param(ins, 1, attrs, "starts"), known_param(ins, 2, attrs, "ends")
        steps = known_param(ins, 4, attrs, "steps")
        if steps == () and _input(ins, 4) is None:
            steps = (1,) * len(axes)
        if starts is None or ends is None or steps is None:
            return [x.with_shape(tuple(None if i in axes else d for i, d in enumerate(x.shape)))]
        if not len(starts) == len(ends) == len(axes) == len(steps):
            raise ShapeError("starts, ends, axes and steps differ in length")
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
        if not len(starts) == len(ends) == len(axes) == len(steps):
            raise ShapeError("starts, ends, axes and steps differ in length")
        index = [slice(None)] * x.ndim
        for a, start, end, step in zip(_normalize_axes(axes, x.ndim), starts, ends, steps,
                                       strict=True):
            lo, hi, _ = slice_bounds(x.shape[a], start, end, step)
            index[a] = slice(lo, None if hi < 0 else hi, step)
        return x[tuple(index)]


def full_pads(pads: Sequence[int], axes: Sequence[int], rank: int) -> tuple[int, ...]:
    """ONNX pads for ``axes`` ([begins..., ends...]) as pads for every axis (empty: all axes)."""
    axes = _normalize_axes(axes, rank) if axes else tuple(range(rank))
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
            return [_unknown(x)]
        axes = known_param(ins, 3, attrs, "axes")
        if axes is None:
            return [_unknown(x)]
        pads = known_param(ins, 1, attrs, "pads")
        if pads is None:
            touched = _normalize_axes(axes, x.rank) if axes else range(x.rank)
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
        value = xs[2] if _input(xs, 2) is not None else attrs["value"]
        fill = np.asarray(value).reshape(-1)[0] if np.size(value) else 0
        return np.pad(x, widths, mode="constant", constant_values=np.asarray(fill).astype(x.dtype))


@defop("shape.center_crop_pad", inputs="x, shape?",
       attrs={"shape": attr("ints", ()), "axes": attr("ints", ())},
       doc="crop or zero-pad `axes` (default all) to `shape`, centred (the odd extra element "
           "goes to the end)")
class CenterCropPad:
    def infer(ins, attrs):
        x = ins[0].type
        if x.shape is None:
            return [_unknown(x)]
        axes = _normalize_axes(attrs["axes"], x.rank) if attrs["axes"] else tuple(range(x.rank))
        target = known_param(ins, 1, attrs, "shape")
        if target is not None and len(target) != len(axes):
            raise ShapeError(f"shape {list(target)} does not fit axes {list(axes)}")
        dims = list(x.shape)
        for i, a in enumerate(axes):
            dims[a] = None if target is None else target[i]
        return [x.with_shape(tuple(dims))]

    def kernel(xs, attrs):
        x = xs[0]
        axes = _normalize_axes(attrs["axes"], x.ndim) if attrs["axes"] else tuple(range(x.ndim))
        target = runtime_param(xs, 1, attrs, "shape")
        if len(target) != len(axes):
            raise ShapeError(f"shape {list(target)} does not fit axes {list(axes)}")
        out_shape, src, dst = list(x.shape), [slice(None)] * x.ndim, [slice(None)] * x.ndim
        for a, size in zip(axes, target, strict=True):
            dim, out_shape[a] = x.shape[a], size
            offset = abs(dim - size) // 2
            window = slice(offset, offset + min(dim, size))
            src[a], dst[a] = (window, slice(None)) if dim > size else (slice(None), window)
        out = np.zeros(out_shape, dtype=x.dtype)
        out[tuple(dst)] = x[tuple(src)]
        return out


# ----- broadcasting and repetition ----------------------------------------------------------------
@defop("shape.expand", inputs="x, shape?", attrs={"shape": attr("ints", ())},
       doc="broadcast x against `shape` (numpy rules in both directions, like ONNX Expand)")
class Expand:
    def infer(ins, attrs):
        x = ins[0].type
        target = known_param(ins, 1, attrs, "shape")
        if target is None:
            n = param_length(ins, 1, attrs, "shape")
            if n is None or x.shape is None:
                return [_unknown(x, None)]
            return [_unknown(x, max(n, x.rank))]
        return [x.with_shape(broadcast_shapes(x.shape, target))]

    def kernel(xs, attrs):
        x = xs[0]
        shape = np.broadcast_shapes(x.shape, runtime_param(xs, 1, attrs, "shape"))
        return np.array(np.broadcast_to(x, shape))


@defop("shape.tile", inputs="x, repeats?", attrs={"repeats": attr("ints", ())},
       doc="repeat x `repeats[i]` times along each axis i")
class Tile:
    def infer(ins, attrs):
        x = ins[0].type
        repeats = known_param(ins, 1, attrs, "repeats")
        if x.shape is None:
            return [_unknown(x)]
        if repeats is None:
            return [_unknown(x)]
        if len(repeats) != x.rank:
            raise ShapeError(f"{len(repeats)} repeats for a rank-{x.rank} input")
        return [x.with_shape(tuple(_scale_dim(d, r) for d, r in zip(x.shape, repeats,
                                                                     strict=True)))]

    def kernel(xs, attrs):
        x = xs[0]
        repeats = runtime_param(xs, 1, attrs, "repeats")
        if len(repeats) != x.ndim:
            raise ShapeError(f"{len(repeats)} repeats for a rank-{x.ndim} input")
        return np.tile(x, repeats)


# ----- indexing -----------------------------------------------------------------------------------
def _check_indices(t: TensorType, what: str = "indices") -> None:
    if not t.dtype.is_integer:
        raise ShapeError(f"{what} must be integers, got {t.dtype}")


def _wrap_negative(indices: np.ndarray, dim: int | np.ndarray) -> np.ndarray:
    """ONNX indices may count from the end; out-of-range ones still fail when used."""
    indices = indices.astype(np.int64, copy=False)
    return np.where(indices < 0, indices + dim, indices)


@defop("shape.gather", inputs="x, indices", attrs={"axis": attr("int", 0)},
       doc="take entries of x along `axis` (indices may be negative; any index shape)")
class Gather:
    def infer(ins, attrs):
        x, idx = ins[0].type, ins[1].type
        _check_indices(idx)
        if x.shape is None or idx.shape is None:
            return [_unknown(x, None)]
        axis = normalize_axis(attrs["axis"], x.rank)
        return [x.with_shape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])]

    def kernel(xs, attrs):
        x, idx = xs
        axis = attrs["axis"]
        return np.take(x, _wrap_negative(idx, x.shape[axis]), axis=axis)


@defop("shape.gather_elements", inputs="x, indices", attrs={"axis": attr("int", 0)},
       doc="y[i][j][k] = x[indices[i][j][k]][j][k] for axis 0 (take_along_axis)")
class GatherElements:
    def infer(ins, attrs):
        x, idx = ins[0].type, ins[1].type
        _check_indices(idx)
        if x.rank is not None and idx.rank is not None and x.rank != idx.rank:
            raise ShapeError(f"data {x} and indices {idx} differ in rank")
        if x.rank is not None:
            normalize_axis(attrs["axis"], x.rank)
        return [x.with_shape(idx.shape)]

    def kernel(xs, attrs):
        x, idx = xs
        axis = attrs["axis"]
        return np.take_along_axis(x, _wrap_negative(idx, x.shape[axis]), axis=axis)


@defop("shape.gather_nd", inputs="x, indices", attrs={"batch_dims": attr("int", 0)},
       doc="gather slices of x addressed by the last axis of `indices` (after batch_dims "
           "leading dims shared by both)")
class GatherND:
    def infer(ins, attrs):
        x, idx = ins[0].type, ins[1].type
        _check_indices(idx)
        b = attrs["batch_dims"]
        if x.shape is None or idx.shape is None or not isinstance(idx.shape[-1], int):
            return [_unknown(x, None)]
        depth = idx.shape[-1]
        if b + depth > x.rank or b >= idx.rank:
            raise ShapeError(f"indices {idx} address more dims than data {x} has")
        batch = tuple(_merge_dims([a, c], "batch dim") for a, c in zip(x.shape[:b], idx.shape[:b],
                                                                       strict=True))
        return [x.with_shape(batch + idx.shape[b:-1] + x.shape[b + depth:])]

    def kernel(xs, attrs):
        x, idx = xs
        b, depth = attrs["batch_dims"], idx.shape[-1]
        batch = math.prod(x.shape[:b])
        flat_x = x.reshape((batch,) + x.shape[b:])
        flat_idx = idx.reshape(batch, -1, depth)
        coords = [_wrap_negative(flat_idx[..., i], x.shape[b + i]) for i in range(depth)]
        rows = np.arange(batch).reshape(batch, 1)
        out = flat_x[(rows, *coords)]
        return out.reshape(idx.shape[:-1] + x.shape[b + depth:])


_SCATTER_REDUCTIONS = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _check_reduction(reduction: str) -> None:
    if reduction != "none" and reduction not in _SCATTER_REDUCTIONS:
        raise ShapeError(f"unknown scatter reduction '{reduction}'")


def _scatter(x: np.ndarray, index: tuple, updates: np.ndarray, reduction: str) -> np.ndarray:
    out = x.copy()
    if reduction == "none":
        out[index] = updates
    else:
        _SCATTER_REDUCTIONS[reduction].at(out, index, updates)
    return out


@defop("shape.scatter_elements", inputs="x, indices, updates",
       attrs={"axis": attr("int", 0), "reduction": attr("str", "none")},
       doc="copy of x with out[indices[i][j]][j] = updates[i][j] for axis 0 (reduction: "
           "none, add, mul, max, min combines duplicates and the old value)")
class ScatterElements:
    def infer(ins, attrs):
        x, idx, upd = (v.type for v in ins)
        _check_indices(idx)
        _check_reduction(attrs["reduction"])
        if upd.dtype != x.dtype:
            raise ShapeError(f"updates dtype {upd.dtype} differs from data dtype {x.dtype}")
        if x.rank is not None:
            normalize_axis(attrs["axis"], x.rank)
        return [x]

    def kernel(xs, attrs):
        x, idx, updates = xs
        axis = normalize_axis(attrs["axis"], x.ndim)
        grid = np.indices(idx.shape, sparse=True)
        index = tuple(_wrap_negative(idx, x.shape[axis]) if d == axis else grid[d]
                      for d in range(x.ndim))
        return _scatter(x, index, updates, attrs["reduction"])


@defop("shape.scatter_nd", inputs="x, indices, updates", attrs={"reduction": attr("str", "none")},
       doc="copy of x with the slices addressed by the last axis of `indices` replaced by "
           "(or combined with) `updates`")
class ScatterND:
    def infer(ins, attrs):
        x, idx, upd = (v.type for v in ins)
        _check_indices(idx)
        _check_reduction(attrs["reduction"])
        if upd.dtype != x.dtype:
            raise ShapeError(f"updates dtype {upd.dtype} differs from data dtype {x.dtype}")
        return [x]

    def kernel(xs, attrs):
        x, idx, updates = xs
        index = tuple(_wrap_negative(idx[..., i], x.shape[i]) for i in range(idx.shape[-1]))
        return _scatter(x, index, updates, attrs["reduction"])


@defop("shape.tensor_scatter", inputs="cache, update, write_indices?",
       attrs={"axis": attr("int", -2), "mode": attr("str", "linear")},
       doc="KV-cache write: copy of `cache` with `update` written along `axis` from "
           "write_indices[batch] on (modulo the cache length when mode is circular)")
class TensorScatter:
    def infer(ins, attrs):
        cache, update = ins[0].type, ins[1].type
        if attrs["mode"] not in ("linear", "circular"):
            raise ShapeError(f"unknown mode '{attrs['mode']}'")
        if update.dtype != cache.dtype:
            raise ShapeError(f"update dtype {update.dtype} differs from cache dtype {cache.dtype}")
        if cache.rank is not None:
            if normalize_axis(attrs["axis"], cache.rank) == 0:
                raise ShapeError("the sequence axis cannot be the batch axis 0")
        return [cache]

    def kernel(xs, attrs):
        cache, update = xs[0], xs[1]
        axis = normalize_axis(attrs["axis"], cache.ndim)
        batch, seq, capacity = cache.shape[0], update.shape[axis], cache.shape[axis]
        starts = _input(xs, 2)
        starts = np.zeros(batch, np.int64) if starts is None else starts.astype(np.int64)
        positions = starts.reshape(batch, 1) + np.arange(seq)
        if attrs["mode"] == "circular":
            positions %= capacity
        # advanced indices over [leading dims..., seq]; the batch dim also picks the write position
        leading = [np.arange(d).reshape((1,) * i + (-1,) + (1,) * (axis - i))
                   for i, d in enumerate(cache.shape[:axis])]
        seq_index = positions.reshape((batch,) + (1,) * (axis - 1) + (seq,))
        out = cache.copy()
        out[(*leading, seq_index)] = update
        return out


# ----- generators ---------------------------------------------------------------------------------
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


@defop("shape.one_hot", inputs="indices, values, depth?",
       attrs={"depth": attr("int", None), "axis": attr("int", -1)},
       doc="values[1] where the new `axis` position equals the index (negative indices count "
           "from depth), values[0] elsewhere")
class OneHot:
    def infer(ins, attrs):
        idx, values = ins[0].type, ins[1].type
        depth = _known_scalar(ins, 2, attrs, "depth")
        if idx.shape is None:
            return [TensorType(values.dtype, None)]
        axis = normalize_axis(attrs["axis"], idx.rank + 1)
        shape = idx.shape[:axis] + (depth,) + idx.shape[axis:]
        return [TensorType(values.dtype, shape)]

    def kernel(xs, attrs):
        idx, values = xs[0], xs[1]
        depth = _runtime_scalar(xs, 2, attrs, "depth")
        axis = normalize_axis(attrs["axis"], idx.ndim + 1)
        positions = _wrap_negative(idx.astype(np.int64), depth)
        hot = np.expand_dims(positions, -1) == np.arange(depth)
        off, on = values.reshape(-1)[:2]
        return np.moveaxis(np.where(hot, on, off), -1, axis).astype(values.dtype, copy=False)


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
        k = _runtime_scalar(xs, 1, attrs, "k")
        return np.triu(xs[0], k) if attrs["upper"] else np.tril(xs[0], k)


# ----- data-dependent results ---------------------------------------------------------------------
@defop("shape.nonzero", inputs="x",
       doc="i64[rank, n]: the coordinates of the n non-zero elements, in row-major order")
class NonZero:
    def infer(ins, attrs):
        x = ins[0].type
        return [TensorType(dtypes.i64, (max(x.rank, 1) if x.rank is not None else None, None))]

    def kernel(xs, attrs):
        x = np.atleast_1d(xs[0])  # a scalar counts as one element, as in onnxruntime
        return np.array(np.nonzero(x), dtype=_INT64).reshape(x.ndim, -1)


def topk_indices(x: np.ndarray, k: int, axis: int, largest: bool) -> np.ndarray:
    """Indices of the k largest (or smallest) entries along ``axis``, ties by lower index."""
    if largest:
        # a stable ascending sort of the flipped axis, reversed, keeps lower indices first
        order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
        order = x.shape[axis] - 1 - np.flip(order, axis)
    else:
        order = np.argsort(x, axis=axis, kind="stable")
    return np.take(order, np.arange(k), axis=axis).astype(_INT64)


@defop("shape.top_k", inputs="x, k?", outputs="values, indices",
       attrs={"k": attr("int", None), "axis": attr("int", -1), "largest": attr("bool", True),
              "sorted": attr("bool", True)},
       doc="the k largest (or smallest) entries along `axis` and their i64 indices, best first, "
           "equal values in index order")
class TopK:
    def infer(ins, attrs):
        x = ins[0].type
        k = _known_scalar(ins, 1, attrs, "k")
        if x.shape is None:
            return [_unknown(x), TensorType(dtypes.i64, None)]
        axis = normalize_axis(attrs["axis"], x.rank)
        if k is not None and isinstance(x.shape[axis], int) and not 0 <= k <= x.shape[axis]:
            raise ShapeError(f"k={k} outside [0, {x.shape[axis]}]")
        shape = x.shape[:axis] + (k,) + x.shape[axis + 1:]
        return [x.with_shape(shape), TensorType(dtypes.i64, shape)]

    def kernel(xs, attrs):
        x = xs[0]
        axis = normalize_axis(attrs["axis"], x.ndim)
        k = _runtime_scalar(xs, 1, attrs, "k")
        if not 0 <= k <= x.shape[axis]:
            raise ShapeError(f"k={k} outside [0, {x.shape[axis]}]")
        indices = topk_indices(x, k, axis, attrs["largest"])
        return np.take_along_axis(x, indices, axis=axis), indices


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
            return [_unknown(x), index, index, index]
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
            order = np.argsort(first, kind="stable")
            position = np.empty_like(order)
            position[order] = np.arange(order.size)
            y, first, counts, inverse = np.take(y, order, axis=take_axis), first[order], counts[order], \
                position[inverse]
        return y, first.astype(_INT64), inverse.astype(_INT64), counts.astype(_INT64)


# ----- sequences ----------------------------------------------------------------------------------
@defop("shape.reverse_sequence", inputs="x, lengths",
       attrs={"batch_axis": attr("int", 1), "time_axis": attr("int", 0)},
       doc="reverse the first lengths[b] steps along time_axis of every batch entry b")
class ReverseSequence:
    def infer(ins, attrs):
        x, lengths = ins[0].type, ins[1].type
        _check_indices(lengths, "sequence lengths")
        if x.rank is not None and {attrs["batch_axis"] % x.rank, attrs["time_axis"] % x.rank} != {
                0, 1}:
            raise ShapeError("batch_axis and time_axis must be 0 and 1 (in either order)")
        return [x]

    def kernel(xs, attrs):
        x, lengths = xs
        batch_axis, time_axis = attrs["batch_axis"] % x.ndim, attrs["time_axis"] % x.ndim
        steps = np.arange(x.shape[time_axis]).reshape(1, -1)
        lengths = lengths.astype(np.int64).reshape(-1, 1)
        source = np.where(steps < lengths, lengths - 1 - steps, steps)  # [batch, time]
        if batch_axis > time_axis:
            source = source.T
        source = source.reshape(source.shape + (1,) * (x.ndim - 2))
        return np.take_along_axis(x, np.broadcast_to(source, x.shape), axis=time_axis)
