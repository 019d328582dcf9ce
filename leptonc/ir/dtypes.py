"""Element types of the IR.

Standard types map one-to-one to numpy dtypes.  Arbitrary-width integers ``iN``/``uN``
(2 <= N <= 32) are stored in the smallest numpy integer container that holds them; their
range is what distinguishes them (a fixed-point number is such an integer plus a
power-of-two scale in its quantization parameters).  bf16 uses ml_dtypes' numpy type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import ml_dtypes
import numpy as np

from leptonc.errors import ParseError


@dataclass(frozen=True, slots=True)
class DType:
    name: str
    bits: int
    kind: str  # "float", "signed", "unsigned", "bool", "string"

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def is_integer(self) -> bool:
        return self.kind in ("signed", "unsigned")

    @property
    def is_signed(self) -> bool:
        return self.kind == "signed"

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype that stores values of this type."""
        return _numpy_storage(self)

    @property
    def min(self) -> int:
        if not self.is_integer:
            raise TypeError(f"{self.name} has no integer range")
        return -(1 << (self.bits - 1)) if self.is_signed else 0

    @property
    def max(self) -> int:
        if not self.is_integer:
            raise TypeError(f"{self.name} has no integer range")
        return (1 << (self.bits - 1)) - 1 if self.is_signed else (1 << self.bits) - 1

    @property
    def itemsize_bits(self) -> int:
        """Bits a packed element occupies (used for memory and weight-size accounting)."""
        return self.bits

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"dtypes.{self.name}"


f64 = DType("f64", 64, "float")
f32 = DType("f32", 32, "float")
f16 = DType("f16", 16, "float")
bf16 = DType("bf16", 16, "float")
i64 = DType("i64", 64, "signed")
i32 = DType("i32", 32, "signed")
i16 = DType("i16", 16, "signed")
i8 = DType("i8", 8, "signed")
u64 = DType("u64", 64, "unsigned")
u32 = DType("u32", 32, "unsigned")
u16 = DType("u16", 16, "unsigned")
u8 = DType("u8", 8, "unsigned")
boolean = DType("bool", 8, "bool")
string = DType("str", 0, "string")

_NAMED = {t.name: t for t in (f64, f32, f16, bf16, i64, i32, i16, i8, u64, u32, u16, u8, boolean,
                              string)}
_ARBITRARY = re.compile(r"([iu])(\d+)$")

_NUMPY_OF_NAMED = {
    "f64": np.dtype(np.float64), "f32": np.dtype(np.float32), "f16": np.dtype(np.float16),
    "bf16": np.dtype(ml_dtypes.bfloat16), "i64": np.dtype(np.int64), "u64": np.dtype(np.uint64),
    "bool": np.dtype(np.bool_), "str": np.dtype(object),
}


def _container(bits: int, signed: bool) -> np.dtype:
    for width, (s, u) in ((8, (np.int8, np.uint8)), (16, (np.int16, np.uint16)),
                          (32, (np.int32, np.uint32)), (64, (np.int64, np.uint64))):
        if bits <= width:
            return np.dtype(s if signed else u)
    raise ValueError(f"no container for {bits} bits")


@cache
def _numpy_storage(t: DType) -> np.dtype:
    if t.name in _NUMPY_OF_NAMED:
        return _NUMPY_OF_NAMED[t.name]
    return _container(t.bits, t.is_signed)


@cache
def parse_dtype(name: str) -> DType:
    """``"f32"`` -> f32, ``"i4"`` -> a 4-bit signed integer; raises ParseError otherwise."""
    if name in _NAMED:
        return _NAMED[name]
    m = _ARBITRARY.match(name)
    if m and 2 <= int(m.group(2)) <= 32:
        return DType(name, int(m.group(2)), "signed" if m.group(1) == "i" else "unsigned")
    raise ParseError(f"unknown dtype '{name}' (expected f64/f32/f16/bf16, iN/uN with 2<=N<=32, "
                     "i64/u64, bool or str)")


_FROM_NUMPY = {
    np.dtype(np.float64): f64, np.dtype(np.float32): f32, np.dtype(np.float16): f16,
    np.dtype(ml_dtypes.bfloat16): bf16, np.dtype(np.int64): i64, np.dtype(np.int32): i32,
    np.dtype(np.int16): i16, np.dtype(np.int8): i8, np.dtype(np.uint64): u64,
    np.dtype(np.uint32): u32, np.dtype(np.uint16): u16, np.dtype(np.uint8): u8,
    np.dtype(np.bool_): boolean, np.dtype(object): string,
}


def from_numpy(dtype: np.dtype | type) -> DType:
    dtype = np.dtype(dtype)
    if dtype.kind in ("U", "S"):
        return string
    try:
        return _FROM_NUMPY[dtype]
    except KeyError:
        raise TypeError(f"numpy dtype {dtype} has no leptonc equivalent") from None


def is_storage_of(array: np.ndarray, dtype: DType) -> bool:
    """True when ``array`` is a valid runtime value of ``dtype`` (container and range)."""
    if dtype.kind == "string":
        return array.dtype.kind in ("O", "U", "S")
    if array.dtype != dtype.numpy:
        return False
    if dtype.is_integer and dtype.bits not in (8, 16, 32, 64) and array.size:
        return bool(array.min() >= dtype.min and array.max() <= dtype.max)
    return True
