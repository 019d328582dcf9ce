"""Converters for ONNX elementwise ops.

Most ONNX elementwise ops map one-to-one onto an ``ew.*`` op (same inputs, float attributes
copied over); variadic ones (Sum, Max, Min, Mean) become chains of binary ops, Softsign is
decomposed, and Clip's bounds become attributes when they are constants.
"""

from __future__ import annotations

import numpy as np

from leptonc.frontend.onnx import onnx_dtype
from leptonc.frontend.onnx_convert import NodeContext, converter
from leptonc.ir.dtypes import DType
from leptonc.ir.graph import Value

# ONNX ops that map one-to-one onto a canonical op (the ONNX exporter inverts this table).
ONNX_TO_CANONICAL = {
    "Add": "ew.add", "Sub": "ew.sub", "Mul": "ew.mul", "Div": "ew.div", "Pow": "ew.pow",
    "Neg": "ew.neg", "Abs": "ew.abs", "Reciprocal": "ew.reciprocal", "Sqrt": "ew.sqrt",
    "Exp": "ew.exp", "Log": "ew.log", "Sin": "ew.sin", "Cos": "ew.cos", "Tan": "ew.tan",
    "Asin": "ew.asin", "Acos": "ew.acos", "Atan": "ew.atan", "Sinh": "ew.sinh",
    "Cosh": "ew.cosh", "Tanh": "ew.tanh", "Asinh": "ew.asinh", "Acosh": "ew.acosh",
    "Atanh": "ew.atanh", "Sigmoid": "ew.sigmoid", "Erf": "ew.erf", "Softplus": "ew.softplus",
    "Mish": "ew.mish", "HardSwish": "ew.hard_swish", "Relu": "ew.relu", "PRelu": "ew.prelu",
    "Sign": "ew.sign", "Ceil": "ew.ceil", "Floor": "ew.floor", "Round": "ew.round",
    "IsNaN": "ew.is_nan", "Not": "ew.not", "And": "ew.and", "Or": "ew.or", "Xor": "ew.xor",
    "BitwiseNot": "ew.bitwise_not", "BitwiseAnd": "ew.bitwise_and",
    "BitwiseOr": "ew.bitwise_or", "BitwiseXor": "ew.bitwise_xor", "Equal": "ew.equal",
    "Less": "ew.less", "LessOrEqual": "ew.less_equal", "Greater": "ew.greater",
    "GreaterOrEqual": "ew.greater_equal", "Where": "ew.where",
}

# ONNX op -> (ew op, its float attributes); the ew ops' defaults are ONNX's defaults
_WITH_FLOAT_ATTRS = {
    "LeakyRelu": ("ew.leaky_relu", ("alpha",)),
    "Elu": ("ew.elu", ("alpha",)),
    "Selu": ("ew.selu", ("alpha", "gamma")),
    "Celu": ("ew.celu", ("alpha",)),
    "ThresholdedRelu": ("ew.thresholded_relu", ("alpha",)),
    "HardSigmoid": ("ew.hard_sigmoid", ("alpha", "beta")),
    "Swish": ("ew.swish", ("alpha",)),
    "Shrink": ("ew.shrink", ("bias", "lambd")),
}

_CHAINED = {"Sum": "ew.add", "Max": "ew.max", "Min": "ew.min"}


@converter(*ONNX_TO_CANONICAL)
def direct(cx: NodeContext):
    return [cx.op(ONNX_TO_CANONICAL[cx.op_type], cx.inputs)]


@converter(*_WITH_FLOAT_ATTRS)
def with_float_attrs(cx: NodeContext):
    op, names = _WITH_FLOAT_ATTRS[cx.op_type]
    attrs = {name: float(cx.attr(name)) for name in names if cx.has_attr(name)}
    return [cx.op(op, [cx.input(0)], attrs)]


@converter("Gelu")
def gelu(cx: NodeContext):
    approximate = cx.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        cx.unsupported(f"approximate='{approximate}' (expected 'none' or 'tanh')")
    return [cx.op("ew.gelu", [cx.input(0)], {"approximate": approximate})]


@converter("Softsign")
def softsign(cx: NodeContext):
    x = cx.input(0)
    one = cx.const(np.ones((), x.type.dtype.numpy), name="one")
    return [cx.op("ew.div", [x, cx.op("ew.add", [one, cx.op("ew.abs", [x])])])]


@converter("Mod")
def mod(cx: NodeContext):
    return [cx.op("ew.mod", cx.inputs[:2], {"fmod": bool(cx.attr("fmod", 0))})]


@converter("IsInf")
def is_inf(cx: NodeContext):
    attrs = {"detect_positive": bool(cx.attr("detect_positive", 1)),
             "detect_negative": bool(cx.attr("detect_negative", 1))}
    return [cx.op("ew.is_inf", [cx.input(0)], attrs)]


@converter("BitShift")
def bit_shift(cx: NodeContext):
    direction = cx.attr("direction", "")
    ops = {"LEFT": "ew.shift_left", "RIGHT": "ew.shift_right"}
    if direction not in ops:
        cx.unsupported(f"direction='{direction}' (expected 'LEFT' or 'RIGHT')")
    return [cx.op(ops[direction], cx.inputs[:2])]


# ----- variadic ops ---------------------------------------------------------------------------
def _chain(cx: NodeContext, op: str) -> Value:
    """Fold the node's inputs left to right with a binary op (one input: itself)."""
    operands = [v for v in cx.inputs if v is not None]
    if not operands:
        cx.unsupported("needs at least one input")
    result = operands[0]
    for v in operands[1:]:
        result = cx.op(op, [result, v])
    return result


@converter(*_CHAINED)
def chained(cx: NodeContext):
    return [_chain(cx, _CHAINED[cx.op_type])]


@converter("Mean")
def mean(cx: NodeContext):
    total = _chain(cx, "ew.add")
    count = sum(v is not None for v in cx.inputs)
    if count == 1:
        return [total]
    divisor = cx.const(np.asarray(count, dtype=total.type.dtype.numpy), name="count")
    return [cx.op("ew.div", [total, divisor])]


# ----- clamp ----------------------------------------------------------------------------------
def _constant_bound(cx: NodeContext, v: Value | None) -> float | None:
    """A constant Clip bound as a float attribute, or None (absent, run-time, or not exact)."""
    if v is None or v.data is None:
        return None
    if v.data.size != 1:
        cx.unsupported(f"Clip bound '{v.name}' must hold one value, has shape "
                       f"{list(v.data.shape)}")
    scalar = v.data.reshape(-1)[0]
    value = float(scalar)
    if v.type.dtype.is_integer and int(value) != int(scalar):
        return None  # a 64-bit bound that a float attribute would round: keep it an input
    return value


@converter("Clip")
def clip(cx: NodeContext):
    x = cx.input(0)
    if cx.opset < 11:  # bounds were float attributes
        attrs = {k: float(cx.attr(k)) for k in ("min", "max") if cx.has_attr(k)}
        return [cx.op("ew.clip", [x], attrs)]
    attrs: dict[str, float] = {}
    inputs: list[Value | None] = [x, None, None]
    for i, key in ((1, "min"), (2, "max")):
        value = _constant_bound(cx, cx.input(i))
        if value is not None:
            attrs[key] = value
        else:
            inputs[i] = cx.input(i)
    while inputs[-1] is None:
        inputs.pop()
    return [cx.op("ew.clip", inputs, attrs)]


# ----- casts ----------------------------------------------------------------------------------
def _target_dtype(cx: NodeContext) -> DType:
    """The dtype named by the node's required 'to' attribute (Cast, BitCast)."""
    if not cx.has_attr("to"):
        cx.unsupported(f"{cx.op_type} without a 'to' attribute")
    return onnx_dtype(cx.attr("to"), f"{cx.op_type} '{cx.name}'")


def _cast_to(cx: NodeContext, x: Value, to) -> Value:
    # Cast's `saturate` only matters for float8 targets, which onnx_dtype already refuses
    return x if x.type.dtype == to else cx.op("ew.cast", [x], {"to": to})


@converter("Cast")
def cast(cx: NodeContext):
    return [_cast_to(cx, cx.input(0), _target_dtype(cx))]


@converter("CastLike")
def cast_like(cx: NodeContext):
    return [_cast_to(cx, cx.input(0), cx.input(1).type.dtype)]


@converter("BitCast")
def bitcast(cx: NodeContext):
    to = _target_dtype(cx)
    for t in (cx.input(0).type.dtype, to):
        if t.kind == "string" or t.bits not in (8, 16, 32, 64):
            cx.unsupported(f"bitcast of {t}: only byte-sized element types are supported")
    return [cx.op("ew.bitcast", [cx.input(0)], {"to": to})]
