"""Converters for ONNX linear-algebra ops."""

from __future__ import annotations

from leptonc.frontend.onnx_convert import NodeContext, converter


@converter("MatMul")
def matmul(cx: NodeContext):
    return [cx.op("linalg.matmul", cx.inputs)]
