"""Binary ops with numpy broadcasting: arithmetic, comparisons, logic and bit operations,
modulo and power.  Each family is a table of ``name: (numpy function, doc)`` registered with
the operand types it accepts and the dtype of its result."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from leptonc.ir import dtypes
from leptonc.ir.dtypes import DType
from leptonc.ir.types import TensorType
from leptonc.ops.elementwise.common import apply, is_text, require, widen
from leptonc.ops.infer_utils import broadcast_shapes, check_same_dtype
from leptonc.ops.registry import AttrSpec, attr, defop


def register_binary(name: str, fn: Callable[..., np.ndarray], doc: str,
                    accepts: str = "numeric", result: DType | None = None,
                    attrs: dict[str, AttrSpec] | None = None) -> None:
    """``fn(a, b, **attrs)`` on operands of one dtype with numpy broadcasting."""
    op = f"ew.{name}"

    @defop(op, inputs="a, b", attrs=attrs, doc=doc)
    class _Binary:
        def infer(ins, attrs):
            a, b = ins[0].type, ins[1].type
            check_same_dtype(a, b)
            require(a.dtype, accepts, op)
            return [TensorType(result or a.dtype, broadcast_shapes(a.shape, b.shape))]

        def kernel(xs, attrs):
            return apply(fn, xs, attrs, result.numpy if result else xs[0].dtype)


def _register_family(table: dict[str, tuple[Callable[..., np.ndarray], str]], accepts: str,
                     result: DType | None = None) -> None:
    for name, (fn, doc) in table.items():
        register_binary(name, fn, doc, accepts=accepts, result=result)


# ----- arithmetic -----------------------------------------------------------------------------
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


_ARITHMETIC = {
    "add": (np.add, "a + b"),
    "sub": (np.subtract, "a - b"),
    "mul": (np.multiply, "a * b"),
    "div": (divide, "a / b (integers round toward zero)"),
    "max": (np.maximum, "elementwise maximum (NaN propagates)"),
    "min": (np.minimum, "elementwise minimum (NaN propagates)"),
}
_register_family(_ARITHMETIC, accepts="numeric")
register_binary("mod", modulo, "remainder of a / b; fmod: truncated (sign of a), else floored "
                "(sign of b)", attrs={"fmod": attr("bool", False)})


# ----- comparisons and logic ------------------------------------------------------------------
def equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if is_text(a) or is_text(b):  # object arrays of str have no comparison loop
        return np.equal(a.astype(str), b.astype(str))
    return np.equal(a, b)


_ORDER = {
    "less": (np.less, "a < b"),
    "less_equal": (np.less_equal, "a <= b"),
    "greater": (np.greater, "a > b"),
    "greater_equal": (np.greater_equal, "a >= b"),
}
_register_family(_ORDER, accepts="numeric", result=dtypes.boolean)
register_binary("equal", equal, "a == b (numbers, bools or strings)", accepts="any",
                result=dtypes.boolean)

_LOGIC = {
    "and": (np.logical_and, "logical and"),
    "or": (np.logical_or, "logical or"),
    "xor": (np.logical_xor, "logical exclusive or"),
}
_register_family(_LOGIC, accepts="bool")


# ----- bit operations -------------------------------------------------------------------------
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


_BITWISE = {
    "bitwise_and": (np.bitwise_and, "bitwise and"),
    "bitwise_or": (np.bitwise_or, "bitwise or"),
    "bitwise_xor": (np.bitwise_xor, "bitwise exclusive or"),
    "shift_left": (lambda a, b: _shift(a, b, left=True),
                   "a << b; shifts outside [0, bits) give 0"),
    "shift_right": (lambda a, b: _shift(a, b, left=False),
                    "a >> b, arithmetic for signed a; shifts outside [0, bits) give the sign fill"),
}
_register_family(_BITWISE, accepts="integer")


# ----- power: the exponent may have another type ----------------------------------------------
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
        return np.power(base.astype(np.float64), widen(exponent).astype(np.float64))
    return np.power(base, widen(exponent).astype(base.dtype))


@defop("ew.pow", inputs="base, exponent",
       doc="base ^ exponent, broadcast; the result has base's dtype, the exponent any numeric one")
class Pow:
    def infer(ins, attrs):
        base, exponent = ins[0].type, ins[1].type
        require(base.dtype, "numeric", "ew.pow")
        require(exponent.dtype, "numeric", "ew.pow")
        return [TensorType(base.dtype, broadcast_shapes(base.shape, exponent.shape))]

    def kernel(xs, attrs):
        return apply(power, xs, attrs, xs[0].dtype)
