"""Casts: ``ew.cast`` with ONNX Cast semantics (float->int truncates, int->int wraps, also to
sub-byte integers, numbers <-> strings) and ``ew.bitcast``, which reinterprets the bits."""

from __future__ import annotations

import numpy as np

from leptonc.errors import InputError, ShapeError
from leptonc.ir import dtypes
from leptonc.ir.dtypes import DType
from leptonc.ir.types import TensorType
from leptonc.ops.elementwise.common import is_text, widen
from leptonc.ops.registry import attr, defop


def _wrap_to_width(values: np.ndarray, to: DType) -> np.ndarray:
    """Keep the low ``to.bits`` bits (two's complement), for iN/uN narrower than a byte."""
    low = values.astype(np.int64) & ((1 << to.bits) - 1)
    if to.is_signed:
        low = np.where(low > to.max, low - (1 << to.bits), low)
    return low.astype(to.numpy)


def _format_numbers(x: np.ndarray) -> np.ndarray:
    """Numbers as ONNX's strings: shortest round-trip digits, '1' not '1.0', NaN, INF, -INF."""
    if x.dtype == np.bool_:
        x = x.astype(np.uint8)
    text = widen(x).astype(str)
    if x.dtype.kind in "iu":
        return text.astype(object)
    whole = np.char.endswith(text, ".0")
    text = np.where(whole, np.char.rpartition(text, ".")[..., 0], text)
    for spelled, onnx_spelling in (("nan", "NaN"), ("inf", "INF"), ("-inf", "-INF")):
        text = np.where(text == spelled, onnx_spelling, text)
    return text.astype(object)


def _parse_numbers(x: np.ndarray, to: DType) -> np.ndarray:
    """Strings to int64/uint64 (for integer targets, exact) or float64; 'INF', 'NaN' allowed."""
    text = np.char.strip(x.astype(str))
    try:
        if to.is_integer:
            try:
                return text.astype(np.uint64 if to == dtypes.u64 else np.int64)
            except ValueError:
                pass  # "2.5" or "1e3": ONNX leaves it undefined; go through float
        return text.astype(np.float64)
    except ValueError as e:
        raise InputError(f"cannot cast string to {to}: {e}") from None


def cast(x: np.ndarray, to: DType) -> np.ndarray:
    """ONNX Cast: floats truncate toward zero into integers, integers wrap, nonzero is True."""
    if to.kind == "string":
        return x.astype(object) if is_text(x) else _format_numbers(x)
    if is_text(x):
        x = _parse_numbers(x, to)
    if to.kind == "bool":
        return x != 0
    x = widen(x)
    with np.errstate(invalid="ignore", over="ignore"):
        if to.is_integer and to.bits not in (8, 16, 32, 64):
            return _wrap_to_width(x if x.dtype.kind in "iub" else np.trunc(x), to)
        return x.astype(to.numpy)


@defop("ew.cast", inputs="x", attrs={"to": attr("dtype")},
       doc="convert to dtype `to` (float->int truncates toward zero, int->int wraps, "
           "numbers<->strings as ONNX Cast)")
class Cast:
    def infer(ins, attrs):
        return [TensorType(attrs["to"], ins[0].type.shape)]

    def kernel(xs, attrs):
        return cast(xs[0], attrs["to"])


@defop("ew.bitcast", inputs="x", attrs={"to": attr("dtype")},
       doc="reinterpret the bits (little endian) as dtype `to` of the same width")
class BitCast:
    def infer(ins, attrs):
        src, to = ins[0].type.dtype, attrs["to"]
        for t in (src, to):
            if t.kind == "string" or t.bits not in (8, 16, 32, 64):
                raise ShapeError(f"bitcast needs byte-sized element types, got {t}")
        if src.bits != to.bits:
            raise ShapeError(f"bitcast from {src} to {to} changes the element width")
        return [TensorType(to, ins[0].type.shape)]

    def kernel(xs, attrs):
        x = xs[0] if xs[0].flags.c_contiguous else xs[0].copy()
        raw = x.view(np.dtype(f"u{x.dtype.itemsize}"))
        to = attrs["to"]
        return raw != 0 if to.kind == "bool" else raw.view(to.numpy)
