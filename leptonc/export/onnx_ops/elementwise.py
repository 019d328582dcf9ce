"""Emitters for ``ew.*``: most map one-to-one onto an ONNX op (float attributes copied);
Clip's bounds become inputs again, and Gelu/Swish are decomposed below the opset that has
them."""

from __future__ import annotations

import math

import numpy as np

from leptonc.export.emit import EmitContext, emitter
from leptonc.frontend.onnx_convert.elementwise import ONNX_TO_CANONICAL

# The frontend's one-to-one table, inverted; Max/Min are variadic in ONNX (the frontend
# turns them into chains), so they are added here.
_DIRECT = {canonical: onnx_op for onnx_op, canonical in ONNX_TO_CANONICAL.items()} | {
    "ew.max": "Max", "ew.min": "Min"}

# canonical op -> (ONNX op, its float attributes)
_WITH_FLOAT_ATTRS = {
    "ew.leaky_relu": ("LeakyRelu", ("alpha",)),
    "ew.elu": ("Elu", ("alpha",)),
    "ew.selu": ("Selu", ("alpha", "gamma")),
    "ew.celu": ("Celu", ("alpha",)),
    "ew.thresholded_relu": ("ThresholdedRelu", ("alpha",)),
    "ew.hard_sigmoid": ("HardSigmoid", ("alpha", "beta")),
    "ew.shrink": ("Shrink", ("bias", "lambd")),
}


@emitter(*_DIRECT)
def direct(cx: EmitContext) -> None:
    cx.emit(_DIRECT[cx.node.op], [cx.input(i) for i in range(len(cx.node.inputs))], cx.outputs)


@emitter(*_WITH_FLOAT_ATTRS)
def with_float_attrs(cx: EmitContext) -> None:
    op, names = _WITH_FLOAT_ATTRS[cx.node.op]
    cx.emit(op, [cx.input(0)], cx.outputs, **{n: float(cx.attr(n)) for n in names})


@emitter("ew.mod")
def mod(cx: EmitContext) -> None:
    cx.emit("Mod", [cx.input(0), cx.input(1)], cx.outputs, fmod=int(cx.attr("fmod")))


@emitter("ew.is_inf")
def is_inf(cx: EmitContext) -> None:
    cx.emit("IsInf", [cx.input(0)], cx.outputs, detect_positive=cx.attr("detect_positive"),
            detect_negative=cx.attr("detect_negative"))


@emitter("ew.shift_left", "ew.shift_right")
def bit_shift(cx: EmitContext) -> None:
    # ONNX BitShift is defined on unsigned types only; signed shifts have no spelling
    if not cx.value(0).type.dtype.kind == "unsigned":
        cx.unsupported("ONNX BitShift takes unsigned integers only")
    direction = "LEFT" if cx.node.op == "ew.shift_left" else "RIGHT"
    cx.emit("BitShift", [cx.input(0), cx.input(1)], cx.outputs, direction=direction)


@emitter("ew.cast", "ew.bitcast")
def cast(cx: EmitContext) -> None:
    op = "Cast" if cx.node.op == "ew.cast" else "BitCast"
    cx.emit(op, [cx.input(0)], cx.outputs, to=cx.onnx_dtype(cx.attr("to")))


@emitter("ew.clip")
def clip(cx: EmitContext) -> None:
    """Constant bounds were folded into min/max attributes; ONNX Clip takes them as inputs of
    x's dtype."""
    dtype = cx.value(0).type.dtype.numpy
    bounds = []
    for i, key in ((1, "min"), (2, "max")):
        bound, limit = cx.input(i), cx.attr(key)
        if not bound and not math.isinf(limit):
            bound = cx.const(np.asarray(limit).astype(dtype), hint=key)
        bounds.append(bound)
    cx.emit("Clip", [cx.input(0), *bounds], cx.outputs)


@emitter("ew.gelu")
def gelu(cx: EmitContext) -> None:
    approximate = cx.attr("approximate")
    if cx.opset >= 20:
        cx.emit("Gelu", [cx.input(0)], cx.outputs, approximate=approximate)
        return
    x, dtype = cx.input(0), cx.value(0).type.dtype.numpy
    half = cx.const(np.asarray(0.5, dtype), hint="half")
    one = cx.const(np.asarray(1.0, dtype), hint="one")
    if approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = cx.emit1("Mul", [cx.emit1("Mul", [x, x]), x])
        inner = cx.emit1("Add", [x, cx.emit1("Mul", [cube, cx.const(np.asarray(0.044715, dtype))])])
        scaled = cx.emit1("Mul", [inner, cx.const(np.asarray(math.sqrt(2 / math.pi), dtype))])
        core = cx.emit1("Tanh", [scaled])
    else:  # 0.5 x (1 + erf(x / sqrt 2))
        core = cx.emit1("Erf", [cx.emit1("Div", [x, cx.const(np.asarray(math.sqrt(2), dtype))])])
    cx.emit("Mul", [cx.emit1("Mul", [x, half]), cx.emit1("Add", [core, one])], cx.outputs)


@emitter("ew.swish")
def swish(cx: EmitContext) -> None:
    alpha = float(cx.attr("alpha"))
    if cx.opset >= 24:
        cx.emit("Swish", [cx.input(0)], cx.outputs, alpha=alpha)
        return
    x = cx.input(0)
    gate = x if alpha == 1.0 else cx.emit1("Mul", [x, cx.const(
        np.asarray(alpha, cx.value(0).type.dtype.numpy), hint="alpha")])
    cx.emit("Mul", [x, cx.emit1("Sigmoid", [gate])], cx.outputs)
