"""Transposed convolution (``nn.conv_transpose``) and ``nn.col2im``: both scatter-add
im2col-style columns back into an image (col2im, ``fold_taps``), then crop the pads."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.types import Dim, TensorType
from leptonc.ops.infer_utils import const_ints, padded
from leptonc.ops.nn.common import accumulate, static_len
from leptonc.ops.nn.conv import conv_operands
from leptonc.ops.nn.window import WINDOW_ATTRS, spatial_attrs, tap_slices, window_dims, window_of
from leptonc.ops.registry import attr, defop


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


# ----- transposed convolution ------------------------------------------------------------------
def _full_dims(in_dims: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
               dilations: Sequence[int]) -> list[int]:
    """The spatial dims every tap of a transposed convolution reaches, before the pads crop
    them and output_padding grows them."""
    return [strides[a] * (in_dims[a] - 1) + dilations[a] * (kernel[a] - 1) + 1
            for a in range(len(kernel))]


def _cropped_dims(full_dims: Sequence[int], pads: Sequence[int],
                  output_padding: Sequence[int]) -> list[int]:
    sp = len(full_dims)
    return [f - pads[i] - pads[i + sp] + output_padding[i] for i, f in enumerate(full_dims)]


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
    full_dims = _full_dims(in_dims, kernel, strides, dilations)
    full = fold_taps(cols, strides, dilations, full_dims)
    out_dims = _cropped_dims(full_dims, pads, output_padding)
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
    full_dims = _full_dims(in_dims, kernel, strides, dilations)
    begin, end, extra = [], [], list(output_padding)
    for i in range(sp):
        total = full_dims[i] + output_padding[i] - target[i]
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


def _transpose_geometry(attrs: dict, sp: int):
    """(strides, dilations, pads, output_padding) with ONNX defaults filled in."""
    strides, dilations, pads = spatial_attrs(attrs, sp)
    output_padding = tuple(attrs["output_padding"]) or (0,) * sp
    if len(output_padding) != sp:
        raise ShapeError(f"output_padding {list(output_padding)} does not fit {sp} spatial dims")
    return strides, dilations, pads, output_padding


def _transpose_out_dims(attrs: dict, in_dims: Sequence[Dim], kernel: Sequence[Dim]
                        ) -> tuple[Dim, ...]:
    """conv_transpose's output spatial dims, as far as they are known."""
    sp = len(kernel)
    strides, dilations, pads, output_padding = _transpose_geometry(attrs, sp)
    if attrs["output_shape"]:
        return tuple(attrs["output_shape"])[-sp:]
    if not all(isinstance(d, int) for d in (*kernel, *in_dims)):
        return tuple(d * s if isinstance(d, int) and attrs["auto_pad"].startswith("SAME")
                     else None for d, s in zip(in_dims, strides, strict=True))
    pads, output_padding = transpose_pads(attrs["auto_pad"], (), in_dims, kernel, strides,
                                          dilations, pads, output_padding)
    dims = _cropped_dims(_full_dims(in_dims, kernel, strides, dilations), pads, output_padding)
    if min(dims) < 0:
        raise ShapeError(f"conv_transpose output dims {dims} are negative")
    return tuple(dims)


@defop("nn.conv_transpose", inputs="x, w, bias?",
       attrs={**WINDOW_ATTRS, "group": attr("int", 1), "output_padding": attr("ints", ()),
              "output_shape": attr("ints", ())},
       doc="N-d transposed convolution, ONNX ConvTranspose semantics (w is [C, M/group, *k]); "
           "output_shape/auto_pad stay only when spatial dims are dynamic")
class ConvTranspose:
    def infer(ins, attrs):
        x, w, _ = conv_operands(ins, "conv_transpose")
        m = w.shape[1] * attrs["group"] if isinstance(w.shape[1], int) else None
        if isinstance(x.shape[1], int) and isinstance(w.shape[0], int) and x.shape[1] != w.shape[0]:
            raise ShapeError(f"input has {x.shape[1]} channels, weight expects {w.shape[0]}")
        dims = _transpose_out_dims(attrs, x.shape[2:], w.shape[2:])
        return [TensorType(x.dtype, (x.shape[0], m, *dims))]

    def kernel(xs, attrs):
        x, w, b = padded(xs, 3)
        kernel = w.shape[2:]
        strides, dilations, pads, output_padding = _transpose_geometry(attrs, len(kernel))
        pads, output_padding = transpose_pads(attrs["auto_pad"], attrs["output_shape"],
                                              x.shape[2:], kernel, strides, dilations, pads,
                                              output_padding)
        xa, wa, ba = accumulate(x, w, b)
        y = conv_transpose_nd(xa, wa, ba, strides, pads, dilations, attrs["group"],
                              output_padding)
        return y.astype(x.dtype, copy=False)

    def macs(ins, outs, attrs):
        x, w = ins[0].type, ins[1].type
        if not (x.is_static and w.is_static):
            return 0
        return x.num_elements * math.prod(w.shape[1:])


# ----- col2im ----------------------------------------------------------------------------------
@defop("nn.col2im", inputs="x, image_shape?, block_shape?",
       attrs={"image_shape": attr("ints", ()), "block_shape": attr("ints", ()),
              "strides": attr("ints", ()), "pads": attr("ints", ()),
              "dilations": attr("ints", ())},
       doc="ONNX Col2Im: [N, C*prod(block), L] columns summed back into [N, C, *image]; the "
           "shapes are attributes, or i64 inputs when computed at run time")
class Col2Im:
    def infer(ins, attrs):
        x, image_input, block_input = padded(ins, 3)
        x = x.type
        if x.rank is not None and x.rank != 3:
            raise ShapeError(f"col2im takes [N, C*prod(block), L], got {x}")
        image = attrs["image_shape"] or const_ints(image_input)
        block = attrs["block_shape"] or const_ints(block_input)
        rank_hint = len(image) if image else static_len(image_input)
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
        sp, n, k = len(image), x.shape[0], math.prod(block)
        strides, dilations, pads = spatial_attrs(attrs, sp)
        positions = window_dims(image, block, strides, pads, dilations)
        if x.shape[1] % k or x.shape[2] != math.prod(positions):
            raise ShapeError(f"col2im input {list(x.shape)} does not match block {block} over "
                             f"{list(positions)} positions")
        cols = x.reshape((n, x.shape[1] // k, *block, *positions))
        padded_image = [d + pads[i] + pads[i + sp] for i, d in enumerate(image)]
        full = fold_taps(cols, strides, dilations, padded_image)
        return np.ascontiguousarray(window_of(full, pads[:sp], image))
