"""Converters for ONNX linear-algebra ops: MatMul, Gemm (decomposed), Einsum, Det and
MatMulInteger."""

from __future__ import annotations

import numpy as np

from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.ir.graph import Value


@converter("MatMul")
def matmul(cx: NodeContext):
    return [cx.op("linalg.matmul", cx.inputs)]


def _scaled(cx: NodeContext, v: Value, factor: float, name: str) -> Value:
    """``v * factor`` as an ew.mul in v's dtype; nothing when the factor is 1."""
    if factor == 1.0:
        return v
    dtype = v.type.dtype
    if dtype.is_integer and not float(factor).is_integer():
        cx.unsupported(f"{name}={factor} is not an integer for an integer Gemm")
    return cx.op("ew.mul", [v, cx.const(np.array(factor, dtype=dtype.numpy), name=name)])


@converter("Gemm")
def gemm(cx: NodeContext):
    # Y = alpha * A' @ B' + beta * C, with A' = A^T when transA (likewise B)
    a, b, c = cx.input(0), cx.input(1), cx.input(2)
    if cx.attr("transA", 0):
        a = cx.op("shape.transpose", [a], {"perm": (1, 0)})
    if cx.attr("transB", 0):
        b = cx.op("shape.transpose", [b], {"perm": (1, 0)})
    y = _scaled(cx, cx.op("linalg.matmul", [a, b]), cx.attr("alpha", 1.0), "alpha")
    beta = cx.attr("beta", 1.0)
    if c is None or beta == 0.0:
        return [y]
    return [cx.op("ew.add", [y, _scaled(cx, c, beta, "beta")])]


@converter("Einsum")
def einsum(cx: NodeContext):
    return [cx.op("linalg.einsum", cx.inputs, {"equation": cx.attr("equation")})]


@converter("Det")
def det(cx: NodeContext):
    return [cx.op("linalg.det", [cx.input(0)])]


@converter("MatMulInteger")
def matmul_integer(cx: NodeContext):
    return [cx.op("linalg.matmul_integer", [cx.input(i) for i in range(4)])]
