"""Neural-network ops (``nn.*``): convolution, pooling, normalisation, activations with
parameters, resize.

Convolutions are N-d (1-D audio, 2-D vision, 3-D) with ONNX's layout: x is [N, C, *spatial],
w is [M, C/group, *kernel], pads are [begin_0.., end_0..].
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from leptonc.errors import ShapeError
from leptonc.ir.types import TensorType
from leptonc.ops.infer_utils import conv_out_dim
from leptonc.ops.registry import attr, defop


def _spatial_attrs(attrs: dict, rank: int) -> tuple[tuple, tuple, tuple]:
    sp = rank - 2
    strides = attrs["strides"] or (1,) * sp
    dilations = attrs["dilations"] or (1,) * sp
    pads = attrs["pads"] or (0,) * (2 * sp)
    if len(strides) != sp or len(dilations) != sp or len(pads) != 2 * sp:
        raise ShapeError(f"strides/dilations/pads do not fit {sp} spatial dims")
    return strides, dilations, pads


def pad_spatial(x: np.ndarray, pads: tuple, value: float = 0.0) -> np.ndarray:
    sp = len(pads) // 2
    if not any(pads):
        return x
    widths = [(0, 0)] * (x.ndim - sp) + [(pads[i], pads[i + sp]) for i in range(sp)]
    return np.pad(x, widths, constant_values=value)


def windows(x: np.ndarray, kernel: tuple, strides: tuple, dilations: tuple) -> np.ndarray:
    """A strided view [N, C, *out, *kernel] of every (dilated) window of padded ``x``."""
    sp = len(kernel)
    axes = tuple(range(x.ndim - sp, x.ndim))
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilations, strict=True)]
    view = sliding_window_view(x, span, axis=axes)
    index = (Ellipsis,) + tuple(slice(None, None, s) for s in strides) + tuple(
        slice(None, None, d) for d in dilations)
    return view[(slice(None),) * (x.ndim - sp) + index[1:]]


def im2col(x: np.ndarray, kernel: tuple, strides: tuple, dilations: tuple
           ) -> tuple[np.ndarray, tuple]:
    """[N, C*prod(kernel), prod(out)] columns of padded ``x`` (one copy), and the out dims."""
    win = windows(x, kernel, strides, dilations)
    n, c = x.shape[:2]
    sp = len(kernel)
    out_dims = win.shape[2:2 + sp]
    order = (0, 1) + tuple(range(2 + sp, 2 + 2 * sp)) + tuple(range(2, 2 + sp))
    cols = win.transpose(order).reshape(n, c * math.prod(kernel), math.prod(out_dims))
    return cols, out_dims


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, strides: tuple, pads: tuple,
         dilations: tuple, group: int) -> np.ndarray:
    n, c = x.shape[:2]
    m, kernel = w.shape[0], w.shape[2:]
    x = pad_spatial(x, pads)
    if group == 1:
        if all(k == 1 for k in kernel) and all(s == 1 for s in strides):
            out_dims = x.shape[2:]
            out = np.matmul(w.reshape(m, c), x.reshape(n, c, -1))
        else:
            cols, out_dims = im2col(x, kernel, strides, dilations)
            out = np.matmul(w.reshape(m, -1), cols)
    elif group == c and w.shape[1] == 1 and m % c == 0:
        out, out_dims = _depthwise(x, w, strides, dilations)
    else:
        cg, mg = c // group, m // group
        parts = []
        for g in range(group):
            cols, out_dims = im2col(x[:, g * cg:(g + 1) * cg], kernel, strides, dilations)
            parts.append(np.matmul(w[g * mg:(g + 1) * mg].reshape(mg, -1), cols))
        out = np.concatenate(parts, axis=1)
    out = out.reshape((n, m) + tuple(out_dims))
    if b is not None:
        out += b.reshape((1, m) + (1,) * len(kernel))
    return out


def _depthwise(x: np.ndarray, w: np.ndarray, strides: tuple, dilations: tuple):
    """Depthwise conv as a sum over kernel taps (vectorised over batch, channel and space)."""
    m, kernel = w.shape[0], w.shape[2:]
    mult = m // x.shape[1]
    if mult > 1:
        x = np.repeat(x, mult, axis=1)
    win = windows(x, kernel, strides, dilations)
    sp = len(kernel)
    out_dims = win.shape[2:2 + sp]
    out = np.zeros((x.shape[0], m) + tuple(out_dims), dtype=np.result_type(x, w))
    for tap in np.ndindex(*kernel):
        wt = w[(slice(None), 0) + tap].reshape((1, m) + (1,) * sp)
        out += win[(Ellipsis,) + tap] * wt
    return out.reshape(x.shape[0], m, -1), out_dims


@defop("nn.conv", inputs="x, w, bias?",
       attrs={"strides": attr("ints", ()), "pads": attr("ints", ()),
              "dilations": attr("ints", ()), "group": attr("int", 1)},
       doc="N-d convolution (cross-correlation), ONNX Conv semantics with explicit pads")
class Conv:
    def infer(ins, attrs):
        x, w = ins[0].type, ins[1].type
        if x.rank is None or w.rank is None or x.rank != w.rank or x.rank < 3:
            raise ShapeError(f"conv needs x and w of equal rank >= 3, got {x} and {w}")
        strides, dilations, pads = _spatial_attrs(attrs, x.rank)
        group, c = attrs["group"], x.shape[1]
        if isinstance(c, int) and isinstance(w.shape[1], int) and c != w.shape[1] * group:
            raise ShapeError(f"input has {c} channels, weight expects {w.shape[1]} x {group} groups")
        sp = x.rank - 2
        dims = [conv_out_dim(x.shape[2 + i], w.shape[2 + i], strides[i], pads[i] + pads[i + sp],
                             dilations[i]) for i in range(sp)]
        return [TensorType(x.dtype, (x.shape[0], w.shape[0], *dims))]

    def kernel(xs, attrs):
        x, w, b = xs
        strides, dilations, pads = _spatial_attrs(attrs, x.ndim)
        return conv(x, w, b, strides, pads, dilations, attrs["group"]).astype(x.dtype, copy=False)

    def macs(ins, outs, attrs):
        w, y = ins[1].type, outs[0]
        if not (w.is_static and y.is_static):
            return 0
        return y.num_elements * math.prod(w.shape[1:])
