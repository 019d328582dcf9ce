"""Unary ops: math functions (float tensors), sign-level ops on any number, and the
logical/bitwise not and the is_nan/is_inf tests.  Each is declared by a table row; the
activations with parameters are in ``activations``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from leptonc.ir import dtypes
from leptonc.ir.dtypes import DType
from leptonc.ir.types import TensorType
from leptonc.ops.elementwise.common import apply, require
from leptonc.ops.elementwise.erf import erf
from leptonc.ops.registry import AttrSpec, attr, defop


def register_unary(name: str, fn: Callable[..., np.ndarray], doc: str, accepts: str = "float",
                   attrs: dict[str, AttrSpec] | None = None, result: DType | None = None,
                   check: Callable[[dict], None] | None = None) -> None:
    """``fn(x, **attrs)``; ``result`` fixes the output dtype (bool for tests like is_nan)."""
    op = f"ew.{name}"

    @defop(op, inputs="x", attrs=attrs, doc=doc)
    class _Unary:
        def infer(ins, attrs):
            t = ins[0].type
            require(t.dtype, accepts, op)
            if check is not None:
                check(attrs)
            return [TensorType(result or t.dtype, t.shape)]

        def kernel(xs, attrs):
            x = xs[0]
            return apply(fn, [x], attrs, result.numpy if result else x.dtype)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(np.zeros((), x.dtype), x)


def hard_sigmoid(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.clip(alpha * x + beta, 0, 1)


def _is_inf(x: np.ndarray, detect_positive: bool, detect_negative: bool) -> np.ndarray:
    return np.isinf(x) & (((x > 0) & detect_positive) | ((x < 0) & detect_negative))


_MATH = {  # name: (fn, doc); float tensors only
    "reciprocal": (np.reciprocal, "1 / x"),
    "sqrt": (np.sqrt, "square root"),
    "exp": (np.exp, "e^x"),
    "log": (np.log, "natural logarithm"),
    "sin": (np.sin, "sine"), "cos": (np.cos, "cosine"), "tan": (np.tan, "tangent"),
    "asin": (np.arcsin, "arcsine"), "acos": (np.arccos, "arccosine"),
    "atan": (np.arctan, "arctangent"),
    "sinh": (np.sinh, "hyperbolic sine"), "cosh": (np.cosh, "hyperbolic cosine"),
    "tanh": (np.tanh, "hyperbolic tangent"),
    "asinh": (np.arcsinh, "inverse hyperbolic sine"),
    "acosh": (np.arccosh, "inverse hyperbolic cosine"),
    "atanh": (np.arctanh, "inverse hyperbolic tangent"),
    "erf": (lambda x: erf(x).astype(x.dtype), "Gauss error function"),
    "ceil": (np.ceil, "round toward +inf"),
    "floor": (np.floor, "round toward -inf"),
    "round": (np.rint, "round to nearest, halves to even"),
    "sigmoid": (sigmoid, "1 / (1 + e^-x)"),
    "softplus": (softplus, "log(1 + e^x)"),
    "mish": (lambda x: x * np.tanh(softplus(x)), "x * tanh(softplus(x))"),
    "hard_swish": (lambda x: x * hard_sigmoid(x, 1 / 6, 0.5), "x * max(0, min(1, x/6 + 1/2))"),
}

_NUMERIC = {  # name: (fn, doc); float and integer tensors (integers wrap)
    "neg": (np.negative, "-x"),
    "abs": (np.abs, "|x|"),
    "sign": (np.sign, "-1, 0 or 1 by the sign of x (0 for ±0, NaN for NaN)"),
    "relu": (lambda x: np.maximum(x, np.zeros((), x.dtype)), "max(x, 0)"),
}

for _name, (_fn, _doc) in _MATH.items():
    register_unary(_name, _fn, _doc)
for _name, (_fn, _doc) in _NUMERIC.items():
    register_unary(_name, _fn, _doc, accepts="numeric")

register_unary("not", np.logical_not, "logical not", accepts="bool")
register_unary("bitwise_not", np.invert, "bitwise complement", accepts="integer")
register_unary("is_nan", np.isnan, "x is NaN", result=dtypes.boolean)
register_unary("is_inf", _is_inf, "x is +inf (when detect_positive) or -inf (when detect_negative)",
               attrs={"detect_positive": attr("bool", True),
                      "detect_negative": attr("bool", True)}, result=dtypes.boolean)
