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


def same_as_input(ins: Sequence[Value | None], attrs: dict, index: int = 0) -> list[TensorType]:
    t = ins[index].type
    return [TensorType(t.dtype, t.shape)]


def unknown_shape(dtype, rank: int | None) -> TensorType:
    return TensorType(dtype, None if rank is None else (None,) * rank)


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
