"""Sliding-window geometry shared by convolution and pooling: ONNX's strides/dilations/pads
defaults and auto_pad, how many windows fit, and the strided view each kernel tap reads.

Pads are [begin_0, begin_1, .., end_0, end_1, ..] over the trailing (spatial) axes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.types import Dim
from leptonc.ops.registry import attr

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")

WINDOW_ATTRS = {"strides": attr("ints", ()), "pads": attr("ints", ()),
                "dilations": attr("ints", ()), "auto_pad": attr("str", "NOTSET")}


# ----- attributes ------------------------------------------------------------------------------
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


# ----- output size -----------------------------------------------------------------------------
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


# ----- array views -----------------------------------------------------------------------------
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


def tap_views(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
              dilations: Sequence[int], out_dims: Sequence[int]) -> Iterator[np.ndarray]:
    """For every kernel tap in row-major order, the view of padded ``x`` [..., *spatial] it
    reads at every output position: [..., *out_dims]."""
    for tap in np.ndindex(*kernel):
        yield x[(Ellipsis,) + tap_slices(tap, strides, dilations, out_dims)]


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
