"""Converters for ONNX elementwise ops."""

from __future__ import annotations

from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.frontend.onnx import onnx_dtype

_SAME_NAME = {"Add": "ew.add", "Sub": "ew.sub", "Mul": "ew.mul", "Relu": "ew.relu",
              "Neg": "ew.neg", "Abs": "ew.abs", "Exp": "ew.exp", "Log": "ew.log",
              "Sqrt": "ew.sqrt", "Tanh": "ew.tanh", "Equal": "ew.equal", "Less": "ew.less",
              "Greater": "ew.greater", "Where": "ew.where"}


@converter(*_SAME_NAME)
def direct(cx: NodeContext):
    return [cx.op(_SAME_NAME[cx.op_type], cx.inputs)]


@converter("Cast")
def cast(cx: NodeContext):
    return [cx.op("ew.cast", [cx.input(0)], {"to": onnx_dtype(cx.attr("to"), f"Cast '{cx.name}'")})]
