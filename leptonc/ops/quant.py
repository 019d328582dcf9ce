"""Quantization ops (``quant.*``): quantize/dequantize (QDQ) with per-tensor, per-axis and
blocked parameters, dynamic quantization, and the ONNX integer ops (QLinearMatMul,
QLinearConv, ConvInteger).  Arithmetic: docs/quantization.md.

``quant.quantize`` and ``quant.dequantize`` take scale and zero point as tensor inputs (a
calibration pass creates them as constants; a lowering pass reads them).  Quantization is
``q = saturate(round_half_even(x / scale) + zero_point)``; dequantization is
``x = (q - zero_point) * scale``.  The integer ops accumulate exactly in i64 (equal to an
i32 accumulator wherever one does not overflow) and requantize in float, as ONNX specifies.
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir import dtypes
from leptonc.ir.dtypes import DType
from leptonc.ir.graph import Value
from leptonc.ir.types import Shape, TensorType, dims_compatible
from leptonc.ops.infer_utils import normalize_axis
from leptonc.ops.linalg import centred, matmul_shape
from leptonc.ops.nn import conv_nd, resolve_pads, spatial_attrs, window_dims
from leptonc.ops.registry import attr, defop

# Integer types a tensor can be quantized to: 2..16-bit integers (i4/u4 included).
_MAX_QUANT_BITS = 16


def _check_quantized_dtype(dtype: DType) -> None:
    if not dtype.is_integer or dtype.bits > _MAX_QUANT_BITS:
        raise ShapeError(f"quantized type must be an integer of at most {_MAX_QUANT_BITS} bits, "
                         f"got {dtype}")


# ----- quantization parameters: per-tensor, per-axis, blocked ---------------------------------
def _check_param_shape(param: Value | None, x_shape: Shape | None, axis: int, block_size: int,
                       what: str) -> None:
    """Raise when a scale / zero point cannot quantize x with this axis and block size."""
    if param is None or param.type.shape is None or x_shape is None:
        return
    p = param.type.shape
    if not block_size:
        if len(p) > 1:
            raise ShapeError(f"{what} must be a scalar or 1-D without block_size, got rank {len(p)}")
        if len(p) == 1 and p[0] != 1 and not dims_compatible(p[0], x_shape[axis]):
            raise ShapeError(f"{what} has {p[0]} entries for axis {axis} of size {x_shape[axis]}")
        return
    if len(p) != len(x_shape):
        raise ShapeError(f"blocked {what} must have the input's rank {len(x_shape)}, got {len(p)}")
    for i, (pd, xd) in enumerate(zip(p, x_shape, strict=True)):
        if not (isinstance(pd, int) and isinstance(xd, int)):
            continue
        want = -(-xd // block_size) if i == axis else xd
        if pd != want:
            raise ShapeError(f"blocked {what} dim {i} is {pd}, expected {want}")


def expand_param(param: np.ndarray, shape: tuple[int, ...], axis: int, block_size: int
                 ) -> np.ndarray:
    """A scale / zero point broadcastable against a tensor of ``shape``."""
    if param.ndim == 0 or param.size == 1:
        return param.reshape(())
    if not block_size:
        dims = [1] * len(shape)
        dims[axis] = param.size
        return param.reshape(dims)
    # every parameter covers block_size consecutive elements along the axis (the last block
    # may be partial)
    return np.repeat(param, block_size, axis=axis).take(np.arange(shape[axis]), axis=axis)


def _qparam_attrs() -> dict:
    return {"axis": attr("int", 1), "block_size": attr("int", 0)}


def _infer_qdq(ins: list[Value | None], attrs: dict, out_dtype: DType) -> list[TensorType]:
    x, scale = ins[0].type, ins[1].type
    if attrs["block_size"] < 0:
        raise ShapeError(f"block_size must be positive, got {attrs['block_size']}")
    if not scale.dtype.is_float and not scale.dtype.is_integer:
        raise ShapeError(f"scale must be numeric, got {scale.dtype}")
    per_tensor = scale.is_static and scale.num_elements == 1
    if x.shape is not None and not per_tensor:
        # the axis means something only for per-axis and blocked parameters
        axis = normalize_axis(attrs["axis"], len(x.shape))
        for v, what in ((ins[1], "scale"), (ins[2] if len(ins) > 2 else None, "zero point")):
            _check_param_shape(v, x.shape, axis, attrs["block_size"], what)
    return [TensorType(out_dtype, x.shape)]


def _kernel_params(xs: list[np.ndarray | None], attrs: dict, shape: tuple[int, ...]):
    axis = attrs["axis"] % len(shape) if shape else 0  # unused for per-tensor parameters
    scale = expand_param(xs[1], shape, axis, attrs["block_size"])
    zp = xs[2] if len(xs) > 2 else None
    zp = None if zp is None else expand_param(zp, shape, axis, attrs["block_size"])
    return scale, zp


def saturate(values: np.ndarray, dtype: DType) -> np.ndarray:
    """Clamp (already integral) values to the range of ``dtype`` and store them in it."""
    return np.clip(values, dtype.min, dtype.max).astype(dtype.numpy)


def _division_dtype(precision: DType | None, scale: np.ndarray) -> np.dtype:
    """ONNX divides in `precision` when given, else in the scale's type (integers: f64)."""
    dtype = precision.numpy if precision is not None else scale.dtype
    return dtype if dtype.kind == "f" or dtype == ml_dtypes.bfloat16 else np.dtype(np.float64)


@defop("quant.quantize", inputs="x, scale, zero_point?",
       attrs={**_qparam_attrs(), "dtype": attr("dtype"), "precision": attr("dtype", None)},
       doc="saturate(round_half_even(x / scale) + zero_point) to integer `dtype`; scale and zero "
           "point are scalars (per-tensor), 1-D along `axis`, or blocked along `axis`")
class Quantize:
    def infer(ins, attrs):
        _check_quantized_dtype(attrs["dtype"])
        zp = ins[2] if len(ins) > 2 else None
        if zp is not None and zp.type.dtype != attrs["dtype"]:
            raise ShapeError(f"zero point is {zp.type.dtype}, the result is {attrs['dtype']}")
        return _infer_qdq(ins, attrs, attrs["dtype"])

    def kernel(xs, attrs):
        x = xs[0]
        scale, zp = _kernel_params(xs, attrs, x.shape)
        work = _division_dtype(attrs["precision"], xs[1])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = (x.astype(work) / scale.astype(work)).astype(np.float64)
        q = np.rint(ratio)
        if zp is not None:
            q = q + zp.astype(np.float64)
        return saturate(np.nan_to_num(q), attrs["dtype"])


@defop("quant.dequantize", inputs="x, scale, zero_point?",
       attrs={**_qparam_attrs(), "dtype": attr("dtype")},
       doc="(x - zero_point) * scale in float `dtype`; parameters as for quant.quantize")
class Dequantize:
    def infer(ins, attrs):
        x, zp = ins[0].type, ins[2] if len(ins) > 2 else None
        if not x.dtype.is_integer:
            raise ShapeError(f"dequantize needs an integer input, got {x.dtype}")
        if zp is not None and zp.type.dtype != x.dtype:
            raise ShapeError(f"zero point is {zp.type.dtype}, the input is {x.dtype}")
        if not attrs["dtype"].is_float:
            raise ShapeError(f"dequantize produces a float type, not {attrs['dtype']}")
        return _infer_qdq(ins, attrs, attrs["dtype"])

    def kernel(xs, attrs):
        x = xs[0]
        scale, zp = _kernel_params(xs, attrs, x.shape)
        work = np.float64 if scale.dtype == np.float64 else np.float32
        y = centred(x, zp).astype(work) * scale.astype(work)
        return y.astype(attrs["dtype"].numpy)


@defop("quant.dynamic_quantize", inputs="x", outputs="y, scale, zero_point",
       doc="u8 quantization over the range of x widened to include 0 (ONNX "
           "DynamicQuantizeLinear): scale = (max - min) / 255, zero point = round(-min / scale)")
class DynamicQuantize:
    def infer(ins, attrs):
        x = ins[0].type
        if x.dtype != dtypes.f32:
            raise ShapeError(f"dynamic quantization takes f32, got {x.dtype}")
        return [TensorType(dtypes.u8, x.shape), TensorType(dtypes.f32, ()),
                TensorType(dtypes.u8, ())]

    def kernel(xs, attrs):
        x = xs[0]
        hi = np.float32(np.max(x, initial=0.0))
        lo = np.float32(np.min(x, initial=0.0))
        # an all-zero input has no range; any positive scale then maps it to 0
        scale = np.float32((hi - lo) / np.float32(255)) if hi != lo else np.float32(1.0)
        zero_point = np.rint(np.clip(np.float32(0) - lo / scale, 0, 255))
        y = saturate(np.rint(x / scale).astype(np.float64) + zero_point, dtypes.u8)
        return y, np.array(scale, np.float32), np.array(zero_point, np.uint8)


# ----- integer matmul / conv with float requantization ----------------------------------------
def requantize(acc: np.ndarray, multiplier: np.ndarray, zero_point: np.ndarray,
               dtype: DType) -> np.ndarray:
    """saturate(round_half_even(acc * multiplier) + zero_point); the product is taken in f64,
    the multiplier (input scale * weight scale / output scale) in the scales' own type."""
    scaled = np.rint(acc.astype(np.float64) * multiplier.astype(np.float64))
    return saturate(scaled + zero_point.astype(np.float64), dtype)


def _check_integer_operands(*types: TensorType) -> None:
    for t in types:
        if not t.dtype.is_integer or t.dtype.bits > _MAX_QUANT_BITS:
            raise ShapeError(f"quantized operand must be a small integer type, got {t.dtype}")


def _qlinear_operands(ins: list[Value]) -> tuple[TensorType, TensorType, TensorType]:
    """The operands (inputs 0 and 3) and output zero point (input 7) of a QLinear op, checked
    to be small integers."""
    types = ins[0].type, ins[3].type, ins[7].type
    _check_integer_operands(*types)
    return types


def _per_row(param: np.ndarray) -> np.ndarray:
    """A 1-D parameter of the left matmul operand applies per row: make it a column."""
    return param.reshape(-1, 1) if param.ndim == 1 and param.size > 1 else param


@defop("quant.qlinear_matmul",
       inputs="a, a_scale, a_zero_point?, b, b_scale, b_zero_point?, y_scale, y_zero_point",
       doc="quantized matmul (ONNX QLinearMatMul): exact integer product of the centred "
           "operands, requantized to y_zero_point's type; a's parameters may be per row, b's "
           "per column")
class QLinearMatMul:
    def infer(ins, attrs):
        a, b, y_zp = _qlinear_operands(ins)
        return [TensorType(y_zp.dtype, matmul_shape(a.shape, b.shape))]

    def kernel(xs, attrs):
        a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp = xs
        acc = np.matmul(centred(a, a_zp, per_row=True), centred(b, b_zp))
        multiplier = _per_row(a_scale) * b_scale / y_scale
        return requantize(acc, multiplier, y_zp, dtypes.from_numpy(y_zp.dtype))

    def macs(ins, outs, attrs):
        a, y = ins[0].type, outs[0]
        return math.prod(y.shape) * a.shape[-1] if a.is_static and y.is_static else 0


def _conv_attrs() -> dict:
    return {"strides": attr("ints", ()), "pads": attr("ints", ()), "dilations": attr("ints", ()),
            "auto_pad": attr("str", "NOTSET"), "group": attr("int", 1)}


def _conv_shape(x: TensorType, w: TensorType, attrs: dict) -> Shape:
    """[N, M, *out] of a convolution (the geometry is nn.conv's)."""
    if x.rank is None or w.rank is None or x.rank != w.rank or x.rank < 3:
        raise ShapeError(f"conv needs x and w of equal rank >= 3, got {x} and {w}")
    sp = x.rank - 2
    strides, dilations, pads = spatial_attrs(attrs, sp)
    c, group = x.shape[1], attrs["group"]
    if isinstance(c, int) and isinstance(w.shape[1], int) and c != w.shape[1] * group:
        raise ShapeError(f"input has {c} channels, weight expects {w.shape[1]} x {group} groups")
    kernel = w.shape[2:]
    if not all(isinstance(k, int) for k in kernel):
        return (x.shape[0], w.shape[0]) + (None,) * sp
    dims = window_dims(x.shape[2:], kernel, strides, pads, dilations, attrs["auto_pad"])
    return (x.shape[0], w.shape[0], *dims)


def _per_channel(param: np.ndarray | None, rank: int) -> np.ndarray | None:
    """A 1-D weight parameter is per output channel: shape it [M, 1, ...] for the weight."""
    if param is None or param.ndim == 0 or param.size == 1:
        return None if param is None else param.reshape(())
    return param.reshape((-1,) + (1,) * (rank - 1))


def integer_conv(x: np.ndarray, x_zp, w: np.ndarray, w_zp, bias, attrs: dict) -> np.ndarray:
    """The exact i64 convolution of the centred operands (padding is a real zero: x_zp)."""
    strides, dilations, pads = spatial_attrs(attrs, x.ndim - 2)
    pads = resolve_pads(attrs["auto_pad"], pads, x.shape[2:], w.shape[2:], strides, dilations)
    bias = None if bias is None else bias.astype(np.int64)
    return conv_nd(centred(x, x_zp), centred(w, _per_channel(w_zp, w.ndim)), bias, strides, pads,
                   dilations, attrs["group"])


def _conv_macs(w: TensorType, y: TensorType) -> int:
    return y.num_elements * math.prod(w.shape[1:]) if w.is_static and y.is_static else 0


@defop("quant.conv_integer", inputs="x, w, x_zero_point?, w_zero_point?", attrs=_conv_attrs(),
       doc="convolution of (x - x_zero_point) and (w - w_zero_point) with i32 result (ONNX "
           "ConvInteger); a 1-D w_zero_point is per output channel")
class ConvInteger:
    def infer(ins, attrs):
        x, w = ins[0].type, ins[1].type
        _check_integer_operands(x, w)
        return [TensorType(dtypes.i32, _conv_shape(x, w, attrs))]

    def kernel(xs, attrs):
        x, w, x_zp, w_zp = (list(xs) + [None, None])[:4]
        return integer_conv(x, x_zp, w, w_zp, None, attrs).astype(np.int32)

    def macs(ins, outs, attrs):
        return _conv_macs(ins[1].type, outs[0])


@defop("quant.qlinear_conv",
       inputs="x, x_scale, x_zero_point?, w, w_scale, w_zero_point?, y_scale, y_zero_point, "
              "bias?",
       attrs=_conv_attrs(),
       doc="quantized convolution (ONNX QLinearConv): exact integer conv of the centred operands "
           "plus the i32 bias, requantized to y_zero_point's type; w's parameters may be per "
           "output channel")
class QLinearConv:
    def infer(ins, attrs):
        x, w, y_zp = _qlinear_operands(ins)
        bias = ins[8] if len(ins) > 8 else None
        if bias is not None and bias.type.dtype != dtypes.i32:
            raise ShapeError(f"bias must be i32, got {bias.type.dtype}")
        return [TensorType(y_zp.dtype, _conv_shape(x, w, attrs))]

    def kernel(xs, attrs):
        x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, bias = (list(xs) + [None])[:9]
        acc = integer_conv(x, x_zp, w, w_zp, bias, attrs)
        per_channel = w_scale.reshape((1, -1) + (1,) * (x.ndim - 2)) if w_scale.size > 1 else (
            w_scale.reshape(()))
        multiplier = x_scale * per_channel / y_scale
        return requantize(acc, multiplier, y_zp, dtypes.from_numpy(y_zp.dtype))

    def macs(ins, outs, attrs):
        return _conv_macs(ins[3].type, outs[0])
