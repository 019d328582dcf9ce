"""Relax lowerings of the elementwise ops (``ew.*``).

``ew.round`` is left out: leptonc rounds halves to even, and TIR's round does not promise it.
Integer ``ew.div`` is left out on purpose: leptonc rounds toward zero, and a TIR division
that rounds otherwise would be a silent mismatch; likewise the float-only functions
(exp, sigmoid, ...) refuse integer operands instead of computing them in float.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tvm import relax

from leptonc.ir.graph import Node, Value
from leptonc.targets.tvm.op_table import LOWERINGS, EmitContext, OpLowering, lowering, relax_dtype


def _is_float(v: Value) -> bool:
    return v.type.dtype.kind == "float"


# ----- elementwise ------------------------------------------------------------------------------
_UNARY = {
    "ew.abs": relax.op.abs, "ew.ceil": relax.op.ceil, "ew.cos": relax.op.cos, "ew.erf": relax.op.erf,
    "ew.exp": relax.op.exp, "ew.floor": relax.op.floor, "ew.log": relax.op.log,
    "ew.neg": relax.op.negative, "ew.not": relax.op.logical_not, "ew.relu": relax.op.nn.relu,
    "ew.sigmoid": relax.op.sigmoid, "ew.sin": relax.op.sin, "ew.sqrt": relax.op.sqrt,
    "ew.tanh": relax.op.tanh, "ew.sign": relax.op.sign,
}
_BINARY = {
    "ew.add": relax.op.add, "ew.sub": relax.op.subtract, "ew.mul": relax.op.multiply,
    "ew.max": relax.op.maximum, "ew.min": relax.op.minimum, "ew.and": relax.op.logical_and,
    "ew.or": relax.op.logical_or, "ew.xor": relax.op.logical_xor, "ew.equal": relax.op.equal,
    "ew.greater": relax.op.greater, "ew.greater_equal": relax.op.greater_equal,
    "ew.less": relax.op.less, "ew.less_equal": relax.op.less_equal, "ew.pow": relax.op.power,
}


def _float_only(node: Node) -> str | None:
    return None if _is_float(node.outputs[0]) else "integer operands"


def _emit_unary(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    return [_UNARY[node.op](args[0])]


def _emit_binary(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    return [_BINARY[node.op](args[0], args[1])]


for _op in _UNARY:
    LOWERINGS[_op] = OpLowering(_emit_unary, _float_only if _op not in ("ew.abs", "ew.neg", "ew.relu",
                                                                         "ew.not", "ew.sign") else None)
def _check_pow(node: Node) -> str | None:
    if node.inputs[1].type.dtype != node.inputs[0].type.dtype:
        return "an exponent of another dtype than the base"
    return _float_only(node)


for _op in _BINARY:
    LOWERINGS[_op] = OpLowering(_emit_binary, _check_pow if _op == "ew.pow" else None)


@lowering("ew.div", check=_float_only)
def _div(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    return [relax.op.divide(args[0], args[1])]


@lowering("ew.reciprocal", check=_float_only)
def _reciprocal(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    one = relax.const(1.0, relax_dtype(node.outputs[0].type.dtype))
    return [relax.op.divide(one, args[0])]


def _check_clip(node: Node) -> str | None:
    if any(v is not None for v in node.inputs[1:]):
        return "run-time clip bounds (lo/hi inputs)"
    return None


@lowering("ew.clip", check=_check_clip)
def _clip(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    # Bounds as tensors of x's dtype: relax.op.clip takes only finite PrimValue bounds.
    x, dtype = args[0], relax_dtype(node.outputs[0].type.dtype)
    lo, hi = node.attr("min"), node.attr("max")
    if np.isfinite(lo):
        x = relax.op.maximum(x, relax.const(lo, dtype))
    if np.isfinite(hi):
        x = relax.op.minimum(x, relax.const(hi, dtype))
    return [x]


@lowering("ew.cast")
def _cast(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    return [relax.op.astype(args[0], relax_dtype(node.attr("to")))]


@lowering("ew.where")
def _where(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    return [relax.op.where(args[0], args[1], args[2])]


def _check_gelu(node: Node) -> str | None:
    return _float_only(node) or (None if node.attr("approximate") in ("none", "tanh")
                                 else f"approximate={node.attr('approximate')!r}")


@lowering("ew.gelu", check=_check_gelu)
def _gelu(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    op = relax.op.nn.gelu_tanh if node.attr("approximate") == "tanh" else relax.op.nn.gelu
    return [op(args[0])]


@lowering("ew.swish", check=_float_only)
def _swish(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    alpha = relax.const(node.attr("alpha"), relax_dtype(node.outputs[0].type.dtype))
    return [relax.op.multiply(args[0], relax.op.sigmoid(relax.op.multiply(args[0], alpha)))]


@lowering("ew.leaky_relu", check=_float_only)
def _leaky_relu(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    return [relax.op.nn.leakyrelu(args[0], node.attr("alpha"))]


@lowering("ew.hard_sigmoid", check=_float_only)
def _hard_sigmoid(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    dtype = relax_dtype(node.outputs[0].type.dtype)
    y = relax.op.add(relax.op.multiply(args[0], relax.const(node.attr("alpha"), dtype)),
                     relax.const(node.attr("beta"), dtype))
    return [relax.op.minimum(relax.op.maximum(y, relax.const(0.0, dtype)), relax.const(1.0, dtype))]


@lowering("ew.hard_swish", check=_float_only)
def _hard_swish(ctx: EmitContext, node: Node, args: Sequence[Any]) -> list[Any]:
    dtype = relax_dtype(node.outputs[0].type.dtype)
    gate = relax.op.add(relax.op.multiply(args[0], relax.const(1.0 / 6.0, dtype)), relax.const(0.5, dtype))
    gate = relax.op.minimum(relax.op.maximum(gate, relax.const(0.0, dtype)), relax.const(1.0, dtype))
    return [relax.op.multiply(args[0], gate)]
