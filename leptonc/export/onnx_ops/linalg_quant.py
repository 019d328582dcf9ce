"""Emitters for ``linalg.*`` and ``quant.*``.  ONNX's quantized ops require zero points that
leptonc keeps optional (absent = 0): those become zero initializers shaped like the scale."""

from __future__ import annotations

import numpy as np

from leptonc.export.emit import EmitContext, Unsupported, emitter
from leptonc.ir.dtypes import DType

# storage type -> first opset whose QuantizeLinear/DequantizeLinear accepts it
_STORAGE_SINCE = {"i8": 13, "u8": 13, "i32": 13, "i16": 21, "u16": 21, "i4": 21, "u4": 21,
                  "i2": 25, "u2": 25}


def _require(cx: EmitContext, opset: int, why: str) -> None:
    if cx.opset < opset:
        raise Unsupported(f"{why} needs opset {opset}", needs_opset=opset)


@emitter("linalg.matmul", "linalg.det", "linalg.matmul_integer")
def linalg(cx: EmitContext) -> None:
    op = {"linalg.matmul": "MatMul", "linalg.det": "Det",
          "linalg.matmul_integer": "MatMulInteger"}[cx.node.op]
    cx.emit(op, [cx.input(i) for i in range(len(cx.node.inputs))], cx.outputs)


@emitter("linalg.einsum")
def einsum(cx: EmitContext) -> None:
    cx.emit("Einsum", [cx.input(i) for i in range(len(cx.node.inputs))], cx.outputs,
            equation=cx.attr("equation"))


# ----- quantize / dequantize -----------------------------------------------------------------------
def _zero_point(cx: EmitContext, index: int, scale_index: int, dtype: DType) -> str:
    """Input ``index``, or zeros of ``dtype`` shaped like the scale at ``scale_index``."""
    if cx.input(index):
        return cx.input(index)
    scale = cx.value(scale_index).type
    if not scale.is_static:
        cx.unsupported("an omitted zero point needs a scale of static shape")
    return cx.const(np.zeros(scale.shape, dtype.numpy), hint="zero_point")


def _storage(cx: EmitContext, dtype: DType) -> None:
    since = _STORAGE_SINCE.get(dtype.name)
    if since is None:
        cx.unsupported(f"ONNX has no quantized {dtype} storage")
    _require(cx, since, f"{dtype} quantization")


def _qdq_attrs(cx: EmitContext) -> dict:
    attrs = {"axis": cx.attr("axis")}
    if cx.attr("block_size"):
        _require(cx, 21, "blocked quantization")
        attrs["block_size"] = cx.attr("block_size")
    return attrs


@emitter("quant.quantize")
def quantize(cx: EmitContext) -> None:
    dtype = cx.attr("dtype")
    _storage(cx, dtype)
    attrs = _qdq_attrs(cx)
    precision = cx.node.attrs.get("precision")
    if precision is not None:
        _require(cx, 23, "QuantizeLinear precision")
        attrs["precision"] = cx.onnx_dtype(precision)
    zero_point = _zero_point(cx, 2, 1, dtype)
    cx.emit("QuantizeLinear", [cx.input(0), cx.input(1), zero_point], cx.outputs, **attrs)


@emitter("quant.dequantize")
def dequantize(cx: EmitContext) -> None:
    _storage(cx, cx.value(0).type.dtype)
    attrs = _qdq_attrs(cx)
    inputs = [cx.input(0), cx.input(1), cx.input(2)]
    # ONNX dequantizes to the scale's type; another float type is a cast away
    if cx.attr("dtype") == cx.value(1).type.dtype:
        cx.emit("DequantizeLinear", inputs, cx.outputs, **attrs)
        return
    real = cx.emit1("DequantizeLinear", inputs, **attrs)
    cx.emit("Cast", [real], cx.outputs, to=cx.onnx_dtype(cx.attr("dtype")))


@emitter("quant.dynamic_quantize")
def dynamic_quantize(cx: EmitContext) -> None:
    cx.emit("DynamicQuantizeLinear", [cx.input(0)], cx.outputs)


@emitter("quant.qlinear_matmul")
def qlinear_matmul(cx: EmitContext) -> None:
    a_type, b_type = cx.value(0).type.dtype, cx.value(3).type.dtype
    inputs = [cx.input(0), cx.input(1), _zero_point(cx, 2, 1, a_type), cx.input(3), cx.input(4),
              _zero_point(cx, 5, 4, b_type), cx.input(6), cx.input(7)]
    cx.emit("QLinearMatMul", inputs, cx.outputs)


def _conv_attrs(cx: EmitContext) -> dict:
    attrs = {"strides": cx.attr("strides"), "dilations": cx.attr("dilations"),
             "group": cx.attr("group")}
    if cx.attr("auto_pad") != "NOTSET":
        attrs["auto_pad"] = cx.attr("auto_pad")
    else:
        attrs["pads"] = cx.attr("pads")
    return attrs


@emitter("quant.qlinear_conv")
def qlinear_conv(cx: EmitContext) -> None:
    x_type, w_type = cx.value(0).type.dtype, cx.value(3).type.dtype
    inputs = [cx.input(0), cx.input(1), _zero_point(cx, 2, 1, x_type), cx.input(3), cx.input(4),
              _zero_point(cx, 5, 4, w_type), cx.input(6), cx.input(7), cx.input(8)]
    cx.emit("QLinearConv", inputs, cx.outputs, **_conv_attrs(cx))


@emitter("quant.conv_integer")
def conv_integer(cx: EmitContext) -> None:
    cx.emit("ConvInteger", [cx.input(i) for i in range(len(cx.node.inputs))], cx.outputs,
            **_conv_attrs(cx))
