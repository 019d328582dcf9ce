"""Activations with parameters: the float-attribute family (leaky_relu, elu, selu, ...),
gelu with its approximation, shrink, and prelu whose slope is an input.  Their parameters
(alpha, beta, gamma, ...) are float attributes whose defaults are ONNX's."""

from __future__ import annotations

import math

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.types import TensorType
from leptonc.ops.elementwise.common import apply, float_attrs, require
from leptonc.ops.elementwise.erf import erf
from leptonc.ops.elementwise.unary import hard_sigmoid, register_unary, sigmoid
from leptonc.ops.infer_utils import check_same_dtype
from leptonc.ops.registry import attr, defop


def gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
        return 0.5 * x * (1 + np.tanh(inner))
    return (0.5 * x * (1 + erf(x / math.sqrt(2)))).astype(x.dtype, copy=False)


def _check_gelu(attrs: dict) -> None:
    if attrs["approximate"] not in ("none", "tanh"):
        raise ShapeError(f"gelu approximate must be 'none' or 'tanh', got "
                         f"'{attrs['approximate']}'")


def _shrink(x: np.ndarray, bias: float, lambd: float) -> np.ndarray:
    if x.dtype.kind in "iu":  # integers compute in float64 and truncate back, like onnxruntime
        x = x.astype(np.float64)
    return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0))


_ACTIVATIONS = {  # name: (fn, float attrs with defaults, doc); float tensors only
    "leaky_relu": (lambda x, alpha: np.where(x < 0, alpha * x, x), float_attrs(alpha=0.01),
                   "x < 0 ? alpha * x : x"),
    "elu": (lambda x, alpha: np.where(x < 0, alpha * np.expm1(x), x), float_attrs(alpha=1.0),
            "x < 0 ? alpha * (e^x - 1) : x"),
    "selu": (lambda x, alpha, gamma: gamma * np.where(x <= 0, alpha * np.expm1(x), x),
             float_attrs(alpha=1.67326319217681884765625, gamma=1.05070102214813232421875),
             "gamma * (x <= 0 ? alpha * (e^x - 1) : x)"),
    "celu": (lambda x, alpha: np.maximum(x, 0) + np.minimum(0, alpha * np.expm1(x / alpha)),
             float_attrs(alpha=1.0), "max(0, x) + min(0, alpha * (e^(x/alpha) - 1))"),
    "thresholded_relu": (lambda x, alpha: np.where(x > alpha, x, 0), float_attrs(alpha=1.0),
                         "x > alpha ? x : 0"),
    "hard_sigmoid": (hard_sigmoid, float_attrs(alpha=0.2, beta=0.5),
                     "max(0, min(1, alpha * x + beta))"),
    "swish": (lambda x, alpha: x * sigmoid(alpha * x), float_attrs(alpha=1.0),
              "x * sigmoid(alpha * x) (SiLU when alpha = 1)"),
}

for _name, (_fn, _attrs, _doc) in _ACTIVATIONS.items():
    register_unary(_name, _fn, _doc, attrs=_attrs)

register_unary("gelu", gelu, "0.5 x (1 + erf(x / sqrt 2)), or with approximate='tanh' "
               "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
               attrs={"approximate": attr("str", "none")}, check=_check_gelu)
register_unary("shrink", _shrink, "x < -lambd ? x + bias : x > lambd ? x - bias : 0",
               accepts="numeric", attrs=float_attrs(bias=0.0, lambd=0.5))


# ----- prelu: the slope is an input -----------------------------------------------------------
def _slope_fits(x: TensorType, slope: TensorType) -> None:
    """PRelu's slope broadcasts to x one way: it may not enlarge x."""
    if x.shape is None or slope.shape is None:
        return
    if len(slope.shape) > len(x.shape):
        raise ShapeError(f"slope of rank {len(slope.shape)} does not broadcast to input rank "
                         f"{len(x.shape)}")
    for xd, sd in zip(reversed(x.shape), reversed(slope.shape), strict=False):
        if isinstance(sd, int) and sd != 1 and isinstance(xd, int) and xd != sd:
            raise ShapeError(f"slope {slope.shape} does not broadcast to input {x.shape}")


@defop("ew.prelu", inputs="x, slope",
       doc="x < 0 ? slope * x : x; slope broadcasts to x (numpy rules, one direction)")
class PRelu:
    def infer(ins, attrs):
        x, slope = ins[0].type, ins[1].type
        check_same_dtype(x, slope, "input and slope")
        require(x.dtype, "numeric", "ew.prelu")
        _slope_fits(x, slope)
        return [TensorType(x.dtype, x.shape)]

    def kernel(xs, attrs):
        x, slope = xs
        out = apply(lambda v, s: np.where(v < 0, v * s, v), xs, {}, x.dtype)
        if out.shape != x.shape:
            raise ShapeError(f"slope {list(slope.shape)} does not broadcast to input "
                             f"{list(x.shape)}")
        return out
