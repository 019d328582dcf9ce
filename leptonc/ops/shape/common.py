"""Helpers the shape ops share: int-list parameters given as an attribute or as a run-time
tensor input, axes, dims and index checks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from leptonc.errors import ShapeError
from leptonc.ir.graph import Value
from leptonc.ir.types import Dim, TensorType
from leptonc.ops.infer_utils import const_ints, input_at, normalize_axis, unknown_shape


# ----- parameters given as attribute or as run-time tensor ----------------------------------------
def known_param(ins: Sequence[Value | None], index: int, attrs: dict, key: str
                ) -> tuple[int, ...] | None:
    """An int-list parameter at compile time: tensor input ``index`` when given (None while it is
    computed at run time), else attribute ``key``."""
    v = input_at(ins, index)
    if v is None:
        return None if attrs[key] is None else tuple(attrs[key])
    ints = const_ints(v)
    return None if ints is None else tuple(ints)


def param_length(ins: Sequence[Value | None], index: int, attrs: dict, key: str) -> int | None:
    """How many entries the parameter has; a run-time tensor's static length counts."""
    v = input_at(ins, index)
    if v is None:
        return None if attrs[key] is None else len(attrs[key])
    shape = v.type.shape
    if shape == ():
        return 1
    if shape is not None and len(shape) == 1 and isinstance(shape[0], int):
        return shape[0]
    return None


def runtime_param(xs: Sequence[np.ndarray | None], index: int, attrs: dict, key: str
                  ) -> tuple[int, ...] | None:
    """The parameter's value while running: the tensor input when given, else the attribute."""
    x = input_at(xs, index)
    if x is None:
        return None if attrs[key] is None else tuple(attrs[key])
    return tuple(int(v) for v in np.asarray(x).reshape(-1))


def known_scalar(ins: Sequence[Value | None], index: int, attrs: dict, key: str) -> int | None:
    """A one-int parameter at compile time (see ``known_param``)."""
    v = input_at(ins, index)
    if v is None:
        return attrs[key]
    ints = const_ints(v)
    if ints is not None and len(ints) != 1:
        raise ShapeError(f"'{key}' must hold one value, got {ints}")
    return None if ints is None else ints[0]


def runtime_scalar(xs: Sequence[np.ndarray | None], index: int, attrs: dict, key: str) -> int:
    """A one-int parameter while running (see ``runtime_param``)."""
    x = input_at(xs, index)
    if x is not None:
        return int(np.asarray(x).reshape(-1)[0])
    if attrs[key] is None:
        raise ShapeError(f"'{key}' is neither an attribute nor an input")
    return int(attrs[key])


# ----- axes and dims ------------------------------------------------------------------------------
def normalize_axes(axes: Sequence[int], rank: int, what: str = "axes") -> tuple[int, ...]:
    out = tuple(normalize_axis(a, rank, what) for a in axes)
    if len(set(out)) != len(out):
        raise ShapeError(f"{what} {list(axes)} repeat an axis")
    return out


def axes_or_all(axes: Sequence[int], rank: int) -> tuple[int, ...]:
    """``axes`` normalised, or every axis when it is empty."""
    return normalize_axes(axes, rank) if axes else tuple(range(rank))


def merge_dims(dims: Sequence[Dim], what: str) -> Dim:
    """The one dim several inputs must share: a static one wins, then a common symbol."""
    static = {d for d in dims if isinstance(d, int)}
    if len(static) > 1:
        raise ShapeError(f"{what}: dims {sorted(static)} differ")
    if static:
        return static.pop()
    symbols = {d for d in dims if isinstance(d, str)}
    return symbols.pop() if len(symbols) == 1 else None


_SAME_RANK = -1


def unknown_like(t: TensorType, rank: int | None = _SAME_RANK) -> TensorType:
    """``t``'s dtype with unknown dims: of ``rank`` (default: t's own rank; None: unknown)."""
    return unknown_shape(t.dtype, t.rank if rank == _SAME_RANK else rank)


# ----- indices ------------------------------------------------------------------------------------
def check_indices(t: TensorType, what: str = "indices") -> None:
    if not t.dtype.is_integer:
        raise ShapeError(f"{what} must be integers, got {t.dtype}")


def indexed_types(ins: Sequence[Value]) -> list[TensorType]:
    """The input types of an op whose input 1 holds indices, once those are checked."""
    types = [v.type for v in ins]
    check_indices(types[1])
    return types


def wrap_negative(indices: np.ndarray, dim: int | np.ndarray) -> np.ndarray:
    """ONNX indices may count from the end; out-of-range ones still fail when used."""
    indices = indices.astype(np.int64, copy=False)
    return np.where(indices < 0, indices + dim, indices)
