"""Integer ops of lowered quantized graphs (``quant.conv``, ``quant.matmul``,
``quant.requantize``, ``quant.add``, ``quant.mul``, ``quant.lut``, ``quant.sum_pool``,
``quant.reduce_sum``), written by the ``lower-quantized`` pass.

Every kernel computes exactly in integers: products and sums in i64 (or in f64 where that is
provably exact, see ``exact_matmul``), accumulators returned as i32, requantization through
``leptonc.quant.arith`` (the one place the rounding is defined).  Zero points, clamp bounds
and the add/mul rescaling parameters are integer attributes; ``quant.requantize``'s per-channel
multipliers and shifts are i32 constant inputs.  docs/quantization.md states every formula.

An i32 accumulator that overflows wraps, as the hardware's would; ``lower-quantized`` only
creates accumulating ops whose worst case over the real weights fits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.dtypes import DType
from leptonc.ir.graph import Value
from leptonc.ir.types import Shape, TensorType, dims_compatible
from leptonc.ops.infer_utils import broadcast_shapes, normalize_axis, padded
from leptonc.ops.linalg import matmul_shape
from leptonc.ops.nn import conv_nd, resolve_pads, spatial_attrs, window_dims
from leptonc.ops.nn.pool import pool_geometry
from leptonc.ops.nn.window import WINDOW_ATTRS, pad_spatial, tap_views
from leptonc.ops.reduce import reduced_shape
from leptonc.ops.registry import attr, defop
from leptonc.quant import arith

_MAX_OPERAND_BITS = 16  # quantized activations and weights: 2..16-bit integers
_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1
# f64 holds every integer below 2**53 exactly, so a BLAS product whose partial sums stay
# below it is the exact integer product.
_F64_EXACT = 1 << 53
_MAX_LEFT_SHIFT = 30


# ----- checks shared by the ops ----------------------------------------------------------------
def _check_operand(t: TensorType, what: str, op: str) -> None:
    if not t.dtype.is_integer or t.dtype.bits > _MAX_OPERAND_BITS:
        raise ShapeError(f"{op}: {what} must be an integer of at most {_MAX_OPERAND_BITS} bits, "
                         f"got {t.dtype}")


def _check_zero_point(zp: int, t: TensorType, what: str, op: str) -> None:
    if not t.dtype.min <= zp <= t.dtype.max:
        raise ShapeError(f"{op}: {what} {zp} is outside the range of {t.dtype}")


def _check_bias(bias: Value | None, channels, op: str) -> None:
    if bias is None:
        return
    b = bias.type
    if b.dtype != dtypes.i32:
        raise ShapeError(f"{op}: bias must be i32, got {b.dtype}")
    if b.shape is not None and (len(b.shape) != 1 or not dims_compatible(b.shape[0], channels)):
        raise ShapeError(f"{op}: bias must be 1-D with {channels} entries, got {b}")


def _check_output_range(attrs: dict, op: str) -> DType:
    """The output dtype after checking that [qmin, qmax] is a non-empty part of its range."""
    dtype, qmin, qmax = attrs["dtype"], attrs["qmin"], attrs["qmax"]
    if not dtype.is_integer or dtype.bits > 32:
        raise ShapeError(f"{op}: result type must be an integer of at most 32 bits, got {dtype}")
    if not dtype.min <= qmin <= qmax <= dtype.max:
        raise ShapeError(f"{op}: clamp bounds [{qmin}, {qmax}] must be ordered and lie in "
                         f"{dtype}'s range [{dtype.min}, {dtype.max}]")
    _check_zero_point(attrs["output_zero_point"], TensorType(dtype, ()), "output_zero_point", op)
    return dtype


def _check_multiplier(multiplier: int, shift: int, what: str, op: str) -> None:
    """A (multiplier, shift) pair as arith.quantize_multiplier produces them."""
    if not 0 <= multiplier < (1 << arith.MULTIPLIER_BITS):
        raise ShapeError(f"{op}: {what} multiplier {multiplier} must lie in [0, 2**31)")
    if not -arith.MULTIPLIER_BITS <= shift < arith.MULTIPLIER_BITS:
        raise ShapeError(f"{op}: {what} shift {shift} must lie in [-31, 30]")


def _wrap_i32(acc: np.ndarray) -> np.ndarray:
    """An i64 sum as an i32 accumulator holds it (two's complement wrap-around)."""
    return np.asarray(acc).astype(np.int32)


# ----- exact integer products ------------------------------------------------------------------
def _max_abs(a: np.ndarray) -> int:
    return int(np.abs(a).max(initial=0))


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` of integer arrays, exactly, as i64.  When ``K * max|a| * max|b|`` (a bound on
    every partial sum) is below 2**53 the product runs in f64 BLAS, which is then exact;
    otherwise in i64 numpy loops."""
    k = a.shape[-1]
    if k * _max_abs(a) * _max_abs(b) < _F64_EXACT:
        return np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.int64)
    return np.matmul(a.astype(np.int64), b.astype(np.int64))


def exact_conv(x: np.ndarray, w: np.ndarray, attrs: dict) -> np.ndarray:
    """The i64 convolution of integer ``x`` (already centred) and ``w`` with the geometry
    attributes of nn.conv; padding taps read 0.  f64 where exact, as in ``exact_matmul``."""
    strides, dilations, pads = spatial_attrs(attrs, x.ndim - 2)
    pads = resolve_pads(attrs["auto_pad"], pads, x.shape[2:], w.shape[2:], strides, dilations)
    taps = math.prod(w.shape[1:])
    work = np.float64 if taps * _max_abs(x) * _max_abs(w) < _F64_EXACT else np.int64
    y = conv_nd(x.astype(work), w.astype(work), None, strides, pads, dilations, attrs["group"])
    return y.astype(np.int64)


def _with_bias(acc: np.ndarray, bias: np.ndarray | None, axis: int) -> np.ndarray:
    if bias is None:
        return acc
    shape = [1] * acc.ndim
    shape[axis] = bias.size
    return acc + bias.astype(np.int64).reshape(shape)


# ----- quant.conv ------------------------------------------------------------------------------
def _conv_result_shape(x: TensorType, w: TensorType, attrs: dict) -> Shape:
    if x.rank is None or w.rank is None or x.rank != w.rank or x.rank < 3:
        raise ShapeError(f"quant.conv needs x and w of equal rank >= 3, got {x} and {w}")
    sp = x.rank - 2
    strides, dilations, pads = spatial_attrs(attrs, sp)
    c, group = x.shape[1], attrs["group"]
    if isinstance(c, int) and isinstance(w.shape[1], int) and c != w.shape[1] * group:
        raise ShapeError(f"quant.conv: input has {c} channels, weight expects {w.shape[1]} x "
                         f"{group} groups")
    kernel = w.shape[2:]
    if not all(isinstance(k, int) for k in kernel):
        return (x.shape[0], w.shape[0]) + (None,) * sp
    return (x.shape[0], w.shape[0], *window_dims(x.shape[2:], kernel, strides, pads, dilations,
                                                 attrs["auto_pad"]))


@defop("quant.conv", inputs="x, w, bias?", outputs="acc",
       attrs={**WINDOW_ATTRS, "group": attr("int", 1), "x_zero_point": attr("int", 0)},
       doc="i32 accumulator of an integer convolution: sum over taps of (x - x_zero_point) * w, "
           "plus the i32 bias per output channel; padding taps contribute 0 (they stand for x == "
           "x_zero_point); w is symmetric (zero point 0); geometry attributes as nn.conv")
class Conv:
    def infer(ins, attrs):
        x, w = ins[0].type, ins[1].type
        _check_operand(x, "x", "quant.conv")
        _check_operand(w, "w", "quant.conv")
        _check_zero_point(attrs["x_zero_point"], x, "x_zero_point", "quant.conv")
        shape = _conv_result_shape(x, w, attrs)
        _check_bias(padded(ins, 3)[2], shape[1], "quant.conv")
        return [TensorType(dtypes.i32, shape)]

    def kernel(xs, attrs):
        x, w, bias = padded(xs, 3)
        centred = x.astype(np.int64) - attrs["x_zero_point"]
        return _wrap_i32(_with_bias(exact_conv(centred, w, attrs), bias, 1))

    def macs(ins, outs, attrs):
        w, y = ins[1].type, outs[0]
        return y.num_elements * math.prod(w.shape[1:]) if w.is_static and y.is_static else 0


# ----- quant.matmul ----------------------------------------------------------------------------
@defop("quant.matmul", inputs="a, b, bias?", outputs="acc",
       attrs={"a_zero_point": attr("int", 0), "b_zero_point": attr("int", 0)},
       doc="i32 accumulator of an integer matmul (numpy matmul broadcasting): (a - a_zero_point) "
           "@ (b - b_zero_point), plus the i32 bias along the last axis")
class MatMul:
    def infer(ins, attrs):
        a, b = ins[0].type, ins[1].type
        _check_operand(a, "a", "quant.matmul")
        _check_operand(b, "b", "quant.matmul")
        _check_zero_point(attrs["a_zero_point"], a, "a_zero_point", "quant.matmul")
        _check_zero_point(attrs["b_zero_point"], b, "b_zero_point", "quant.matmul")
        shape = matmul_shape(a.shape, b.shape)
        if shape is not None and not shape:
            raise ShapeError("quant.matmul of two vectors has no last axis for a bias; reshape "
                             "an operand to 2-D")
        _check_bias(padded(ins, 3)[2], None if shape is None else shape[-1], "quant.matmul")
        return [TensorType(dtypes.i32, shape)]

    def kernel(xs, attrs):
        a, b, bias = padded(xs, 3)
        acc = exact_matmul(a.astype(np.int64) - attrs["a_zero_point"],
                           b.astype(np.int64) - attrs["b_zero_point"])
        return _wrap_i32(_with_bias(acc, bias, acc.ndim - 1))

    def macs(ins, outs, attrs):
        a, y = ins[0].type, outs[0]
        return math.prod(y.shape) * a.shape[-1] if a.is_static and y.is_static else 0


# ----- quant.requantize ------------------------------------------------------------------------
def _requant_attrs() -> dict:
    return {"output_zero_point": attr("int", 0), "qmin": attr("int"), "qmax": attr("int"),
            "dtype": attr("dtype")}


def _check_channel_param(v: Value, x: TensorType, axis: int, what: str) -> None:
    t = v.type
    if t.dtype != dtypes.i32:
        raise ShapeError(f"quant.requantize: {what} must be i32, got {t.dtype}")
    if t.shape is None or len(t.shape) == 0:
        return
    if len(t.shape) != 1:
        raise ShapeError(f"quant.requantize: {what} must be 0-d or 1-D, got {t}")
    if x.shape is not None and t.shape[0] != 1 and not dims_compatible(t.shape[0], x.shape[axis]):
        raise ShapeError(f"quant.requantize: {what} has {t.shape[0]} entries for axis {axis} of "
                         f"size {x.shape[axis]}")


def _along(param: np.ndarray, rank: int, axis: int) -> np.ndarray:
    """A 0-d or 1-D per-channel parameter shaped to broadcast along ``axis``."""
    if param.ndim == 0 or param.size == 1:
        return param.reshape(())
    shape = [1] * rank
    shape[axis] = param.size
    return param.reshape(shape)


@defop("quant.requantize", inputs="x, multiplier, shift",
       attrs={"axis": attr("int", 1), "input_zero_point": attr("int", 0), **_requant_attrs()},
       doc="clamp(((x - input_zero_point) * multiplier + 2**(30 - shift)) >> (31 - shift) + "
           "output_zero_point, qmin, qmax) in i64 (leptonc.quant.arith.requantize), stored as "
           "`dtype`; multiplier/shift are i32, 0-d or per channel along `axis`")
class Requantize:
    def infer(ins, attrs):
        x = ins[0].type
        if not x.dtype.is_integer or x.dtype.bits > 32:
            raise ShapeError(f"quant.requantize takes an integer of at most 32 bits, got {x.dtype}")
        dtype = _check_output_range(attrs, "quant.requantize")
        axis = attrs["axis"]
        if x.rank is not None:
            axis = normalize_axis(axis, x.rank) if x.rank else 0
        _check_channel_param(ins[1], x, axis, "multiplier")
        _check_channel_param(ins[2], x, axis, "shift")
        return [TensorType(dtype, x.shape)]

    def kernel(xs, attrs):
        x, multiplier, shift = xs
        axis = attrs["axis"] % x.ndim if x.ndim else 0
        y = arith.requantize(x, _along(multiplier, x.ndim, axis), _along(shift, x.ndim, axis),
                             input_zero_point=attrs["input_zero_point"],
                             output_zero_point=attrs["output_zero_point"],
                             qmin=attrs["qmin"], qmax=attrs["qmax"])
        return y.astype(attrs["dtype"].numpy)


# ----- quant.add / quant.mul -------------------------------------------------------------------
def _binary_infer(ins, attrs, op: str) -> list[TensorType]:
    a, b = ins[0].type, ins[1].type
    _check_operand(a, "a", op)
    _check_operand(b, "b", op)
    _check_zero_point(attrs["a_zero_point"], a, "a_zero_point", op)
    _check_zero_point(attrs["b_zero_point"], b, "b_zero_point", op)
    dtype = _check_output_range(attrs, op)
    return [TensorType(dtype, broadcast_shapes(a.shape, b.shape))]


def _scaled_operand(x: np.ndarray, zero_point: int, left_shift: int, multiplier: int,
                    shift: int) -> np.ndarray:
    """One add operand on the common fine scale: requantize((x - zp) << left_shift)."""
    widened = np.left_shift(x.astype(np.int64) - zero_point, left_shift)
    return arith.requantize(widened, multiplier, shift, qmin=_I32_MIN, qmax=_I32_MAX)


@defop("quant.add", inputs="a, b",
       attrs={"a_zero_point": attr("int", 0), "b_zero_point": attr("int", 0),
              "left_shift": attr("int", 20),
              "a_multiplier": attr("int"), "a_shift": attr("int"),
              "b_multiplier": attr("int"), "b_shift": attr("int"),
              "output_multiplier": attr("int"), "output_shift": attr("int"),
              **_requant_attrs()},
       doc="integer add with rescaling (TFLite style, broadcasting): a' = requantize((a - "
           "a_zero_point) << left_shift, a_multiplier, a_shift), b' likewise, y = requantize(a' + "
           "b', output_multiplier, output_shift) + output_zero_point clamped to [qmin, qmax]")
class Add:
    def infer(ins, attrs):
        if not 0 <= attrs["left_shift"] <= _MAX_LEFT_SHIFT:
            raise ShapeError(f"quant.add: left_shift must lie in [0, {_MAX_LEFT_SHIFT}], got "
                             f"{attrs['left_shift']}")
        for which in ("a", "b", "output"):
            _check_multiplier(attrs[f"{which}_multiplier"], attrs[f"{which}_shift"], which,
                              "quant.add")
        return _binary_infer(ins, attrs, "quant.add")

    def kernel(xs, attrs):
        shift = attrs["left_shift"]
        a = _scaled_operand(xs[0], attrs["a_zero_point"], shift, attrs["a_multiplier"],
                            attrs["a_shift"])
        b = _scaled_operand(xs[1], attrs["b_zero_point"], shift, attrs["b_multiplier"],
                            attrs["b_shift"])
        y = arith.requantize(a + b, attrs["output_multiplier"], attrs["output_shift"],
                             output_zero_point=attrs["output_zero_point"],
                             qmin=attrs["qmin"], qmax=attrs["qmax"])
        return y.astype(attrs["dtype"].numpy)


@defop("quant.mul", inputs="a, b",
       attrs={"a_zero_point": attr("int", 0), "b_zero_point": attr("int", 0),
              "multiplier": attr("int"), "shift": attr("int"), **_requant_attrs()},
       doc="integer multiply with rescaling (broadcasting): y = requantize((a - a_zero_point) * "
           "(b - b_zero_point), multiplier, shift) + output_zero_point clamped to [qmin, qmax]")
class Mul:
    def infer(ins, attrs):
        _check_multiplier(attrs["multiplier"], attrs["shift"], "output", "quant.mul")
        return _binary_infer(ins, attrs, "quant.mul")

    def kernel(xs, attrs):
        product = ((xs[0].astype(np.int64) - attrs["a_zero_point"])
                   * (xs[1].astype(np.int64) - attrs["b_zero_point"]))
        y = arith.requantize(product, attrs["multiplier"], attrs["shift"],
                             output_zero_point=attrs["output_zero_point"],
                             qmin=attrs["qmin"], qmax=attrs["qmax"])
        return y.astype(attrs["dtype"].numpy)


# ----- quant.lut -------------------------------------------------------------------------------
@defop("quant.lut", inputs="x, table",
       doc="table lookup y = table[x - min(x's type)]; the table has one entry per value of x's "
           "type (2**bits) and gives the result type")
class Lut:
    def infer(ins, attrs):
        x, table = ins[0].type, ins[1].type
        _check_operand(x, "x", "quant.lut")
        _check_operand(table, "table", "quant.lut")
        entries = 1 << x.dtype.bits
        if table.shape is not None and (len(table.shape) != 1 or not dims_compatible(
                table.shape[0], entries)):
            raise ShapeError(f"quant.lut: a table for {x.dtype} needs {entries} entries, "
                             f"got {table}")
        return [TensorType(table.dtype, x.shape)]

    def kernel(xs, attrs):
        x, table = xs
        # the table's length gives x's width (iN is stored in a wider container); numpy keeps
        # the signedness
        lowest = -(table.size // 2) if x.dtype.kind == "i" else 0
        return table[x.astype(np.int64) - lowest]


# ----- integer sums for average pooling and means ----------------------------------------------
def _sum_pool_shape(x: TensorType, attrs: dict) -> Shape | None:
    if x.shape is None:
        return None
    kernel = tuple(attrs["kernel_shape"])
    if x.rank is None or x.rank < 3 or len(kernel) != x.rank - 2:
        raise ShapeError(f"quant.sum_pool: kernel_shape {list(kernel)} does not fit input {x}")
    strides, dilations, pads = spatial_attrs(attrs, len(kernel))
    return (*x.shape[:2], *window_dims(x.shape[2:], kernel, strides, pads, dilations,
                                       attrs["auto_pad"], attrs["ceil_mode"]))


def _padded_for_windows(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
                        dilations: Sequence[int], pads: Sequence[int], out_dims: Sequence[int],
                        value: int) -> np.ndarray:
    """``x`` padded with ``value`` by the begin pads and, at the end, by as far as the last
    window reaches (beyond the end pads under ceil_mode)."""
    sp = len(kernel)
    end = [max(0, (o - 1) * s + d * (k - 1) + 1 - size - b) for o, s, d, k, size, b in zip(
        out_dims, strides, dilations, kernel, x.shape[2:], pads[:sp], strict=True)]
    return pad_spatial(x, pads[:sp], end, value)


@defop("quant.sum_pool", inputs="x", outputs="acc",
       attrs={"kernel_shape": attr("ints"), **WINDOW_ATTRS, "ceil_mode": attr("bool", False),
              "pad_value": attr("int", 0)},
       doc="i32 sum of x over every pooling window (geometry as nn.avg_pool); taps outside the "
           "input read `pad_value` (the zero point, so they stand for real 0)")
class SumPool:
    def infer(ins, attrs):
        x = ins[0].type
        _check_operand(x, "x", "quant.sum_pool")
        _check_zero_point(attrs["pad_value"], x, "pad_value", "quant.sum_pool")
        return [TensorType(dtypes.i32, _sum_pool_shape(x, attrs))]

    def kernel(xs, attrs):
        x = xs[0].astype(np.int64)
        kernel, strides, dilations, pads, out_dims = pool_geometry(attrs, x.shape[2:])
        xp = _padded_for_windows(x, kernel, strides, dilations, pads, out_dims,
                                 attrs["pad_value"])
        views = tap_views(xp, kernel, strides, dilations, out_dims)
        total = next(views).copy()
        for view in views:
            total += view
        return _wrap_i32(total)


@defop("quant.reduce_sum", inputs="x", outputs="acc",
       attrs={"axes": attr("ints", ()), "keepdims": attr("bool", True)},
       doc="i32 sum of x over `axes` (empty: all)")
class ReduceSum:
    def infer(ins, attrs):
        x = ins[0].type
        _check_operand(x, "x", "quant.reduce_sum")
        return [TensorType(dtypes.i32, reduced_shape(x.shape, tuple(attrs["axes"]),
                                                     attrs["keepdims"]))]

    def kernel(xs, attrs):
        x = xs[0]
        axes = tuple(a % x.ndim for a in attrs["axes"]) if attrs["axes"] else None
        return _wrap_i32(np.sum(x.astype(np.int64), axis=axes, keepdims=attrs["keepdims"]))
