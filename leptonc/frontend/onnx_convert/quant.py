"""Converters for ONNX quantization ops: QuantizeLinear, DequantizeLinear,
DynamicQuantizeLinear, QLinearMatMul, QLinearConv and ConvInteger."""

from __future__ import annotations

from leptonc.frontend.onnx import onnx_dtype
from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.ir import dtypes
from leptonc.ir.dtypes import DType


def _dtype_attr(cx: NodeContext, name: str) -> DType | None:
    """An ONNX element-type attribute (0 or absent: None)."""
    elem_type = cx.attr(name, 0)
    return onnx_dtype(elem_type, f"attribute {name}") if elem_type else None


def _qparam_attrs(cx: NodeContext) -> dict:
    # per-axis parameters arrived in opset 13 and blocks in 21; older models are per-tensor
    return {"axis": cx.attr("axis", 1), "block_size": cx.attr("block_size", 0)}


@converter("QuantizeLinear")
def quantize_linear(cx: NodeContext):
    x, scale, zero_point = cx.input(0), cx.input(1), cx.input(2)
    requested = _dtype_attr(cx, "output_dtype")
    if zero_point is not None:
        if requested is not None and requested != zero_point.type.dtype:
            cx.unsupported(f"output_dtype {requested} differs from the zero point's type "
                           f"{zero_point.type.dtype}")
        requested = zero_point.type.dtype
    attrs = {**_qparam_attrs(cx), "dtype": requested or dtypes.u8}
    precision = _dtype_attr(cx, "precision")
    if precision is not None:
        attrs["precision"] = precision
    return [cx.op("quant.quantize", [x, scale, zero_point], attrs)]


@converter("DequantizeLinear")
def dequantize_linear(cx: NodeContext):
    x, scale, zero_point = cx.input(0), cx.input(1), cx.input(2)
    dtype = _dtype_attr(cx, "output_dtype") or scale.type.dtype
    return [cx.op("quant.dequantize", [x, scale, zero_point], {**_qparam_attrs(cx), "dtype": dtype})]


@converter("DynamicQuantizeLinear")
def dynamic_quantize_linear(cx: NodeContext):
    return list(cx.op("quant.dynamic_quantize", [cx.input(0)]))


@converter("QLinearMatMul")
def qlinear_matmul(cx: NodeContext):
    return [cx.op("quant.qlinear_matmul", [cx.input(i) for i in range(8)])]


def _conv_attrs(cx: NodeContext, w_index: int) -> dict:
    w = cx.input(w_index)
    sp = len(cx.attr("kernel_shape", ())) or (w.type.rank - 2 if w.type.rank else 0)
    if sp < 1:
        cx.unsupported("the weight rank (or kernel_shape) must be known")
    attrs = {"strides": tuple(cx.attr("strides", (1,) * sp)),
             "dilations": tuple(cx.attr("dilations", (1,) * sp)),
             "pads": tuple(cx.attr("pads", (0,) * (2 * sp))), "group": cx.attr("group", 1)}
    auto_pad = cx.attr("auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", ""):
        attrs["auto_pad"] = auto_pad
    return attrs


@converter("ConvInteger")
def conv_integer(cx: NodeContext):
    return [cx.op("quant.conv_integer", [cx.input(i) for i in range(4)], _conv_attrs(cx, 1))]


@converter("QLinearConv")
def qlinear_conv(cx: NodeContext):
    return [cx.op("quant.qlinear_conv", [cx.input(i) for i in range(9)], _conv_attrs(cx, 3))]
