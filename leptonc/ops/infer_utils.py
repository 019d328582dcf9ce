"""Helpers shared by the ops' type-inference functions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.graph import Value
from leptonc.ir.types import Dim, Shape, TensorType


def broadcast_dim(a: Dim, b: Dim) -> Dim:
    if a == 1:
        return b
    if b == 1 or a == b:
        return a
    if isinstance(a, int) and isinstance(b, int):
        raise ShapeError(f"dims {a} and {b} do not broadcast")
    # a symbolic dim against a static one >1 must equal it at run time
    if isinstance(a, int):
        return a
    if isinstance(b, int):
        return b
    return None


def broadcast_shapes(*shapes: Shape | None) -> Shape | None:
    """Numpy broadcasting over static, symbolic and unknown dims."""
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = [1] * rank
    for s in shapes:
        padded = (1,) * (rank - len(s)) + tuple(s)
        for i, d in enumerate(padded):
            try:
                out[i] = broadcast_dim(out[i], d)
            except ShapeError:
                raise ShapeError(f"shapes {_fmt_shapes(shapes)} do not broadcast") from None
    return tuple(out)


def _fmt_shapes(shapes: Sequence[Shape | None]) -> str:
    return ", ".join("[" + ",".join("?" if d is None else str(d) for d in s) + "]"
                     if s is not None else "[*]" for s in shapes)


def check_same_dtype(a: TensorType, b: TensorType, what: str = "operand") -> None:
    """Raise "<what> dtypes differ: ..." unless ``a`` and ``b`` have one element type."""
    if a.dtype != b.dtype:
        raise ShapeError(f"{what} dtypes differ: {a.dtype} and {b.dtype}")


def const_value(v: Value | None) -> np.ndarray | None:
    """The value's data when it is a compile-time constant, else None."""
    return None if v is None else v.data


def const_ints(v: Value | None) -> list[int] | None:
    data = const_value(v)
    return None if data is None else [int(x) for x in np.asarray(data).reshape(-1)]


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{what} {axis} out of range for rank {rank}")
    return axis % rank if rank else 0


def check_choice(value: str, choices: Sequence[str], what: str) -> None:
    """Raise ``unknown <what> '<value>'`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ShapeError(f"unknown {what} '{value}'")


def same_as_input(ins: Sequence[Value | None], attrs: dict, index: int = 0) -> list[TensorType]:
    t = ins[index].type
    return [TensorType(t.dtype, t.shape)]


def unknown_shape(dtype, rank: int | None) -> TensorType:
    return TensorType(dtype, None if rank is None else (None,) * rank)


def input_at(items: Sequence, index: int):
    """Optional input ``index`` (None when omitted or past the end of the list)."""
    return items[index] if index < len(items) else None


def padded(items: Sequence, n: int) -> list:
    """The first ``n`` inputs, None for trailing optional inputs the node omits."""
    return list(items[:n]) + [None] * (n - len(items))


def add_dims(*dims: Dim) -> Dim:
    """The sum of static dims; None when any is symbolic or unknown."""
    return sum(dims) if all(isinstance(d, int) for d in dims) else None


def scale_dim(d: Dim, factor: int) -> Dim:
    """``d * factor``; a symbolic dim survives only a factor of 1."""
    if isinstance(d, int):
        return d * factor
    return d if factor == 1 else None


def divide_dim(d: Dim, divisor: int, error: str) -> Dim:
    """``d / divisor`` for a static dim, None for a symbolic or unknown one.  A static dim that
    ``divisor`` does not divide raises ShapeError(``error``), formatted with ``d`` and ``divisor``."""
    if not isinstance(d, int):
        return None
    if d % divisor:
        raise ShapeError(error.format(d=d, divisor=divisor))
    return d // divisor


def conv_out_dim(size: Dim, kernel: int, stride: int, pad_total: int, dilation: int,
                 ceil_mode: bool = False) -> Dim:
    if not isinstance(size, int):
        return None
    eff = dilation * (kernel - 1) + 1
    span = size + pad_total - eff
    if span < 0:
        raise ShapeError(f"window {eff} larger than padded input {size + pad_total}")
    out = -(-span // stride) + 1 if ceil_mode else span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad_total // 2:
        out -= 1  # the last window must start inside the input or left padding
    return out
