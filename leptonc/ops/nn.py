"""Neural-network ops (``nn.*``): convolution, pooling, normalisation, resize and sampling.

Layout is ONNX's: x is [N, C, *spatial]; conv weights are [M, C/group, *kernel] (transposed
conv: [C, M/group, *kernel]); pads are [begin_0, begin_1, .., end_0, end_1, ..].  Every op is
N-d (1-D audio, 2-D vision, 3-D volumes) unless its doc says otherwise.

Kernels are vectorised numpy: Python loops run over kernel taps, groups or axes, never over
elements.  Convolution is an im2col (one copy per kernel tap) followed by one BLAS matmul
(batched over groups); 1x1 convolutions are a plain matmul on a view of the input.  Pooling
reduces over strided views, one per tap; resize applies one interpolation matrix per axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.types import Dim, TensorType
from leptonc.ops.infer_utils import const_ints, normalize_axis
from leptonc.ops.registry import attr, defop

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


# ----- window geometry shared by convolution and pooling ---------------------------------------
def spatial_attrs(attrs: dict, sp: int) -> tuple[tuple, tuple, tuple]:
    """(strides, dilations, pads) with ONNX defaults filled in for ``sp`` spatial dims."""
    strides = tuple(attrs["strides"]) or (1,) * sp
    dilations = tuple(attrs["dilations"]) or (1,) * sp
    pads = tuple(attrs["pads"]) or (0,) * (2 * sp)
    if len(strides) != sp or len(dilations) != sp or len(pads) != 2 * sp:
        raise ShapeError(f"strides {list(strides)}, dilations {list(dilations)} and pads "
                         f"{list(pads)} do not fit {sp} spatial dims")
    if min(strides) < 1 or min(dilations) < 1:
        raise ShapeError("strides and dilations must be >= 1")
    return strides, dilations, pads


def same_pads(auto_pad: str, in_dims: Sequence[int], kernel: Sequence[int],
              strides: Sequence[int], dilations: Sequence[int]) -> tuple[int, ...]:
    """Explicit pads for auto_pad SAME_UPPER/SAME_LOWER: out = ceil(in / stride), the odd
    padding unit going to the end (UPPER) or the beginning (LOWER)."""
    begin, end = [], []
    for size, k, s, d in zip(in_dims, kernel, strides, dilations, strict=True):
        out = -(-size // s)
        total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
        small, large = total // 2, total - total // 2
        begin.append(large if auto_pad == "SAME_LOWER" else small)
        end.append(small if auto_pad == "SAME_LOWER" else large)
    return tuple(begin + end)


def resolve_pads(auto_pad: str, pads: tuple, in_dims: Sequence[int], kernel: Sequence[int],
                 strides: Sequence[int], dilations: Sequence[int]) -> tuple[int, ...]:
    """The explicit pads an ``auto_pad`` setting stands for, given concrete input dims."""
    if auto_pad in ("NOTSET", ""):
        return pads
    if auto_pad == "VALID":
        return (0,) * len(pads)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return same_pads(auto_pad, in_dims, kernel, strides, dilations)
    raise ShapeError(f"unknown auto_pad '{auto_pad}' (expected one of {', '.join(AUTO_PADS)})")


def window_count(size: Dim, kernel: int, stride: int, pad_begin: int, pad_end: int,
                 dilation: int, ceil_mode: bool = False) -> Dim:
    """How many windows fit along one axis (None when the size is not static)."""
    if not isinstance(size, int):
        return None
    span = size + pad_begin + pad_end - (dilation * (kernel - 1) + 1)
    if span < 0:
        raise ShapeError(f"window of {dilation * (kernel - 1) + 1} is larger than the padded "
                         f"input {size + pad_begin + pad_end}")
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad_begin:
        out -= 1  # the last window must start inside the input or its left padding
    return out


def window_dims(in_dims: Sequence[Dim], kernel: Sequence[int], strides: Sequence[int],
                pads: Sequence[int], dilations: Sequence[int], auto_pad: str = "NOTSET",
                ceil_mode: bool = False) -> tuple[Dim, ...]:
    """Output spatial dims of a sliding-window op; symbolic input dims give None."""
    sp = len(kernel)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return tuple(-(-d // s) if isinstance(d, int) else None
                     for d, s in zip(in_dims, strides, strict=True))
    if auto_pad == "VALID":
        pads = (0,) * (2 * sp)
    return tuple(window_count(in_dims[i], kernel[i], strides[i], pads[i], pads[i + sp],
                              dilations[i], ceil_mode) for i in range(sp))


def pad_spatial(x: np.ndarray, begin: Sequence[int], end: Sequence[int],
                value: float | int = 0) -> np.ndarray:
    """``x`` with its trailing ``len(begin)`` axes padded by a constant (no copy if no pads)."""
    if not any(begin) and not any(end):
        return x
    sp = len(begin)
    dims = x.shape[x.ndim - sp:]
    out = np.full(x.shape[:x.ndim - sp] + tuple(d + b + e for d, b, e in zip(
        dims, begin, end, strict=True)), value, dtype=x.dtype)
    out[(Ellipsis,) + tuple(slice(b, b + d) for b, d in zip(begin, dims, strict=True))] = x
    return out


def tap_slices(tap: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
               out_dims: Sequence[int]) -> tuple[slice, ...]:
    """The strided slice that kernel tap ``tap`` reads for every output position."""
    return tuple(slice(t * d, t * d + s * (o - 1) + 1, s)
                 for t, s, d, o in zip(tap, strides, dilations, out_dims, strict=True))


def window_of(x: np.ndarray, begin: Sequence[int], size: Sequence[int]) -> np.ndarray:
    """x[..., begin:begin+size] over the trailing axes; parts outside ``x`` read as zero."""
    sp = len(begin)
    dims = x.shape[x.ndim - sp:]
    if all(b >= 0 and b + s <= d for b, s, d in zip(begin, size, dims, strict=True)):
        return x[(Ellipsis,) + tuple(slice(b, b + s) for b, s in zip(begin, size, strict=True))]
    out = np.zeros(x.shape[:x.ndim - sp] + tuple(size), dtype=x.dtype)
    src, dst = [], []
    for b, s, d in zip(begin, size, dims, strict=True):
        lo, hi = max(b, 0), min(b + s, d)
        src.append(slice(lo, max(lo, hi)))
        dst.append(slice(lo - b, lo - b + max(0, hi - lo)))
    out[(Ellipsis,) + tuple(dst)] = x[(Ellipsis,) + tuple(src)]
    return out


def padded(xs: Sequence, n: int) -> list:
    """The first ``n`` inputs, None for trailing optional inputs the node omits."""
    return list(xs[:n]) + [None] * (n - len(xs))


def _check_rank(t: TensorType, what: str, min_rank: int = 3) -> None:
    if t.rank is not None and t.rank < min_rank:
        raise ShapeError(f"{what} needs an input of rank >= {min_rank} ([N, C, *spatial]), got {t}")


def _check_float(t: TensorType, op: str) -> None:
    if not t.dtype.is_float:
        raise ShapeError(f"{op} takes floating-point tensors, got {t.dtype}")


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    """Accumulation dtype: f32 for narrow floats (and integers), else the dtype itself."""
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def _accumulate(*arrays: np.ndarray | None) -> list[np.ndarray | None]:
    """The arrays in their accumulation dtype (f16/bf16 math runs in f32; f32 stays as is)."""
    return [None if a is None else a.astype(_compute_dtype(a.dtype), copy=False) for a in arrays]


def _param(p: np.ndarray, rank: int, dtype: np.dtype) -> np.ndarray:
    """A per-channel parameter [C, ...] shaped to broadcast against [N, C, *spatial]."""
    p = np.asarray(p, dtype=dtype)
    return p.reshape(p.shape + (1,) * (rank - 1 - p.ndim))


def cast_result(y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast a float result to ``dtype``; integers round half to even and saturate."""
    dtype = np.dtype(dtype)
    if y.dtype == dtype:
        return y
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(y), info.min, info.max).astype(dtype)
    return y.astype(dtype, copy=False)


_WINDOW_ATTRS = {"strides": attr("ints", ()), "pads": attr("ints", ()),
                 "dilations": attr("ints", ()), "auto_pad": attr("str", "NOTSET")}


# ----- convolution -----------------------------------------------------------------------------
def patches(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
            dilations: Sequence[int], out_dims: Sequence[int]) -> np.ndarray:
    """im2col of padded ``x``: [N, C*prod(kernel), prod(out_dims)], rows ordered (C, *kernel)
    like a flattened weight.  1x1 kernels are a (strided) view, copied only when strided."""
    n, c = x.shape[:2]
    if all(k == 1 for k in kernel):
        return x[(Ellipsis,) + tap_slices((0,) * len(kernel), strides, dilations, out_dims)
                 ].reshape(n, c, -1)
    cols = np.empty((n, c, *kernel, *out_dims), dtype=x.dtype)
    for tap in np.ndindex(*kernel):
        cols[(slice(None), slice(None)) + tap] = x[
            (Ellipsis,) + tap_slices(tap, strides, dilations, out_dims)]
    return cols.reshape(n, c * math.prod(kernel), math.prod(out_dims))


def columns_matmul(cols: np.ndarray, w: np.ndarray, group: int) -> np.ndarray:
    """The matmul half of a convolution on ready im2col columns [N, C*K, P] -> [N, M, P]."""
    n, m = cols.shape[0], w.shape[0]
    if group == 1:
        return np.matmul(w.reshape(m, -1), cols)
    grouped = cols.reshape(n, group, -1, cols.shape[-1])
    return np.matmul(w.reshape(group, m // group, -1), grouped).reshape(n, m, -1)


def conv_nd(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, strides: Sequence[int],
            pads: Sequence[int], dilations: Sequence[int], group: int) -> np.ndarray:
    """ONNX Conv with explicit pads: [N, C, *in] x [M, C/group, *k] -> [N, M, *out]."""
    n, c = x.shape[:2]
    m, kernel, sp = w.shape[0], w.shape[2:], x.ndim - 2
    if c != w.shape[1] * group or m % group:
        raise ShapeError(f"input has {c} channels; weight {list(w.shape)} with group={group} "
                         "does not fit")
    xp = pad_spatial(x, pads[:sp], pads[sp:])
    out_dims = window_dims(xp.shape[2:], kernel, strides, (0,) * (2 * sp), dilations)
    # grouped and depthwise convs too: one batched matmul over the groups measured faster
    # than summing depthwise taps elementwise (e.g. 0.8 vs 1.1 ms for 32x112x112, 3x3)
    out = columns_matmul(patches(xp, kernel, strides, dilations, out_dims), w, group)
    out = out.reshape((n, m) + tuple(out_dims))
    if b is not None:
        out += b.reshape((m,) + (1,) * sp).astype(out.dtype, copy=False)
    return out


def _conv_infer_common(ins, attrs, op: str) -> tuple[TensorType, TensorType, int]:
    """(x type, w type, spatial rank) after checks; a missing rank is taken from the other
    operand (x and w always have the same rank)."""
    x, w = ins[0].type, ins[1].type
    _check_float(x, op)
    if x.rank is None and w.rank is None:
        raise ShapeError(f"{op} needs x or w of known rank")
    if x.rank is None:
        x = x.with_shape((None,) * w.rank)
    if w.rank is None:
        w = w.with_shape((None,) * x.rank)
    if x.rank != w.rank or x.rank < 3:
        raise ShapeError(f"{op} needs x and w of equal rank >= 3, got {x} and {w}")
    if w.dtype != x.dtype:
        raise ShapeError(f"{op} input is {x.dtype} but weight is {w.dtype}")
    return x, w, x.rank - 2


@defop("nn.conv", inputs="x, w, bias?",
       attrs={**_WINDOW_ATTRS, "group": attr("int", 1)},
       doc="N-d convolution (cross-correlation), ONNX Conv semantics; pads are explicit unless "
           "auto_pad names SAME_UPPER/SAME_LOWER/VALID (kept only when spatial dims are dynamic)")
class Conv:
    def infer(ins, attrs):
        x, w, sp = _conv_infer_common(ins, attrs, "conv")
        strides, dilations, pads = spatial_attrs(attrs, sp)
        group, c = attrs["group"], x.shape[1]
        if isinstance(c, int) and isinstance(w.shape[1], int) and c != w.shape[1] * group:
            raise ShapeError(f"input has {c} channels, weight expects {w.shape[1]} x {group} groups")
        if isinstance(w.shape[0], int) and w.shape[0] % group:
            raise ShapeError(f"{w.shape[0]} output channels do not split into {group} groups")
        kernel = w.shape[2:]
        if not all(isinstance(k, int) for k in kernel):
            return [TensorType(x.dtype, (x.shape[0], w.shape[0]) + (None,) * sp)]
        dims = window_dims(x.shape[2:], kernel, strides, pads, dilations, attrs["auto_pad"])
        return [TensorType(x.dtype, (x.shape[0], w.shape[0], *dims))]

    def kernel(xs, attrs):
        x, w, b = padded(xs, 3)
        strides, dilations, pads = spatial_attrs(attrs, x.ndim - 2)
        pads = resolve_pads(attrs["auto_pad"], pads, x.shape[2:], w.shape[2:], strides, dilations)
        xa, wa, ba = _accumulate(x, w, b)
        return conv_nd(xa, wa, ba, strides, pads, dilations, attrs["group"]).astype(x.dtype,
                                                                                    copy=False)

    def macs(ins, outs, attrs):
        w, y = ins[1].type, outs[0]
        if not (w.is_static and y.is_static):
            return 0
        return y.num_elements * math.prod(w.shape[1:])


def fold_taps(cols: np.ndarray, strides: Sequence[int], dilations: Sequence[int],
              full_dims: Sequence[int]) -> np.ndarray:
    """col2im: scatter-add [N, C, *kernel, *positions] columns into [N, C, *full_dims]."""
    sp = len(full_dims)
    kernel, positions = cols.shape[2:2 + sp], cols.shape[2 + sp:]
    full = np.zeros(cols.shape[:2] + tuple(full_dims), dtype=cols.dtype)
    for tap in np.ndindex(*kernel):
        full[(Ellipsis,) + tap_slices(tap, strides, dilations, positions)] += cols[
            (slice(None), slice(None)) + tap]
    return full


def conv_transpose_nd(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                      strides: Sequence[int], pads: Sequence[int], dilations: Sequence[int],
                      group: int, output_padding: Sequence[int]) -> np.ndarray:
    """ONNX ConvTranspose with explicit pads: one batched matmul makes every tap's
    contribution, col2im scatters them, the pads crop the result."""
    n, c, in_dims = x.shape[0], x.shape[1], x.shape[2:]
    kernel, sp = w.shape[2:], x.ndim - 2
    if c != w.shape[0] or c % group:
        raise ShapeError(f"input has {c} channels; weight {list(w.shape)} with group={group} "
                         "does not fit")
    cg, mg = c // group, w.shape[1]
    taps = math.prod(kernel)
    weights = w.reshape(group, cg, mg * taps).transpose(0, 2, 1)
    cols = np.matmul(weights, x.reshape(n, group, cg, -1))
    cols = cols.reshape((n, group * mg) + tuple(kernel) + tuple(in_dims))
    full_dims = [s * (i - 1) + d * (k - 1) + 1
                 for s, i, d, k in zip(strides, in_dims, dilations, kernel, strict=True)]
    full = fold_taps(cols, strides, dilations, full_dims)
    out_dims = [f - pads[i] - pads[i + sp] + output_padding[i] for i, f in enumerate(full_dims)]
    if min(out_dims) < 0:
        raise ShapeError(f"conv_transpose pads {list(pads)} exceed the output {full_dims}")
    out = np.ascontiguousarray(window_of(full, pads[:sp], out_dims))
    if b is not None:
        out += b.reshape((-1,) + (1,) * sp).astype(out.dtype, copy=False)
    return out


def transpose_pads(auto_pad: str, output_shape: Sequence[int], in_dims: Sequence[int],
                   kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
                   pads: Sequence[int], output_padding: Sequence[int]
                   ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """ConvTranspose's explicit (pads, output_padding) once ``output_shape``/``auto_pad``
    are applied.

    The total padding makes the output exactly ``output_shape`` (for SAME without an
    output_shape: in * stride); the odd unit goes to the end except under SAME_LOWER, as in
    ONNX Runtime.  An output larger than the natural size grows at the end, which is what
    output_padding does.
    """
    sp = len(kernel)
    if not output_shape and auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        return ((0,) * (2 * sp) if auto_pad == "VALID" else tuple(pads)), tuple(output_padding)
    target = output_shape or [i * s for i, s in zip(in_dims, strides, strict=True)]
    target = tuple(target)[-sp:]
    begin, end, extra = [], [], list(output_padding)
    for i in range(sp):
        natural = strides[i] * (in_dims[i] - 1) + output_padding[i] + dilations[i] * (
            kernel[i] - 1) + 1
        total = natural - target[i]
        small, large = total // 2, total - total // 2
        if total < 0:
            begin.append(0)
            end.append(0)
            extra[i] -= total
        elif auto_pad == "SAME_LOWER":
            begin.append(large)
            end.append(small)
        else:
            begin.append(small)
            end.append(large)
    return tuple(begin + end), tuple(extra)


def _transpose_geometry(attrs: dict, in_dims: Sequence, kernel: Sequence[int]):
    sp = len(kernel)
    strides, dilations, pads = spatial_attrs(attrs, sp)
    output_padding = tuple(attrs["output_padding"]) or (0,) * sp
    if len(output_padding) != sp:
        raise ShapeError(f"output_padding {list(output_padding)} does not fit {sp} spatial dims")
    return strides, dilations, pads, output_padding


@defop("nn.conv_transpose", inputs="x, w, bias?",
       attrs={**_WINDOW_ATTRS, "group": attr("int", 1), "output_padding": attr("ints", ()),
              "output_shape": attr("ints", ())},
       doc="N-d transposed convolution, ONNX ConvTranspose semantics (w is [C, M/group, *k]); "
           "output_shape/auto_pad stay only when spatial dims are dynamic")
class ConvTranspose:
    def infer(ins, attrs):
        x, w, sp = _conv_infer_common(ins, attrs, "conv_transpose")
        group = attrs["group"]
        m = w.shape[1] * group if isinstance(w.shape[1], int) else None
        if isinstance(x.shape[1], int) and isinstance(w.shape[0], int) and x.shape[1] != w.shape[0]:
            raise ShapeError(f"input has {x.shape[1]} channels, weight expects {w.shape[0]}")
        kernel, in_dims = w.shape[2:], x.shape[2:]
        strides, dilations, pads, output_padding = _transpose_geometry(attrs, in_dims, kernel)
        if attrs["output_shape"]:
            dims = tuple(attrs["output_shape"])[-sp:]
        elif not all(isinstance(d, int) for d in (*kernel, *in_dims)):
            dims = tuple(d * s if isinstance(d, int) and attrs["auto_pad"].startswith("SAME")
                         else None for d, s in zip(in_dims, strides, strict=True))
        else:
            pads, output_padding = transpose_pads(attrs["auto_pad"], (), in_dims, kernel,
                                                  strides, dilations, pads, output_padding)
            dims = tuple(s * (i - 1) + op + d * (k - 1) + 1 - pads[j] - pads[j + sp]
                         for j, (s, i, op, d, k) in enumerate(zip(
                             strides, in_dims, output_padding, dilations, kernel, strict=True)))
            if min(dims) < 0:
                raise ShapeError(f"conv_transpose output dims {list(dims)} are negative")
        return [TensorType(x.dtype, (x.shape[0], m, *dims))]

    def kernel(xs, attrs):
        x, w, b = padded(xs, 3)
        kernel = w.shape[2:]
        strides, dilations, pads, output_padding = _transpose_geometry(attrs, x.shape[2:], kernel)
        pads, output_padding = transpose_pads(attrs["auto_pad"], attrs["output_shape"],
                                              x.shape[2:], kernel, strides, dilations, pads,
                                              output_padding)
        xa, wa, ba = _accumulate(x, w, b)
        return conv_transpose_nd(xa, wa, ba, strides, pads, dilations, attrs["group"],
                                 output_padding).astype(x.dtype, copy=False)

    def macs(ins, outs, attrs):
        x, w = ins[0].type, ins[1].type
        if not (x.is_static and w.is_static):
            return 0
        return x.num_elements * math.prod(w.shape[1:])


def _col2im_geometry(attrs: dict, image: Sequence[int], block: Sequence[int]):
    sp = len(image)
    strides, dilations, pads = spatial_attrs(attrs, sp)
    positions = window_dims(image, block, strides, pads, dilations)
    return strides, dilations, pads, positions


@defop("nn.col2im", inputs="x, image_shape?, block_shape?",
       attrs={"image_shape": attr("ints", ()), "block_shape": attr("ints", ()),
              "strides": attr("ints", ()), "pads": attr("ints", ()),
              "dilations": attr("ints", ())},
       doc="ONNX Col2Im: [N, C*prod(block), L] columns summed back into [N, C, *image]; the "
           "shapes are attributes, or i64 inputs when computed at run time")
class Col2Im:
    def infer(ins, attrs):
        x = ins[0].type
        if x.rank is not None and x.rank != 3:
            raise ShapeError(f"col2im takes [N, C*prod(block), L], got {x}")
        image = attrs["image_shape"] or const_ints(ins[1] if len(ins) > 1 else None)
        block = attrs["block_shape"] or const_ints(ins[2] if len(ins) > 2 else None)
        rank_hint = len(image) if image else _static_len(ins[1] if len(ins) > 1 else None)
        n = x.shape[0] if x.shape else None
        if not image or not block:
            return [TensorType(x.dtype, None if rank_hint is None else (n,) + (None,) * (
                rank_hint + 1))]
        c = x.shape[1] // math.prod(block) if x.shape and isinstance(x.shape[1], int) else None
        return [TensorType(x.dtype, (n, c, *image))]

    def kernel(xs, attrs):
        x, image_input, block_input = padded(xs, 3)
        image = list(attrs["image_shape"]) or [int(v) for v in image_input]
        block = list(attrs["block_shape"]) or [int(v) for v in block_input]
        strides, dilations, pads, positions = _col2im_geometry(attrs, image, block)
        sp, n, k = len(image), x.shape[0], math.prod(block)
        if x.shape[1] % k or x.shape[2] != math.prod(positions):
            raise ShapeError(f"col2im input {list(x.shape)} does not match block {block} over "
                             f"{list(positions)} positions")
        cols = x.reshape((n, x.shape[1] // k, *block, *positions))
        padded_image = [d + pads[i] + pads[i + sp] for i, d in enumerate(image)]
        full = fold_taps(cols, strides, dilations, padded_image)
        return np.ascontiguousarray(window_of(full, pads[:sp], image))


def _static_len(v) -> int | None:
    if v is None or v.type.shape is None or len(v.type.shape) != 1:
        return None
    d = v.type.shape[0]
    return d if isinstance(d, int) else None


def _bilinear_taps(coords: list[np.ndarray], dims: Sequence[int]):
    """The 2^d corner taps of N-d linear interpolation at float ``coords``.

    Yields (indices per axis, weight, inside mask); indices are clamped so they can be
    gathered, ``inside`` says whether the tap lies in the input (else it reads as zero).
    """
    base = [np.floor(c) for c in coords]
    frac = [c - b for c, b in zip(coords, base, strict=True)]
    base = [b.astype(np.int64) for b in base]
    for corner in np.ndindex(*(2,) * len(coords)):
        idx, weight, inside = [], 1.0, True
        for axis, bit in enumerate(corner):
            i = base[axis] + bit
            weight = weight * (frac[axis] if bit else 1.0 - frac[axis])
            inside = inside & (i >= 0) & (i < dims[axis])
            idx.append(np.clip(i, 0, dims[axis] - 1))
        yield idx, weight, inside


@defop("nn.deform_conv", inputs="x, w, offset, bias?, mask?",
       attrs={"strides": attr("ints", ()), "pads": attr("ints", ()),
              "dilations": attr("ints", ()), "group": attr("int", 1),
              "offset_group": attr("int", 1)},
       doc="ONNX DeformConv (2-D and N-d): each kernel tap samples the input bilinearly at its "
           "grid position plus a learned offset (times an optional mask), then a grouped matmul")
class DeformConv:
    def infer(ins, attrs):
        x, w, sp = _conv_infer_common(ins, attrs, "deform_conv")
        strides, dilations, pads = spatial_attrs(attrs, sp)
        kernel = w.shape[2:]
        if not all(isinstance(k, int) for k in kernel):
            return [TensorType(x.dtype, (x.shape[0], w.shape[0]) + (None,) * sp)]
        return [TensorType(x.dtype, (x.shape[0], w.shape[0],
                                     *window_dims(x.shape[2:], kernel, strides, pads, dilations)))]

    def kernel(xs, attrs):
        x, w, offset, b, mask = padded(xs, 5)
        n, c, in_dims = x.shape[0], x.shape[1], x.shape[2:]
        m, kernel, sp = w.shape[0], w.shape[2:], x.ndim - 2
        strides, dilations, pads = spatial_attrs(attrs, sp)
        out_dims = window_dims(in_dims, kernel, strides, pads, dilations)
        og, taps = attrs["offset_group"], math.prod(kernel)
        offset = offset.reshape((n, og, taps, sp) + tuple(out_dims))
        mask = None if mask is None else mask.reshape((n, og, taps) + tuple(out_dims))
        # cols[n, offset group, channel in group, tap, *out]
        cols = np.zeros((n, og, c // og, taps) + tuple(out_dims), dtype=x.dtype)
        grid = np.meshgrid(*(np.arange(o) for o in out_dims), indexing="ij")
        xg = x.reshape((n, og, c // og) + tuple(in_dims))
        batch = np.arange(n).reshape((n, 1) + (1,) * sp)
        groups = np.arange(og).reshape((1, og) + (1,) * sp)
        for t, tap in enumerate(np.ndindex(*kernel)):
            coords = [grid[a] * strides[a] - pads[a] + tap[a] * dilations[a]
                      + offset[:, :, t, a] for a in range(sp)]
            value = 0.0
            for idx, weight, inside in _bilinear_taps(coords, in_dims):
                picked = xg[(batch, groups, slice(None)) + tuple(idx)]  # [n, og, *out, cg]
                value = value + np.moveaxis(picked, -1, 2) * np.expand_dims(weight * inside, 2)
            if mask is not None:
                value = value * np.expand_dims(mask[:, :, t], 2)
            cols[:, :, :, t] = value
        cols = cols.reshape(n, c * taps, -1)
        out = columns_matmul(cols, w, attrs["group"]).reshape((n, m) + tuple(out_dims))
        if b is not None:
            out += b.reshape((m,) + (1,) * sp)
        return out.astype(x.dtype, copy=False)


# ----- pooling ---------------------------------------------------------------------------------
_POOL_ATTRS = {"kernel_shape": attr("ints"), **_WINDOW_ATTRS, "ceil_mode": attr("bool", False)}


def pool_geometry(attrs: dict, in_dims: Sequence[int]):
    """(kernel, strides, dilations, pads, out_dims) of a pooling op on concrete dims."""
    kernel = tuple(attrs["kernel_shape"])
    strides, dilations, pads = spatial_attrs(attrs, len(kernel))
    pads = resolve_pads(attrs["auto_pad"], pads, in_dims, kernel, strides, dilations)
    sp = len(kernel)
    out_dims = tuple(window_count(in_dims[i], kernel[i], strides[i], pads[i], pads[i + sp],
                                  dilations[i], attrs["ceil_mode"]) for i in range(sp))
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
    _check_rank(x, op)
    kernel = tuple(attrs["kernel_shape"])
    if len(kernel) != x.rank - 2:
        raise ShapeError(f"{op} kernel_shape {list(kernel)} does not fit input {x}")
    strides, dilations, pads = spatial_attrs(attrs, len(kernel))
    dims = window_dims(x.shape[2:], kernel, strides, pads, dilations, attrs["auto_pad"],
                       attrs["ceil_mode"])
    return TensorType(x.dtype, (*x.shape[:2], *dims))


def _lowest(dtype: np.dtype):
    """The padding value max pooling never picks (bf16's numpy kind is 'V', not 'f')."""
    return np.iinfo(dtype).min if dtype.kind in "iu" else -np.inf


def max_pool_nd(x: np.ndarray, attrs: dict, with_indices: bool):
    kernel, strides, dilations, pads, out_dims = pool_geometry(attrs, x.shape[2:])
    xp = _pool_padded(x, kernel, strides, dilations, pads, out_dims, _lowest(x.dtype))
    best = arg = None
    for i, tap in enumerate(np.ndindex(*kernel)):
        view = xp[(Ellipsis,) + tap_slices(tap, strides, dilations, out_dims)]
        if best is None:
            best = view.copy()
            arg = np.zeros(best.shape, np.int64) if with_indices else None
        elif with_indices:
            better = view > best  # strict: the first maximum in window order wins
            np.copyto(best, view, where=better)
            arg[better] = i
        else:
            np.maximum(best, view, out=best)
    if not with_indices:
        return best
    return best, _flat_indices(arg, x.shape, kernel, strides, dilations, pads, out_dims,
                               attrs["storage_order"])


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
    kernel, strides, dilations, pads, out_dims = pool_geometry(attrs, x.shape[2:])
    acc_dtype = _compute_dtype(x.dtype)
    xp = _pool_padded(x.astype(acc_dtype, copy=False), kernel, strides, dilations, pads,
                      out_dims, 0)
    if power is not None:
        xp = xp * xp if power == 2 else np.abs(xp) ** power
    total = None
    for tap in np.ndindex(*kernel):
        view = xp[(Ellipsis,) + tap_slices(tap, strides, dilations, out_dims)]
        if total is None:
            total = view.copy()
        else:
            total += view
    return total, (kernel, strides, dilations, pads, out_dims)


@defop("nn.avg_pool", inputs="x",
       attrs={**_POOL_ATTRS, "count_include_pad": attr("bool", False)},
       doc="N-d average pooling (ONNX AveragePool)")
class AvgPool:
    def infer(ins, attrs):
        y = _pool_infer(ins, attrs, "avg_pool")
        _check_float(y, "avg_pool")
        return [y]

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
        y = _pool_infer(ins, attrs, "lp_pool")
        _check_float(y, "lp_pool")
        return [y]

    def kernel(xs, attrs):
        total, _ = _sum_pool(xs[0], attrs, attrs["p"])
        p = attrs["p"]
        return (np.sqrt(total) if p == 2 else total ** (1.0 / p)).astype(xs[0].dtype, copy=False)


def _global_infer(ins, op: str, float_only: bool = True) -> list[TensorType]:
    x = ins[0].type
    if x.shape is None:
        return [TensorType(x.dtype, None)]
    _check_rank(x, op)
    if float_only:
        _check_float(x, op)
    return [TensorType(x.dtype, (*x.shape[:2],) + (1,) * (x.rank - 2))]


@defop("nn.global_avg_pool", inputs="x", doc="mean over all spatial dims (keeps them as 1)")
class GlobalAvgPool:
    def infer(ins, attrs):
        return _global_infer(ins, "global_avg_pool")

    def kernel(xs, attrs):
        x = xs[0]
        axes = tuple(range(2, x.ndim))
        return x.mean(axis=axes, keepdims=True, dtype=_compute_dtype(x.dtype)).astype(
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
        acc = np.abs(x.astype(_compute_dtype(x.dtype), copy=False))
        total = (acc ** p).sum(axis=tuple(range(2, x.ndim)), keepdims=True)
        return (total ** (1.0 / p)).astype(x.dtype, copy=False)


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
        x = ins[0].type
        if ins[1].type.dtype != dtypes.i64:
            raise ShapeError(f"max_unpool indices must be i64, got {ins[1].type.dtype}")
        if attrs["output_shape"]:
            return [TensorType(x.dtype, tuple(attrs["output_shape"]))]
        if len(ins) > 2 and ins[2] is not None:
            n = _static_len(ins[2])
            return [TensorType(x.dtype, None if n is None else (None,) * n)]
        if x.shape is None:
            return [TensorType(x.dtype, None)]
        kernel = tuple(attrs["kernel_shape"])
        strides, _, pads = spatial_attrs({**attrs, "dilations": ()}, len(kernel))
        return [TensorType(x.dtype, (*x.shape[:2], *unpool_dims(x.shape[2:], kernel, strides,
                                                                   pads)))]

    def kernel(xs, attrs):
        x, indices = xs[0], xs[1]
        kernel = tuple(attrs["kernel_shape"])
        strides, _, pads = spatial_attrs({**attrs, "dilations": ()}, len(kernel))
        natural = x.shape[:2] + unpool_dims(x.shape[2:], kernel, strides, pads)
        flat = np.zeros(math.prod(natural), dtype=x.dtype)
        flat[indices.reshape(-1)] = x.reshape(-1)
        out = flat.reshape(natural)
        shape_input = padded(xs, 3)[2]
        wanted = tuple(attrs["output_shape"]) or (
            tuple(int(v) for v in shape_input) if shape_input is not None else natural)
        if wanted == natural:
            return out
        if len(wanted) != len(natural) or any(w < d for w, d in zip(wanted, natural, strict=True)):
            raise ShapeError(f"max_unpool output_shape {list(wanted)} is smaller than the "
                             f"unpooled shape {list(natural)}")
        return window_of(out, (0,) * len(wanted), wanted)


# ----- normalisation ---------------------------------------------------------------------------
def _norm_infer(ins, op: str, params: int) -> list[TensorType]:
    x = ins[0].type
    _check_float(x, op)
    for v in ins[1:1 + params]:
        if v is not None and not v.type.dtype.is_float:
            raise ShapeError(f"{op} parameters must be floating point, got {v.type.dtype}")
    return [TensorType(x.dtype, x.shape)]


@defop("nn.batch_norm", inputs="x, scale, bias, mean, var", attrs={"epsilon": attr("float", 1e-5)},
       doc="inference batch normalisation: (x - mean) / sqrt(var + eps) * scale + bias, per "
           "channel (parameters of shape [C], or [C, *spatial] for opset-7 spatial=0)")
class BatchNorm:
    def infer(ins, attrs):
        return _norm_infer(ins, "batch_norm", 4)

    def kernel(xs, attrs):
        x, scale, bias, mean, var = xs
        # fold into one multiply and one add per element; parameters in f64 (they are tiny)
        mul = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + attrs["epsilon"])
        add = bias.astype(np.float64) - mean.astype(np.float64) * mul
        acc = _compute_dtype(x.dtype)
        y = np.multiply(x, _param(mul, x.ndim, acc), dtype=acc)
        y += _param(add, x.ndim, acc)
        return y.astype(x.dtype, copy=False)


@defop("nn.batch_norm_training", inputs="x, scale, bias, mean, var",
       outputs="y, running_mean, running_var",
       attrs={"epsilon": attr("float", 1e-5), "momentum": attr("float", 0.9)},
       doc="training-mode batch normalisation (ONNX training_mode=1): normalises with the "
           "batch statistics and returns the updated running mean and variance")
class BatchNormTraining:
    def infer(ins, attrs):
        y = _norm_infer(ins, "batch_norm_training", 4)[0]
        return [y, ins[3].type, ins[4].type]

    def kernel(xs, attrs):
        x, scale, bias, mean, var = xs
        acc = _compute_dtype(x.dtype)
        axes = (0,) + tuple(range(2, x.ndim))
        xa = x.astype(acc, copy=False)
        batch_mean = xa.mean(axis=axes)
        batch_var = xa.var(axis=axes)
        y = BatchNorm.kernel([x, scale, bias, batch_mean, batch_var], attrs)
        m = attrs["momentum"]
        running_mean = mean * m + batch_mean * (1 - m)
        running_var = var * m + batch_var * (1 - m)
        return y, running_mean.astype(mean.dtype), running_var.astype(var.dtype)


def _standardize(x: np.ndarray, axes: tuple, epsilon: float, acc: np.dtype):
    """((x - mean) * inv_std, mean, inv_std) over ``axes`` (keepdims), computed in ``acc``."""
    xa = x.astype(acc, copy=False)
    mean = xa.mean(axis=axes, keepdims=True)
    centered = xa - mean
    var = np.mean(np.square(centered), axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + epsilon)
    centered *= inv_std
    return centered, mean, inv_std


@defop("nn.instance_norm", inputs="x, scale, bias", attrs={"epsilon": attr("float", 1e-5)},
       doc="instance normalisation: standardise each (n, c) plane, then per-channel scale+bias")
class InstanceNorm:
    def infer(ins, attrs):
        _check_rank(ins[0].type, "instance_norm")
        return _norm_infer(ins, "instance_norm", 2)

    def kernel(xs, attrs):
        x, scale, bias = xs
        acc = _compute_dtype(x.dtype)
        y, _, _ = _standardize(x, tuple(range(2, x.ndim)), attrs["epsilon"], acc)
        y *= _param(scale, x.ndim, acc)
        y += _param(bias, x.ndim, acc)
        return y.astype(x.dtype, copy=False)


def _stash(attrs: dict, x: np.ndarray) -> np.dtype:
    """Computation dtype: the stash type, widened to x's when x is wider (f64)."""
    return np.promote_types(attrs["stash_type"].numpy, x.dtype)


@defop("nn.layer_norm", inputs="x, scale, bias?", outputs="*outs",
       attrs={"axis": attr("int", -1), "epsilon": attr("float", 1e-5),
              "stash_type": attr("dtype", dtypes.f32), "with_stats": attr("bool", False)},
       doc="layer normalisation over axes [axis, rank): (x - mean) * inv_std * scale + bias, "
           "computed in stash_type; with_stats adds the mean and inv_std_dev outputs")
class LayerNorm:
    def infer(ins, attrs):
        y = _norm_infer(ins, "layer_norm", 2)[0]
        if not attrs["with_stats"]:
            return [y]
        if y.shape is None:
            stats = TensorType(attrs["stash_type"], None)
        else:
            axis = normalize_axis(attrs["axis"], len(y.shape))
            stats = TensorType(attrs["stash_type"], y.shape[:axis] + (1,) * (len(y.shape) - axis))
        return [y, stats, stats]

    def kernel(xs, attrs):
        x, scale, bias = padded(xs, 3)
        acc = _stash(attrs, x)
        axis = normalize_axis(attrs["axis"], x.ndim)
        y, mean, inv_std = _standardize(x, tuple(range(axis, x.ndim)), attrs["epsilon"], acc)
        y *= scale.astype(acc, copy=False)
        if bias is not None:
            y += bias.astype(acc, copy=False)
        y = y.astype(x.dtype, copy=False)
        if not attrs["with_stats"]:
            return y
        stash = attrs["stash_type"].numpy
        return y, mean.astype(stash, copy=False), inv_std.astype(stash, copy=False)


@defop("nn.group_norm", inputs="x, scale, bias",
       attrs={"num_groups": attr("int"), "epsilon": attr("float", 1e-5),
              "stash_type": attr("dtype", dtypes.f32)},
       doc="group normalisation: standardise each group of C/num_groups channels; scale and "
           "bias have one entry per channel (opset 21) or per group (opset 18)")
class GroupNorm:
    def infer(ins, attrs):
        x = ins[0].type
        _check_rank(x, "group_norm", 2)
        g = attrs["num_groups"]
        c = x.shape[1] if x.shape else None
        if g < 1 or (isinstance(c, int) and c % g):
            raise ShapeError(f"{c} channels do not split into {g} groups")
        for v in ins[1:]:
            n = _static_len(v)
            if isinstance(c, int) and n is not None and n not in (c, g):
                raise ShapeError(f"group_norm parameters need {c} (per channel) or {g} (per "
                                 f"group) entries, got {n}")
        return _norm_infer(ins, "group_norm", 2)

    def kernel(xs, attrs):
        x, scale, bias = xs
        g, (n, c) = attrs["num_groups"], x.shape[:2]
        acc = _stash(attrs, x)
        grouped = x.reshape(n, g, -1)
        y, _, _ = _standardize(grouped, (2,), attrs["epsilon"], acc)
        y = y.reshape(x.shape)
        if scale.size == g and g != c:  # opset 18: one parameter per group
            scale, bias = np.repeat(scale, c // g), np.repeat(bias, c // g)
        y *= _param(scale, x.ndim, acc)
        y += _param(bias, x.ndim, acc)
        return y.astype(x.dtype, copy=False)


@defop("nn.rms_norm", inputs="x, scale",
       attrs={"axis": attr("int", -1), "epsilon": attr("float", 1e-5),
              "stash_type": attr("dtype", dtypes.f32)},
       doc="RMS normalisation over axes [axis, rank): x / sqrt(mean(x^2) + eps) * scale")
class RmsNorm:
    def infer(ins, attrs):
        return _norm_infer(ins, "rms_norm", 1)

    def kernel(xs, attrs):
        x, scale = xs
        acc = _stash(attrs, x)
        axes = tuple(range(normalize_axis(attrs["axis"], x.ndim), x.ndim))
        xa = x.astype(acc, copy=False)
        inv_rms = 1.0 / np.sqrt(np.mean(np.square(xa), axis=axes, keepdims=True) + attrs["epsilon"])
        y = xa * inv_rms
        y *= scale.astype(acc, copy=False)
        return y.astype(x.dtype, copy=False)


@defop("nn.lrn", inputs="x",
       attrs={"size": attr("int"), "alpha": attr("float", 1e-4), "beta": attr("float", 0.75),
              "bias": attr("float", 1.0)},
       doc="local response normalisation across channels: "
           "x / (bias + alpha/size * sum of x^2 over `size` neighbouring channels)^beta")
class Lrn:
    def infer(ins, attrs):
        _check_rank(ins[0].type, "lrn", 2)
        return _norm_infer(ins, "lrn", 0)

    def kernel(xs, attrs):
        x, size = xs[0], attrs["size"]
        acc = _compute_dtype(x.dtype)
        sq = np.square(x.astype(acc, copy=False))
        before = (size - 1) // 2
        padded_sq = np.zeros((sq.shape[0], sq.shape[1] + size - 1) + sq.shape[2:], dtype=acc)
        padded_sq[:, before:before + sq.shape[1]] = sq
        total = padded_sq[:, :sq.shape[1]].copy()
        for k in range(1, size):  # a sliding sum over `size` channels, one shift at a time
            total += padded_sq[:, k:k + sq.shape[1]]
        denom = (attrs["bias"] + (attrs["alpha"] / size) * total) ** attrs["beta"]
        return (x / denom).astype(x.dtype, copy=False)


@defop("nn.lp_normalize", inputs="x", attrs={"axis": attr("int", -1), "p": attr("int", 2)},
       doc="x divided by its L1 or L2 norm along `axis` (a zero norm gives 0)")
class LpNormalize:
    def infer(ins, attrs):
        if attrs["p"] not in (1, 2):
            raise ShapeError(f"lp_normalize supports p=1 and p=2, got p={attrs['p']}")
        return _norm_infer(ins, "lp_normalize", 0)

    def kernel(xs, attrs):
        x = xs[0]
        axis = normalize_axis(attrs["axis"], x.ndim)
        if attrs["p"] == 1:
            norm = np.abs(x).sum(axis=axis, keepdims=True)
        else:
            norm = np.sqrt(np.square(x).sum(axis=axis, keepdims=True))
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(norm == 0, 0, x / norm)
        return y.astype(x.dtype, copy=False)


@defop("nn.mean_variance_norm", inputs="x", attrs={"axes": attr("ints", (0, 2, 3))},
       doc="(x - mean) / (std + 1e-9) over `axes` (ONNX MeanVarianceNormalization)")
class MeanVarianceNorm:
    def infer(ins, attrs):
        t = ins[0].type
        if t.rank is not None:
            for a in attrs["axes"]:
                normalize_axis(a, t.rank)
        return _norm_infer(ins, "mean_variance_norm", 0)

    def kernel(xs, attrs):
        x = xs[0]
        axes = tuple(normalize_axis(a, x.ndim) for a in attrs["axes"])
        acc = _compute_dtype(x.dtype)
        xa = x.astype(acc, copy=False)
        centered = xa - xa.mean(axis=axes, keepdims=True)
        std = np.sqrt(np.mean(np.square(centered), axis=axes, keepdims=True))
        return (centered / (std + 1e-9)).astype(x.dtype, copy=False)


@defop("nn.dropout", inputs="x, ratio?, training_mode?", outputs="*outs",
       attrs={"ratio": attr("float", 0.5), "seed": attr("int", -1),
              "with_mask": attr("bool", False)},
       doc="training-mode dropout: zero each element with probability `ratio` (an input "
           "overrides the attribute) and scale the rest by 1/(1-ratio); the identity when "
           "training_mode is false or absent.  A seed >= 0 makes the mask reproducible (numpy's "
           "Mersenne Twister, uniform [0, 1) >= ratio); with_mask adds the boolean keep-mask",
       foldable=False)
class Dropout:
    def infer(ins, attrs):
        x = ins[0].type
        for v, kind in zip(padded(ins, 3)[1:], ("float", "bool"), strict=True):
            if v is not None and v.type.dtype.kind != kind:
                raise ShapeError(f"dropout {'ratio' if kind == 'float' else 'training_mode'} "
                                 f"must be a {kind} scalar, got {v.type.dtype}")
        y = TensorType(x.dtype, x.shape)
        return [y, y.with_dtype(dtypes.boolean)] if attrs["with_mask"] else [y]

    def kernel(xs, attrs):
        x, ratio, training = padded(xs, 3)
        ratio = attrs["ratio"] if ratio is None else float(ratio)
        if training is None or not bool(training) or ratio == 0:
            y, mask = x, np.ones(x.shape, dtype=bool)
        else:
            if not 0 <= ratio < 1:
                raise ShapeError(f"dropout ratio must be in [0, 1), got {ratio}")
            seed = attrs["seed"]
            rng = np.random.RandomState(seed if seed >= 0 else None)
            mask = rng.uniform(0.0, 1.0, x.shape) >= ratio
            y = (x * mask * (1.0 / (1.0 - ratio))).astype(x.dtype)
        return (y, mask) if attrs["with_mask"] else y


# ----- resize ----------------------------------------------------------------------------------
RESIZE_MODES = ("nearest", "linear", "cubic")
COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                    "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _optional_input(xs: list, i: int) -> np.ndarray | None:
    """Input ``i`` when given and non-empty (ONNX passes empty tensors for 'absent')."""
    v = xs[i] if i < len(xs) else None
    return None if v is None or v.size == 0 else v


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


def _resize_axes(attrs: dict, rank: int) -> tuple[int, ...]:
    axes = tuple(normalize_axis(a, rank) for a in attrs["axes"]) or tuple(range(rank))
    if len(set(axes)) != len(axes):
        raise ShapeError(f"resize axes {list(attrs['axes'])} repeat an axis")
    return axes


def _resize_roi(attrs: dict, roi: np.ndarray | None, axes: Sequence[int]):
    """{axis: (start, end)} for tf_crop_and_resize (roi is [starts..., ends...] over axes)."""
    if attrs["coordinate_transformation_mode"] != "tf_crop_and_resize":
        return {}
    values = [float(v) for v in roi] if roi is not None else list(attrs["roi"])
    if len(values) != 2 * len(axes):
        raise ShapeError(f"tf_crop_and_resize needs a roi of {2 * len(axes)} values, got "
                         f"{len(values)}")
    return {a: (values[i], values[i + len(axes)]) for i, a in enumerate(axes)}


def _resized_shape(ins: list, attrs: dict, shape: tuple) -> tuple:
    """Output dims as far as they are known: resized axes need static scales or sizes (and
    a static input dim for scales or aspect-ratio policies); scale 1 keeps any dim."""
    axes = _resize_axes(attrs, len(shape))
    dynamic = any(i < len(ins) and ins[i] is not None for i in (2, 3))
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
        if attrs["mode"] not in RESIZE_MODES:
            raise ShapeError(f"unknown resize mode '{attrs['mode']}'")
        if attrs["nearest_mode"] not in NEAREST_MODES:
            raise ShapeError(f"unknown nearest_mode '{attrs['nearest_mode']}'")
        if attrs["coordinate_transformation_mode"] not in COORDINATE_MODES:
            raise ShapeError(f"unknown coordinate_transformation_mode "
                             f"'{attrs['coordinate_transformation_mode']}'")
        if x.shape is None:
            return [TensorType(x.dtype, None)]
        return [TensorType(x.dtype, _resized_shape(ins, attrs, x.shape))]

    def kernel(xs, attrs):
        x = xs[0]
        axes = _resize_axes(attrs, x.ndim)
        scales, sizes = _optional_input(xs, 2), _optional_input(xs, 3)
        sizes = [int(v) for v in sizes] if sizes is not None else (list(attrs["sizes"]) or None)
        scales = [float(v) for v in scales] if scales is not None else (
            list(attrs["scales"]) or None)
        plan = resize_plan(x.shape, axes, None if sizes else scales, sizes,
                           attrs["keep_aspect_ratio_policy"])
        rois = _resize_roi(attrs, _optional_input(xs, 1), axes)
        y = x.astype(_compute_dtype(x.dtype), copy=False) if attrs["mode"] != "nearest" else x
        for axis in axes:
            scale, size, _ = plan[axis]
            if size == x.shape[axis] and scale == 1.0 and axis not in rois:
                continue
            y = resize_axis(y, axis, plan[axis], attrs, rois.get(axis))
        return cast_result(y, x.dtype)


# ----- sampling --------------------------------------------------------------------------------
def unnormalize(g: np.ndarray, size: int, align_corners: bool) -> np.ndarray:
    """[-1, 1] grid coordinates to input pixel coordinates."""
    if align_corners:
        return (g + 1) / 2 * (size - 1)
    return ((g + 1) * size - 1) / 2


def reflect(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Fold coordinates into [low, high] by reflecting at the borders."""
    span = high - low
    if span <= 0:
        return np.zeros_like(x)
    d = np.abs(x - low)
    flips = np.floor(d / span)
    r = d - flips * span
    return np.where(flips % 2 == 0, low + r, high - r)


def _sample_borders(size: int, align_corners: bool) -> tuple[float, float]:
    return (0.0, size - 1.0) if align_corners else (-0.5, size - 0.5)


def _grid_taps(coords: list[np.ndarray], dims: Sequence[int], mode: str):
    """(per-axis integer tap positions, weights) for nearest/linear/cubic sampling."""
    if mode == "nearest":
        return [[(np.rint(c).astype(np.int64), 1.0)] for c in coords]
    taps = []
    for c in coords:
        base = np.floor(c)
        frac = c - base
        base = base.astype(np.int64)
        if mode == "linear":
            taps.append([(base, 1 - frac), (base + 1, frac)])
        else:
            taps.append([(base + k, cubic_kernel(frac - k, -0.75)) for k in (-1, 0, 1, 2)])
    return taps


@defop("nn.grid_sample", inputs="x, grid",
       attrs={"mode": attr("str", "linear"), "padding_mode": attr("str", "zeros"),
              "align_corners": attr("bool", False)},
       doc="ONNX GridSample (N-d): sample x at the [-1, 1] coordinates of grid [N, *out, d] "
           "(last dim ordered x, y, z...) with nearest/linear/cubic and zeros/border/reflection")
class GridSample:
    def infer(ins, attrs):
        x, grid = ins[0].type, ins[1].type
        _check_float(x, "grid_sample")
        if attrs["mode"] not in RESIZE_MODES:
            raise ShapeError(f"unknown grid_sample mode '{attrs['mode']}'")
        if attrs["padding_mode"] not in ("zeros", "border", "reflection"):
            raise ShapeError(f"unknown padding_mode '{attrs['padding_mode']}'")
        if x.shape is None or grid.shape is None:
            return [TensorType(x.dtype, None)]
        if len(grid.shape) != len(x.shape) or grid.shape[-1] not in (x.rank - 2, None):
            raise ShapeError(f"grid {grid} does not fit input {x}")
        return [TensorType(x.dtype, (x.shape[0], x.shape[1], *grid.shape[1:-1]))]

    def kernel(xs, attrs):
        x, grid = xs
        dims, sp = x.shape[2:], x.ndim - 2
        acc = _compute_dtype(x.dtype)
        align, padding = attrs["align_corners"], attrs["padding_mode"]
        coords = []
        for a in range(sp):  # grid's last dim lists the innermost axis first
            c = unnormalize(grid[..., sp - 1 - a].astype(np.float64), dims[a], align)
            low, high = _sample_borders(dims[a], align)
            # nearest/linear pad the sampling point; cubic pads each of its taps instead
            # (PyTorch and ONNX Runtime), which the tap loop below does for every mode
            if padding == "border" and attrs["mode"] != "cubic":
                c = np.where((c < low) | (c > high), np.clip(c, 0, dims[a] - 1), c)
            elif padding == "reflection" and attrs["mode"] != "cubic":
                c = reflect(c, low, high)
            coords.append(c)
        batch = np.arange(x.shape[0]).reshape((-1,) + (1,) * sp)
        out = np.zeros(grid.shape[:-1] + (x.shape[1],), dtype=acc)
        for combo in _product(_grid_taps(coords, dims, attrs["mode"])):
            idx, weight, inside = [], 1.0, True
            for a, (pos, w) in enumerate(combo):
                if padding == "zeros":
                    inside = inside & (pos >= 0) & (pos < dims[a])
                elif padding == "reflection":
                    low, high = _sample_borders(dims[a], align)
                    pos = reflect(pos.astype(np.float64), low, high).astype(np.int64)
                idx.append(np.clip(pos, 0, dims[a] - 1))
                weight = weight * w
            picked = x[(batch, slice(None)) + tuple(idx)]  # advanced indices first: [N, *out, C]
            out += picked * np.expand_dims(np.asarray(weight * inside, acc), -1)
        return np.moveaxis(out, -1, 1).astype(x.dtype)


def _product(per_axis: list[list]) -> list[tuple]:
    combos: list[tuple] = [()]
    for options in per_axis:
        combos = [c + (o,) for c in combos for o in options]
    return combos


def base_grid(dims: Sequence[int], align_corners: bool) -> np.ndarray:
    """[*dims, d+1] homogeneous [-1, 1] coordinates (x first, i.e. innermost axis first)."""
    axes = []
    for size in dims:
        if align_corners:
            axes.append(np.linspace(-1.0, 1.0, size) if size > 1 else np.zeros(size))
        else:
            axes.append((np.arange(size) * 2.0 + 1.0) / size - 1.0)
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([*mesh[::-1], np.ones(tuple(dims))], axis=-1)


@defop("nn.affine_grid", inputs="theta, size?",
       attrs={"size": attr("ints", ()), "align_corners": attr("bool", False)},
       doc="ONNX AffineGrid: sampling grid [N, *spatial, d] for affine matrices theta "
           "[N, d, d+1]; size ([N, C, *spatial]) is an attribute or a run-time i64 input")
class AffineGrid:
    def infer(ins, attrs):
        theta = ins[0].type
        _check_float(theta, "affine_grid")
        size = attrs["size"] or const_ints(ins[1] if len(ins) > 1 else None)
        if size:
            return [TensorType(theta.dtype, (size[0], *size[2:], len(size) - 2))]
        n = _static_len(ins[1] if len(ins) > 1 else None)  # 2 + number of spatial dims
        return [TensorType(theta.dtype, None if n is None else (None,) * (n - 1) + (n - 2,))]

    def kernel(xs, attrs):
        theta, size_input = padded(xs, 2)
        size = list(attrs["size"]) or [int(v) for v in size_input]
        dims = size[2:]
        grid = base_grid(dims, attrs["align_corners"]).reshape(-1, len(dims) + 1)
        out = np.matmul(grid, np.swapaxes(theta.astype(np.float64), 1, 2))
        return out.reshape((size[0], *dims, len(dims))).astype(theta.dtype)


def _roi_axis(start: np.ndarray, length: np.ndarray, pooled: int, grid: np.ndarray,
              limit: int):
    """Bilinear sample positions of RoiAlign along one axis, for every roi [R, pooled, g]:
    (low index, high index, fraction, inside-the-image mask, sample-is-used mask).  Rois may
    use different sample counts ``grid``; the largest is taken and the rest masked."""
    bin_size = (length / pooled)[:, None, None]
    k = np.arange(int(grid.max()))[None, None, :]
    pos = start[:, None, None] + np.arange(pooled)[None, :, None] * bin_size + (
        k + 0.5) * bin_size / grid[:, None, None]
    used = np.broadcast_to(k < grid[:, None, None], pos.shape)
    inside = (pos >= -1.0) & (pos <= limit)
    pos = np.maximum(pos, 0.0)
    low = np.floor(pos).astype(np.int64)
    at_edge = low >= limit - 1
    low = np.where(at_edge, limit - 1, low)
    high = np.where(at_edge, limit - 1, low + 1)
    frac = np.where(at_edge, 0.0, pos - low)
    return low, high, frac, inside, used


@defop("nn.roi_align", inputs="x, rois, batch_indices",
       attrs={"mode": attr("str", "avg"), "output_height": attr("int", 1),
              "output_width": attr("int", 1), "sampling_ratio": attr("int", 0),
              "spatial_scale": attr("float", 1.0),
              "coordinate_transformation_mode": attr("str", "half_pixel")},
       doc="ONNX RoiAlign: bilinear samples averaged (or max-ed, as ONNX Runtime does) over "
           "each output bin of each region of interest [x1, y1, x2, y2]")
class RoiAlign:
    def infer(ins, attrs):
        x, rois = ins[0].type, ins[1].type
        _check_float(x, "roi_align")
        _check_rank(x, "roi_align", 4)
        if attrs["mode"] not in ("avg", "max"):
            raise ShapeError(f"unknown roi_align mode '{attrs['mode']}'")
        r = rois.shape[0] if rois.shape else None
        c = x.shape[1] if x.shape else None
        return [TensorType(x.dtype, (r, c, attrs["output_height"], attrs["output_width"]))]

    def kernel(xs, attrs):
        x, rois, batch = xs
        height, width = x.shape[2:]
        oh, ow = attrs["output_height"], attrs["output_width"]
        half_pixel = attrs["coordinate_transformation_mode"] == "half_pixel"
        boxes = rois.astype(np.float64) * attrs["spatial_scale"] - (0.5 if half_pixel else 0.0)
        x1, y1 = boxes[:, 0], boxes[:, 1]
        roi_w, roi_h = boxes[:, 2] - x1, boxes[:, 3] - y1
        if not half_pixel:  # the legacy mode makes every roi at least one pixel
            roi_w, roi_h = np.maximum(roi_w, 1.0), np.maximum(roi_h, 1.0)
        ratio = attrs["sampling_ratio"]
        grid_h = np.full(len(boxes), ratio) if ratio > 0 else np.ceil(roi_h / oh).astype(int)
        grid_w = np.full(len(boxes), ratio) if ratio > 0 else np.ceil(roi_w / ow).astype(int)
        grid_h, grid_w = np.maximum(grid_h, 1), np.maximum(grid_w, 1)
        y_lo, y_hi, fy, in_y, used_y = _roi_axis(y1, roi_h, oh, grid_h, height)
        x_lo, x_hi, fx, in_x, used_x = _roi_axis(x1, roi_w, ow, grid_w, width)

        def rows(a):  # [R, oh, gh] -> [R, oh, gh, 1, 1]
            return a[:, :, :, None, None]

        def cols(a):  # [R, ow, gw] -> [R, 1, 1, ow, gw]
            return a[:, None, None, :, :]

        inside = rows(in_y) & cols(in_x)
        images = batch.astype(np.int64)[:, None, None, None, None]
        corners = [(y_lo, x_lo, (1 - fy), (1 - fx)), (y_lo, x_hi, (1 - fy), fx),
                   (y_hi, x_lo, fy, (1 - fx)), (y_hi, x_hi, fy, fx)]
        terms = (x[images, :, rows(yi), cols(xi)] * (rows(wy) * cols(wx) * inside)[..., None]
                 for yi, xi, wy, wx in corners)  # each [R, oh, gh, ow, gw, C]
        used = (rows(used_y) & cols(used_x))[..., None]
        if attrs["mode"] == "avg":
            total = np.where(used, sum(terms), 0.0).sum(axis=(2, 4))
            out = total / (grid_h * grid_w)[:, None, None, None]
        else:
            best = np.where(used, np.maximum.reduce(list(terms)), -np.inf)
            out = best.max(axis=(2, 4))
        return np.moveaxis(out, -1, 1).astype(x.dtype)
