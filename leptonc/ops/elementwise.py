"""Elementwise ops (``ew.*``): unary math and activations, binary arithmetic with numpy
broadcasting, comparisons, logic and bit operations, select, clamp and casts.

Most ops differ only in their numpy function, so they are declared from tables.  Kernels
return exactly the declared dtype: f16 and bf16 are computed in f32 (numpy lacks some
functions for bf16, and one rounding at the end is more accurate than many), integer
results wrap as in C, and float math runs with numpy's warnings off because inf and NaN
are legitimate results (log(0), 0/0).

Activations are whole ops (sigmoid, gelu, hard_swish, ...) so that fusion passes and
targets see them; their parameters (alpha, beta, gamma) are float attributes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import ml_dtypes
import numpy as np

from leptonc.errors import InputError, ShapeError
from leptonc.ir import dtypes
from leptonc.ir.dtypes import DType
from leptonc.ir.graph import Value
from leptonc.ir.types import TensorType
from leptonc.ops.infer_utils import broadcast_shapes
from leptonc.ops.registry import AttrSpec, attr, defop

_NARROW_FLOATS = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))

# Which element types an op takes; checked at inference so a bad graph fails at import.
_ACCEPTS: dict[str, Callable[[DType], bool]] = {
    "float": lambda t: t.is_float,
    "numeric": lambda t: t.is_float or t.is_integer,
    "integer": lambda t: t.is_integer,
    "bool": lambda t: t.kind == "bool",
    "any": lambda t: True,
}


def _require(dtype: DType, accepts: str, op: str) -> None:
    if not _ACCEPTS[accepts](dtype):
        raise ShapeError(f"{op} takes {accepts} tensors, got {dtype}")


def _is_text(a: np.ndarray) -> bool:
    return a.dtype.kind in "OUS"


def _widen(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) if x.dtype in _NARROW_FLOATS else x


def _apply(fn: Callable[..., np.ndarray], xs: list[np.ndarray], attrs: dict,
           out_dtype: np.dtype) -> np.ndarray:
    """``fn(*xs, **attrs)`` computed in f32 for f16/bf16 inputs, cast to ``out_dtype``."""
    with np.errstate(all="ignore"):
        out = fn(*(_widen(x) for x in xs), **attrs)
    return np.asarray(out).astype(out_dtype, copy=False)


def _float_attrs(**defaults: float) -> dict[str, AttrSpec]:
    return {name: attr("float", value) for name, value in defaults.items()}


# ----- special functions ----------------------------------------------------------------------
_ERF_SERIES_LIMIT = 2.5  # below: Taylor series; above: continued fraction for erfc
_ERF_SERIES_TERMS = 60
_ERFC_FRACTION_DEPTH = 60


def erf(x: np.ndarray) -> np.ndarray:
    """The error function in float64, accurate to ~1e-14 (numpy has no erf)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    small = np.abs(x) < _ERF_SERIES_LIMIT
    out[small] = _erf_series(x[small])
    large = ~small  # also NaN, which the fraction propagates
    out[large] = np.copysign(1.0 - _erfc_fraction(np.abs(x[large])), x[large])
    return out


def _erf_series(x: np.ndarray) -> np.ndarray:
    # erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)); terms shrink fast for |x| < 2.5
    minus_x2 = -x * x
    term, total = x.copy(), x.copy()
    for n in range(1, _ERF_SERIES_TERMS):
        term *= minus_x2 / n
        total += term / (2 * n + 1)
    return total * (2.0 / math.sqrt(math.pi))


def _erfc_fraction(x: np.ndarray) -> np.ndarray:
    # erfc(x) = exp(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))), x > 0
    denom = x.copy()
    for k in range(_ERFC_FRACTION_DEPTH, 0, -1):
        denom = x + (k / 2) / denom
    return np.exp(-x * x) / (math.sqrt(math.pi) * denom)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(np.zeros((), x.dtype), x)


def gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
        return 0.5 * x * (1 + np.tanh(inner))
    return (0.5 * x * (1 + erf(x / math.sqrt(2)))).astype(x.dtype, copy=False)


def _hard_sigmoid(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.clip(alpha * x + beta, 0, 1)


def _shrink(x: np.ndarray, bias: float, lambd: float) -> np.ndarray:
    if x.dtype.kind in "iu":  # integers compute in float64 and truncate back, like onnxruntime
        x = x.astype(np.float64)
    return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0))


def _is_inf(x: np.ndarray, detect_positive: bool, detect_negative: bool) -> np.ndarray:
    return np.isinf(x) & (((x > 0) & detect_positive) | ((x < 0) & detect_negative))


# ----- unary ops ------------------------------------------------------------------------------
def _register_unary(name: str, fn: Callable[..., np.ndarray], doc: str, accepts: str = "float",
                    attrs: dict[str, AttrSpec] | None = None, result: DType | None = None,
                    check: Callable[[dict], None] | None = None) -> None:
    """``fn(x, **attrs)``; ``result`` fixes the output dtype (bool for tests like is_nan)."""
    op = f"ew.{name}"

    @defop(op, inputs="x", attrs=attrs, doc=doc)
    class _Unary:
        def infer(ins, attrs):
            t = ins[0].type
            _require(t.dtype, accepts, op)
            if check is not None:
                check(attrs)
            return [TensorType(result or t.dtype, t.shape)]

        def kernel(xs, attrs):
            x = xs[0]
            return _apply(fn, [x], attrs, result.numpy if result else x.dtype)


def _check_gelu(attrs: dict) -> None:
    if attrs["approximate"] not in ("none", "tanh"):
        raise ShapeError(f"gelu approximate must be 'none' or 'tanh', got "
                         f"'{attrs['approximate']}'")


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
    "hard_swish": (lambda x: x * _hard_sigmoid(x, 1 / 6, 0.5), "x * max(0, min(1, x/6 + 1/2))"),
}

_NUMERIC = {  # name: (fn, doc); float and integer tensors (integers wrap)
    "neg": (np.negative, "-x"),
    "abs": (np.abs, "|x|"),
    "sign": (np.sign, "-1, 0 or 1 by the sign of x (0 for ±0, NaN for NaN)"),
    "relu": (lambda x: np.maximum(x, np.zeros((), x.dtype)), "max(x, 0)"),
}

_ACTIVATIONS = {  # name: (fn, float attrs with defaults, doc); float tensors only
    "leaky_relu": (lambda x, alpha: np.where(x < 0, alpha * x, x), _float_attrs(alpha=0.01),
                   "x < 0 ? alpha * x : x"),
    "elu": (lambda x, alpha: np.where(x < 0, alpha * np.expm1(x), x), _float_attrs(alpha=1.0),
            "x < 0 ? alpha * (e^x - 1) : x"),
    "selu": (lambda x, alpha, gamma: gamma * np.where(x <= 0, alpha * np.expm1(x), x),
             _float_attrs(alpha=1.67326319217681884765625, gamma=1.05070102214813232421875),
             "gamma * (x <= 0 ? alpha * (e^x - 1) : x)"),
    "celu": (lambda x, alpha: np.maximum(x, 0) + np.minimum(0, alpha * np.expm1(x / alpha)),
             _float_attrs(alpha=1.0), "max(0, x) + min(0, alpha * (e^(x/alpha) - 1))"),
    "thresholded_relu": (lambda x, alpha: np.where(x > alpha, x, 0), _float_attrs(alpha=1.0),
                         "x > alpha ? x : 0"),
    "hard_sigmoid": (_hard_sigmoid, _float_attrs(alpha=0.2, beta=0.5),
                     "max(0, min(1, alpha * x + beta))"),
    "swish": (lambda x, alpha: x * sigmoid(alpha * x), _float_attrs(alpha=1.0),
              "x * sigmoid(alpha * x) (SiLU when alpha = 1)"),
}

for _name, (_fn, _doc) in _MATH.items():
    _register_unary(_name, _fn, _doc)
for _name, (_fn, _doc) in _NUMERIC.items():
    _register_unary(_name, _fn, _doc, accepts="numeric")
for _name, (_fn, _attrs, _doc) in _ACTIVATIONS.items():
    _register_unary(_name, _fn, _doc, attrs=_attrs)

_register_unary("gelu", gelu, "0.5 x (1 + erf(x / sqrt 2)), or with approximate='tanh' "
                "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
                attrs={"approximate": attr("str", "none")}, check=_check_gelu)
_register_unary("shrink", _shrink, "x < -lambd ? x + bias : x > lambd ? x - bias : 0",
                accepts="numeric", attrs=_float_attrs(bias=0.0, lambd=0.5))
_register_unary("not", np.logical_not, "logical not", accepts="bool")
_register_unary("bitwise_not", np.invert, "bitwise complement", accepts="integer")
_register_unary("is_nan", np.isnan, "x is NaN", result=dtypes.boolean)
_register_unary("is_inf", _is_inf, "x is +inf (when detect_positive) or -inf (when detect_negative)",
                attrs={"detect_positive": attr("bool", True),
                       "detect_negative": attr("bool", True)}, result=dtypes.boolean)


# ----- binary ops -----------------------------------------------------------------------------
def _register_binary(name: str, fn: Callable[..., np.ndarray], doc: str,
                     accepts: str = "numeric", result: DType | None = None,
                     attrs: dict[str, AttrSpec] | None = None) -> None:
    """``fn(a, b, **attrs)`` on operands of one dtype with numpy broadcasting."""
    op = f"ew.{name}"

    @defop(op, inputs="a, b", attrs=attrs, doc=doc)
    class _Binary:
        def infer(ins, attrs):
            a, b = ins[0].type, ins[1].type
            if a.dtype != b.dtype:
                raise ShapeError(f"operand dtypes differ: {a.dtype} and {b.dtype}")
            _require(a.dtype, accepts, op)
            return [TensorType(result or a.dtype, broadcast_shapes(a.shape, b.shape))]

        def kernel(xs, attrs):
            return _apply(fn, xs, attrs, result.numpy if result else xs[0].dtype)


def divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b; integers round toward zero like C (ONNX Div), not toward -inf like numpy."""
    if a.dtype.kind not in "iu":
        return np.true_divide(a, b)
    quotient = np.floor_divide(a, b)
    inexact = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
    return np.where(inexact, quotient + 1, quotient)


def modulo(a: np.ndarray, b: np.ndarray, fmod: bool) -> np.ndarray:
    """fmod: sign of the dividend (C fmod); else sign of the divisor (Python %)."""
    return np.fmod(a, b) if fmod else np.mod(a, b)


def equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if _is_text(a) or _is_text(b):  # object arrays of str have no comparison loop
        return np.equal(a.astype(str), b.astype(str))
    return np.equal(a, b)


def _shift(x: np.ndarray, s: np.ndarray, left: bool) -> np.ndarray:
    # Shifts outside [0, bits) leave only the sign fill (ONNX BitShift): numpy leaves them
    # to the C compiler, which is undefined behaviour.
    amount = s.astype(np.int64)
    in_range = (amount >= 0) & (amount < x.dtype.itemsize * 8)
    safe = np.where(in_range, amount, 0).astype(x.dtype)
    if left:
        return np.where(in_range, np.left_shift(x, safe), 0)
    fill = np.where(x < 0, -1, 0) if x.dtype.kind == "i" else 0
    return np.where(in_range, np.right_shift(x, safe), fill)


_ARITHMETIC = {
    "add": (np.add, "a + b"),
    "sub": (np.subtract, "a - b"),
    "mul": (np.multiply, "a * b"),
    "div": (divide, "a / b (integers round toward zero)"),
    "max": (np.maximum, "elementwise maximum (NaN propagates)"),
    "min": (np.minimum, "elementwise minimum (NaN propagates)"),
}

_ORDER = {
    "less": (np.less, "a < b"),
    "less_equal": (np.less_equal, "a <= b"),
    "greater": (np.greater, "a > b"),
    "greater_equal": (np.greater_equal, "a >= b"),
}

_LOGIC = {
    "and": (np.logical_and, "logical and"),
    "or": (np.logical_or, "logical or"),
    "xor": (np.logical_xor, "logical exclusive or"),
}

_BITWISE = {
    "bitwise_and": (np.bitwise_and, "bitwise and"),
    "bitwise_or": (np.bitwise_or, "bitwise or"),
    "bitwise_xor": (np.bitwise_xor, "bitwise exclusive or"),
    "shift_left": (lambda a, b: _shift(a, b, left=True),
                   "a << b; shifts outside [0, bits) give 0"),
    "shift_right": (lambda a, b: _shift(a, b, left=False),
                    "a >> b, arithmetic for signed a; shifts outside [0, bits) give the sign fill"),
}

for _name, (_fn, _doc) in _ARITHMETIC.items():
    _register_binary(_name, _fn, _doc)
for _name, (_fn, _doc) in _ORDER.items():
    _register_binary(_name, _fn, _doc, result=dtypes.boolean)
for _name, (_fn, _doc) in _LOGIC.items():
    _register_binary(_name, _fn, _doc, accepts="bool")
for _name, (_fn, _doc) in _BITWISE.items():
    _register_binary(_name, _fn, _doc, accepts="integer")
_register_binary("equal", equal, "a == b (numbers, bools or strings)", accepts="any",
                 result=dtypes.boolean)
_register_binary("mod", modulo, "remainder of a / b; fmod: truncated (sign of a), else floored "
                 "(sign of b)", attrs={"fmod": attr("bool", False)})


def _int_power(base: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    # numpy refuses negative integer exponents; x^-n truncates to 0 unless |x| == 1
    exponent = exponent.astype(np.int64)
    out = np.power(base, np.maximum(exponent, 0).astype(base.dtype))
    negative = exponent < 0
    if not negative.any():
        return out
    odd = (exponent % 2) == 1
    unit = np.where(base == 1, 1, np.where(base == -1, np.where(odd, -1, 1), 0))
    return np.where(negative, unit, out)


def power(base: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """base ^ exponent in base's type; the exponent may be of any numeric type."""
    if base.dtype.kind in "iu" and exponent.dtype.kind in "iu":
        return _int_power(base, exponent)
    if base.dtype.kind in "iu":
        return np.power(base.astype(np.float64), _widen(exponent).astype(np.float64))
    return np.power(base, _widen(exponent).astype(base.dtype))


@defop("ew.pow", inputs="base, exponent",
       doc="base ^ exponent, broadcast; the result has base's dtype, the exponent any numeric one")
class Pow:
    def infer(ins, attrs):
        base, exponent = ins[0].type, ins[1].type
        _require(base.dtype, "numeric", "ew.pow")
        _require(exponent.dtype, "numeric", "ew.pow")
        return [TensorType(base.dtype, broadcast_shapes(base.shape, exponent.shape))]

    def kernel(xs, attrs):
        return _apply(power, xs, attrs, xs[0].dtype)


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
        if x.dtype != slope.dtype:
            raise ShapeError(f"input and slope dtypes differ: {x.dtype} and {slope.dtype}")
        _require(x.dtype, "numeric", "ew.prelu")
        _slope_fits(x, slope)
        return [TensorType(x.dtype, x.shape)]

    def kernel(xs, attrs):
        x, slope = xs
        out = _apply(lambda v, s: np.where(v < 0, v * s, v), xs, {}, x.dtype)
        if out.shape != x.shape:
            raise ShapeError(f"slope {list(slope.shape)} does not broadcast to input "
                             f"{list(x.shape)}")
        return out


# ----- select and clamp -----------------------------------------------------------------------
@defop("ew.where", inputs="cond, a, b", doc="cond ? a : b, broadcast")
class Where:
    def infer(ins, attrs):
        c, a, b = (v.type for v in ins)
        if c.dtype != dtypes.boolean:
            raise ShapeError(f"condition must be bool, got {c.dtype}")
        if a.dtype != b.dtype:
            raise ShapeError(f"branch dtypes differ: {a.dtype} and {b.dtype}")
        return [TensorType(a.dtype, broadcast_shapes(c.shape, a.shape, b.shape))]

    def kernel(xs, attrs):
        return np.where(xs[0], xs[1], xs[2]).astype(xs[1].dtype, copy=False)


def _scalar_bound(bound: Value | None, x: TensorType, which: str) -> None:
    if bound is None:
        return
    if bound.type.dtype != x.dtype:
        raise ShapeError(f"clip {which} has dtype {bound.type.dtype}, input {x.dtype}")
    if bound.type.num_elements not in (None, 1):
        raise ShapeError(f"clip {which} must hold one value, got shape {bound.type.shape}")


def _bound(x: np.ndarray, runtime: np.ndarray | None, constant: float) -> np.ndarray | None:
    """The bound as a 0-d array of x's dtype, or None when it does not restrict x."""
    if runtime is not None:
        return runtime.reshape(())
    if math.isinf(constant) and x.dtype.kind in "iu":
        return None
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        constant = min(max(constant, info.min), info.max)
    return np.asarray(constant).astype(x.dtype)


@defop("ew.clip", inputs="x, lo?, hi?",
       attrs={"min": attr("float", -math.inf), "max": attr("float", math.inf)},
       doc="min(max(x, lo), hi); bounds are the lo/hi inputs when given (run time), else the "
           "min/max attributes; lo > hi gives hi")
class Clip:
    def infer(ins, attrs):
        x = ins[0].type
        _require(x.dtype, "numeric", "ew.clip")
        for i, which in ((1, "lo"), (2, "hi")):
            _scalar_bound(ins[i] if len(ins) > i else None, x, which)
        return [TensorType(x.dtype, x.shape)]

    def kernel(xs, attrs):
        x = xs[0]
        lo = _bound(x, xs[1] if len(xs) > 1 else None, attrs["min"])
        hi = _bound(x, xs[2] if len(xs) > 2 else None, attrs["max"])
        out = x if lo is None else np.maximum(x, lo)
        out = out if hi is None else np.minimum(out, hi)
        return np.asarray(out).astype(x.dtype, copy=False)


# ----- casts ----------------------------------------------------------------------------------
def _wrap_to_width(values: np.ndarray, to: DType) -> np.ndarray:
    """Keep the low ``to.bits`` bits (two's complement), for iN/uN narrower than a byte."""
    low = values.astype(np.int64) & ((1 << to.bits) - 1)
    if to.is_signed:
        low = np.where(low > to.max, low - (1 << to.bits), low)
    return low.astype(to.numpy)


def _format_numbers(x: np.ndarray) -> np.ndarray:
    """Numbers as ONNX's strings: shortest round-trip digits, '1' not '1.0', NaN, INF, -INF."""
    if x.dtype == np.bool_:
        x = x.astype(np.uint8)
    text = _widen(x).astype(str)
    if x.dtype.kind in "iu":
        return text.astype(object)
    whole = np.char.endswith(text, ".0")
    text = np.where(whole, np.char.rpartition(text, ".")[..., 0], text)
    for spelled, onnx_spelling in (("nan", "NaN"), ("inf", "INF"), ("-inf", "-INF")):
        text = np.where(text == spelled, onnx_spelling, text)
    return text.astype(object)


def _parse_numbers(x: np.ndarray, to: DType) -> np.ndarray:
    """Strings to int64/uint64 (for integer targets, exact) or float64; 'INF', 'NaN' allowed."""
    text = np.char.strip(x.astype(str))
    try:
        if to.is_integer:
            try:
                return text.astype(np.uint64 if to == dtypes.u64 else np.int64)
            except ValueError:
                pass  # "2.5" or "1e3": ONNX leaves it undefined; go through float
        return text.astype(np.float64)
    except ValueError as e:
        raise InputError(f"cannot cast string to {to}: {e}") from None


def cast(x: np.ndarray, to: DType) -> np.ndarray:
    """ONNX Cast: floats truncate toward zero into integers, integers wrap, nonzero is True."""
    if to.kind == "string":
        return x.astype(object) if _is_text(x) else _format_numbers(x)
    if _is_text(x):
        x = _parse_numbers(x, to)
    if to.kind == "bool":
        return x != 0
    x = _widen(x)
    with np.errstate(invalid="ignore", over="ignore"):
        if to.is_integer and to.bits not in (8, 16, 32, 64):
            return _wrap_to_width(x if x.dtype.kind in "iub" else np.trunc(x), to)
        return x.astype(to.numpy)


@defop("ew.cast", inputs="x", attrs={"to": attr("dtype")},
       doc="convert to dtype `to` (float->int truncates toward zero, int->int wraps, "
           "numbers<->strings as ONNX Cast)")
class Cast:
    def infer(ins, attrs):
        return [TensorType(attrs["to"], ins[0].type.shape)]

    def kernel(xs, attrs):
        return cast(xs[0], attrs["to"])


@defop("ew.bitcast", inputs="x", attrs={"to": attr("dtype")},
       doc="reinterpret the bits (little endian) as dtype `to` of the same width")
class BitCast:
    def infer(ins, attrs):
        src, to = ins[0].type.dtype, attrs["to"]
        for t in (src, to):
            if t.kind == "string" or t.bits not in (8, 16, 32, 64):
                raise ShapeError(f"bitcast needs byte-sized element types, got {t}")
        if src.bits != to.bits:
            raise ShapeError(f"bitcast from {src} to {to} changes the element width")
        return [TensorType(to, ins[0].type.shape)]

    def kernel(xs, attrs):
        x = xs[0] if xs[0].flags.c_contiguous else xs[0].copy()
        raw = x.view(np.dtype(f"u{x.dtype.itemsize}"))
        to = attrs["to"]
        return raw != 0 if to.kind == "bool" else raw.view(to.numpy)
