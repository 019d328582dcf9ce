"""Tensor types: shape (static, symbolic or unknown dims), element type, quantization, encoding.

A dim is an ``int`` (static), a ``str`` naming a symbolic dim (``"N"``, equal wherever the
same name appears), or ``None`` (unknown, printed ``?``).  ``shape is None`` means the rank
itself is unknown (printed ``[*]``); only data-dependent ops produce that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from leptonc.ir.dtypes import DType

Dim = int | str | None
Shape = tuple[Dim, ...]


@dataclass(frozen=True, slots=True)
class QuantParams:
    """Affine quantization: ``real = scale * (q - zero_point)``.

    ``axis is None`` means per-tensor (one scale, one zero point); otherwise one entry per
    index of ``axis``.  ``storage`` is the integer type of ``q`` (e.g. i8, u8, i4).
    """

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    storage: DType
    axis: int | None = None

    def __post_init__(self) -> None:
        if len(self.scale) != len(self.zero_point) or not self.scale:
            raise ValueError("quantization needs as many zero points as scales (at least one)")
        if self.axis is None and len(self.scale) != 1:
            raise ValueError("per-tensor quantization has exactly one scale")

    @property
    def per_channel(self) -> bool:
        return self.axis is not None


@dataclass(frozen=True, slots=True)
class SparseEncoding:
    """How zeros in a (weight) tensor are structured, so targets can skip them.

    kind: ``"unstructured"`` (any zeros), ``"nm"`` (at most ``n`` non-zeros in every group
    of ``m`` consecutive elements along ``axis``), ``"block"`` (``block`` tiles over the last
    two dims are all-zero or kept).  ``density`` is the fraction of non-zeros.
    """

    kind: str
    density: float
    n: int = 0
    m: int = 0
    axis: int = -1
    block: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("unstructured", "nm", "block"):
            raise ValueError(f"unknown sparse encoding kind '{self.kind}'")
        if self.kind == "nm" and not 0 < self.n <= self.m:
            raise ValueError(f"N:M sparsity needs 0 < N <= M, got {self.n}:{self.m}")
        if self.kind == "block" and not self.block:
            raise ValueError("block sparsity needs a block shape")


@dataclass(frozen=True, slots=True)
class TensorType:
    dtype: DType
    shape: Shape | None
    quant: QuantParams | None = None
    encoding: SparseEncoding | None = None

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def is_static(self) -> bool:
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)

    @property
    def num_elements(self) -> int | None:
        """Element count when the shape is static, else None."""
        return math.prod(self.shape) if self.is_static else None

    @property
    def nbytes(self) -> int | None:
        n = self.num_elements
        return None if n is None else (n * self.dtype.bits + 7) // 8

    def with_shape(self, shape: Shape | None) -> TensorType:
        return TensorType(self.dtype, shape, self.quant, self.encoding)

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(dtype, self.shape, self.quant, self.encoding)

    def __str__(self) -> str:
        from leptonc.ir.printer import format_type

        return format_type(self)


def dims_compatible(a: Dim, b: Dim) -> bool:
    """Could two dims be equal at run time?"""
    return a is None or b is None or isinstance(a, str) or isinstance(b, str) or a == b


def shape_matches(actual: tuple[int, ...], declared: Shape | None) -> bool:
    """Does a concrete shape fit a declared one (symbolic and unknown dims match anything)?"""
    if declared is None:
        return True
    if len(actual) != len(declared):
        return False
    return all(not isinstance(d, int) or d == a for a, d in zip(actual, declared, strict=True))
