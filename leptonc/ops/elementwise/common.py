"""What every elementwise op shares: the element-type checks done at inference and the
kernel wrapper that computes f16/bf16 in f32 and returns exactly the declared dtype."""

from __future__ import annotations

from collections.abc import Callable

import ml_dtypes
import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.dtypes import DType
from leptonc.ops.registry import AttrSpec, attr

_NARROW_FLOATS = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))

# Which element types an op takes; checked at inference so a bad graph fails at import.
_ACCEPTS: dict[str, Callable[[DType], bool]] = {
    "float": lambda t: t.is_float,
    "numeric": lambda t: t.is_float or t.is_integer,
    "integer": lambda t: t.is_integer,
    "bool": lambda t: t.kind == "bool",
    "any": lambda t: True,
}


def require(dtype: DType, accepts: str, op: str) -> None:
    """Raise ShapeError unless ``dtype`` is of the kind ``accepts`` names (a key of _ACCEPTS)."""
    if not _ACCEPTS[accepts](dtype):
        raise ShapeError(f"{op} takes {accepts} tensors, got {dtype}")


def is_text(a: np.ndarray) -> bool:
    return a.dtype.kind in "OUS"


def widen(x: np.ndarray) -> np.ndarray:
    """f16 and bf16 as f32; any other array unchanged."""
    return x.astype(np.float32) if x.dtype in _NARROW_FLOATS else x


def apply(fn: Callable[..., np.ndarray], xs: list[np.ndarray], attrs: dict,
          out_dtype: np.dtype) -> np.ndarray:
    """``fn(*xs, **attrs)`` computed in f32 for f16/bf16 inputs, cast to ``out_dtype``."""
    with np.errstate(all="ignore"):
        out = fn(*(widen(x) for x in xs), **attrs)
    return np.asarray(out).astype(out_dtype, copy=False)


def float_attrs(**defaults: float) -> dict[str, AttrSpec]:
    return {name: attr("float", value) for name, value in defaults.items()}
